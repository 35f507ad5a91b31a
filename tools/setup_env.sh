#!/usr/bin/env bash
# Bring this machine to a working state for MoSAiC for QGIS; idempotent and fast when nothing changed.
#   1. Debian packages (QGIS 3.22 with its Python bindings, xvfb, GDAL tools), only those missing;
#   2. a virtual environment made by Debian's Python with --system-site-packages (so `import qgis` works),
#      cached per constraints file under ${MOSAIC_CACHE:-~/.cache/mosaic-qgis} and linked as .venv;
#   3. the pinned Python dependencies (requirements/constraints.txt, plus requirements/numpy1.txt or numpy2.txt to
#      match the system numpy's major version) and this checkout, editable, which provides `mosaic` in .venv/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)

apt_packages=(python3-qgis qgis qgis-providers xvfb python3-venv gdal-bin)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

constraints=requirements/constraints.txt
# numpy follows the system's: the venv sees Debian's GDAL and QGIS (--system-site-packages), which are built against
# the system numpy's major version (Debian 12: 1.x; Debian 13 and later: 2.x).
numpy_major=$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__.split(".")[0])' 2>/dev/null || echo 2)
numpy_pins=requirements/numpy$([ "$numpy_major" = 1 ] && echo 1 || echo 2).txt
# The venv is keyed by the heavy pins (torch and its CUDA wheels), the numpy major and the Python version only:
# other pin changes are applied in place by the editable re-install below, in seconds.
key=$( (grep -E '^(torch|torchvision|triton|nvidia-|cuda-)' "$constraints"; /usr/bin/python3 --version
        [ "$numpy_major" = 1 ] || echo "numpy $numpy_major") | sha256sum | cut -c1-12)
cache=${MOSAIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosaic-qgis}
venv="$cache/venv-$key"
if [ ! -f "$venv/.complete" ]; then
    echo "setup: creating the virtual environment $venv (first run: several minutes, torch is ~5 GB)"
    rm -rf "$venv"
    mkdir -p "$cache"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install -q --upgrade "pip>=24" -c "$constraints"
    "$venv/bin/python" -m pip install -q -c "$constraints" -c "$numpy_pins" -e ".[dev]"
    touch "$venv/.complete"
fi
if [ "$(readlink .venv 2>/dev/null || true)" != "$venv" ]; then
    rm -rf .venv
    ln -s "$venv" .venv
fi

# Re-install this checkout when its dependencies changed or the cached venv points at another checkout.
stamp_now=$( (cat pyproject.toml "$constraints" "$numpy_pins"; echo "$repo") | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.editable-stamp" 2>/dev/null || true)" != "$stamp_now" ]; then
    echo "setup: installing this checkout into .venv"
    "$venv/bin/python" -m pip install -q -c "$constraints" -c "$numpy_pins" -e ".[dev]"
    echo "$stamp_now" > "$venv/.editable-stamp"
fi

# Debian's python3-matplotlib (pulled in by QGIS) installs matplotlib-*-nspkg.pth, which puts ITS mpl_toolkits into
# sys.modules at start-up, so pip matplotlib warns "Unable to import Axes3D" on every import. A .pth of the venv runs
# first (the venv's site-packages is processed before the system's) and imports the venv's own mpl_toolkits, made a
# regular package by an empty __init__.py; Debian's .pth then only appends its folder to that package's path.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -d "$site/mpl_toolkits" ] && [ ! -e "$site/00-mosaic-mpl_toolkits.pth" ]; then
    : > "$site/mpl_toolkits/__init__.py"
    echo "import mpl_toolkits" > "$site/00-mosaic-mpl_toolkits.pth"
fi

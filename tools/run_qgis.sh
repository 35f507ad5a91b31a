#!/usr/bin/env bash
# `make qgis`: open the real QGIS desktop with this checkout loaded as plugin `mosaic` and the venv's packages
# (onnxruntime) importable, in a private profile under out/qgis (your own QGIS profile is not touched).
# Opens out/demo/demo.qgz when `make demo` has made it, else an empty project. Arguments are passed on to qgis.
#
# `qgis --profiles-path P` keeps its profiles in P/profiles/, so the plugin is enabled in
# P/profiles/default/QGIS/QGIS3.ini ([PythonPlugins] mosaic=true). MOSAIC_QGIS_HOME sets P (default out/qgis).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
home=${MOSAIC_QGIS_HOME:-$repo/out/qgis}
mkdir -p "$home/plugins" "$home/profiles/default/QGIS"
ln -sfn "$repo" "$home/plugins/mosaic"
ini=$home/profiles/default/QGIS/QGIS3.ini
grep -q '^mosaic=true' "$ini" 2>/dev/null || printf '[PythonPlugins]\nmosaic=true\n' >>"$ini"
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export QGIS_PLUGINPATH="$home/plugins"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
project=()
[ -f out/demo/demo.qgz ] && project=(--project "$repo/out/demo/demo.qgz")
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "make qgis: no display (DISPLAY is not set). Run it on a desktop session, or over 'ssh -X'." >&2
    exit 2
fi
exec qgis --profiles-path "$home" "${project[@]}" "$@"

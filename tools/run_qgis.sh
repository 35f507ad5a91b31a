#!/usr/bin/env bash
# `make qgis`: open the real QGIS desktop with this checkout loaded as plugin `mosaic` and the venv's packages
# (onnxruntime) importable, in a private profile under out/qgis (your own QGIS profile is not touched).
# Opens out/demo/demo.qgz when `make demo` has made it, else an empty project.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
mkdir -p out/qgis/plugins out/qgis/profiles/default/QGIS
ln -sfn "$repo" out/qgis/plugins/mosaic
ini=out/qgis/profiles/default/QGIS/QGIS3.ini
grep -q '^mosaic=true' "$ini" 2>/dev/null || printf '[PythonPlugins]\nmosaic=true\n' >> "$ini"
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export QGIS_PLUGINPATH="$repo/out/qgis/plugins"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
project=()
[ -f out/demo/demo.qgz ] && project=(--project "$repo/out/demo/demo.qgz")
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "make qgis: no display (DISPLAY is not set). Run it on a desktop session, or over 'ssh -X'." >&2
    exit 2
fi
exec qgis --profiles-path "$repo/out/qgis/profiles" "${project[@]}"

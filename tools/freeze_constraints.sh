#!/usr/bin/env bash
# Rewrite requirements/constraints.txt from what .venv holds now (after adding or upgrading a dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
{
    echo "# Pinned versions of every Python package the backend and its tests use (pip install -c)."
    echo "# numpy<2: Debian's GDAL/QGIS are built against numpy 1.x. Regenerate with tools/freeze_constraints.sh."
    .venv/bin/python -m pip freeze --local --exclude-editable | grep -v '^mosaic-qgis'
} > requirements/constraints.txt.new
mv requirements/constraints.txt.new requirements/constraints.txt

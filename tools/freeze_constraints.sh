#!/usr/bin/env bash
# Rewrite requirements/constraints.txt from what .venv holds now (after adding or upgrading a dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
{
    echo "# Pinned versions of every Python package the backend and its tests use (pip install -c)."
    echo "# numpy is pinned apart, in numpy1.txt / numpy2.txt (see tools/setup_env.sh). Regenerate with tools/freeze_constraints.sh."
    .venv/bin/python -m pip freeze --local --exclude-editable | grep -v -e '^mosaic-qgis' -e '^numpy=='
} > requirements/constraints.txt.new
mv requirements/constraints.txt.new requirements/constraints.txt

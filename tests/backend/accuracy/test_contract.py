"""The accuracy package runs inside QGIS without a backend Python: everything but its command-line I/O imports only
the standard library, numpy (matplotlib for the chart, optional) and light parts of the backend."""

from __future__ import annotations

import sys
from pathlib import Path

from mosaic.backend.accuracy.geo_io import GEOPACKAGE_OPTIONS
from mosaic.backend.inference.outputs import GEOPACKAGE_OPTIONS as RUN_GEOPACKAGE_OPTIONS

from ...import_graph import imports, module_files

REPO = Path(__file__).resolve().parents[3]
#: the command line's side: rasterio/pyogrio/shapely I/O, the run folder (names from the engine's catalogue), argparse
COMMAND_LINE = {"rasterio_io", "run_folder", "sample_command", "assess_command"}
LIGHT = {"mosaic.backend.errors", "mosaic.backend.atomic", "mosaic.backend.data.classes", "mosaic.backend.data"}


def test_the_core_imports_only_the_standard_library_numpy_and_light_backend_modules():
    modules = module_files(REPO, ("backend/accuracy",))
    core = {name: path for name, path in modules.items() if name.startswith("mosaic.backend.accuracy")}
    found = []
    for name, path in core.items():
        if name.rsplit(".", 1)[-1] in COMMAND_LINE:
            continue
        for imp in imports(name, path, modules):
            top = imp.target.split(".")[0]
            inside = (
                imp.target.startswith("mosaic.backend.accuracy") and imp.target.rsplit(".", 1)[-1] not in COMMAND_LINE
            )
            if not (top in sys.stdlib_module_names or top in {"numpy", "matplotlib"} or inside or imp.target in LIGHT):
                found.append(f"{name}:{imp.line} {imp.target}")
    assert found == []


def test_the_sample_geopackage_is_written_as_the_runs_tiles():
    assert GEOPACKAGE_OPTIONS == RUN_GEOPACKAGE_OPTIONS

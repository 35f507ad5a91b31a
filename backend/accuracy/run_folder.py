"""A run's output folder on the command line: ``--map RUN_DIR`` names its ``labels.tif`` and ``probabilities.tif``."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..inference.outputs import FILE_NAMES


def run_files(run: str) -> tuple[str, str]:
    """``labels.tif`` and ``probabilities.tif`` of a run's output folder (``mosaic predict --out``, a run in QGIS)."""
    folder = Path(run)
    labels, probabilities = folder / FILE_NAMES["labels"], folder / FILE_NAMES["probabilities"]
    for path in (labels, probabilities):
        if not path.is_file():
            raise InputError(
                f"{folder} has no {path.name}: give the output folder of `mosaic predict` (or of a run in QGIS)."
            )
    return str(labels), str(probabilities)

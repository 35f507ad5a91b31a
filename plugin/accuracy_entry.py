"""*Assess this map…*: the Processing dialog of the next step of a run's accuracy assessment, filled in.

For the run in ``run_folder`` (``labels.tif`` and ``probabilities.tif``): ``mosaic:sample`` writing
``run_folder/sample.gpkg`` while there is no sample yet; once it exists (labelled in QGIS in between),
``mosaic:assess`` of that sample into ``run_folder/assessment``. The dialog is shown, not modal; the caller keeps it.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication

SAMPLE_FILE, ASSESSMENT_FOLDER = "sample.gpkg", "assessment"


def next_step(run_folder: str | Path) -> tuple[str, dict]:
    """The algorithm and parameters *Assess this map…* opens for ``run_folder``."""
    from ..backend.accuracy.run_folder import run_files

    labels, probabilities = run_files(str(run_folder))
    sample = Path(run_folder) / SAMPLE_FILE
    if not sample.is_file():
        return "mosaic:sample", {"LABELS": labels, "PROBABILITIES": probabilities, "OUTPUT": str(sample)}
    return "mosaic:assess", {
        "SAMPLE": str(sample),
        "LABELS": labels,
        "PROBABILITIES": probabilities,
        "OUTPUT_FOLDER": str(Path(run_folder) / ASSESSMENT_FOLDER),
    }


def assess_this_map(run_folder: str | Path, parent=None):
    """Show the dialog of :func:`next_step` (parented to ``parent``, e.g. the dock); returns it."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    algorithm_id, parameters = next_step(run_folder)
    dialog = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById(algorithm_id), parent=parent)
    dialog.setParameters(parameters)
    dialog.show()
    return dialog

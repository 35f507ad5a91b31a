"""Runs inside the real QGIS desktop (``qgis --code``): the analyst's training path, driven as a user drives it.

*Raster ▸ MoSAiC Land Cover ▸ Train a MoSAiC model…* is triggered from QGIS's own menu; after a garbage collection the
window is found among the application's top-level widgets (a collected dialog would be a plain ``QDialog`` whose
buttons do nothing, issue 24); *Prepare…* must open Processing's dataset builder; the form is filled for a tiny run on
the bundled sample and *Train* is clicked; the plugin must then hold the exported model in its dock. Reports JSON to
$MOSAIC_PROBE_OUT.

Environment: $MOSAIC_PROBE_PYTHON (the backend Python), $MOSAIC_PROBE_DATASET (the bundled sample), $MOSAIC_PROBE_RUNS
(the run folder), optionally $MOSAIC_PROBE_SHOTS (a folder for screenshots of the dialog and the dock). Started by
``test_training_dialog.py::test_real_qgis_desktop_trains_from_the_menu`` (QGIS 3.22) and by
``tools/qgis_matrix_check.py`` (QGIS 3.40, 3.44).
"""

import gc
import json
import os
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import (
    QApplication,
    QComboBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)
from qgis.utils import iface, loadPlugin, plugins, startPlugin, updateAvailablePlugins

MENU = "MoSAiC Land Cover"
TIMEOUT_S = 540  #: dataset check, training and export on 2 CPU cores take about a minute
NOISE = ("Tip:", "deprecated", "\N{ELECTRIC LIGHT BULB}")  #: lines the dialog's log must not show
report: dict = {}


def finish() -> None:
    """Write the report and quit (the project closed first: QGIS 3.40/3.44 crash at exit with raster layers)."""
    with open(os.environ["MOSAIC_PROBE_OUT"], "w", encoding="utf-8") as fh:
        json.dump(report, fh)
    QgsProject.instance().clear()
    QgsApplication.instance().exit(0)


def guarded(step):
    """Run ``step``; any exception goes into the report and ends the probe instead of hanging QGIS."""

    def run(*args):
        try:
            step(*args)
        except Exception:
            report["error"] = traceback.format_exc()
            finish()

    return run


def menu_action(name: str):
    """The action ``name`` in the Raster menu's MoSAiC submenu, as the user sees it."""
    for entry in iface.rasterMenu().actions():
        menu = entry.menu()
        if menu is not None and entry.text().replace("&", "") == MENU:
            for action in menu.actions():
                if action.objectName() == name:
                    return action
    raise RuntimeError(f"no {name} in Raster ▸ {MENU}")


def top_level(name: str) -> QWidget:
    gc.collect()
    found = [w for w in QApplication.topLevelWidgets() if w.objectName() == name and w.isVisible()]
    if len(found) != 1:
        raise RuntimeError(f"{len(found)} visible windows named {name}")
    return found[0]


def child(dialog: QWidget, kind, name: str):
    widget = dialog.findChild(kind, name)
    if widget is None:
        raise RuntimeError(f"the training dialog has no {kind.__name__} {name}")
    return widget


@guarded
def start() -> None:
    # QGIS as a user runs it, maximized (Xvfb has no window manager to do it: a fresh profile's window is small)
    iface.mainWindow().setGeometry(QApplication.primaryScreen().availableGeometry())
    updateAvailablePlugins()  # --noplugins skips the scan of QGIS_PLUGINPATH
    if not (loadPlugin("mosaic") and startPlugin("mosaic")):
        raise RuntimeError("the plugin did not load")
    menu_action("mosaicTrainAction").trigger()
    QTimer.singleShot(300, open_prepare)


@guarded
def open_prepare() -> None:
    dialog = top_level("mosaicTrainingDialog")
    report["dialog_class"] = type(dialog).__name__
    child(dialog, QPushButton, "mosaicPrepareButton").click()
    QTimer.singleShot(300, fill_and_train)


@guarded
def fill_and_train() -> None:
    prepare = top_level("mosaicPrepareDialog")
    report["prepare_algorithm"] = prepare.algorithm().id()
    prepare.close()
    dialog = top_level("mosaicTrainingDialog")
    child(dialog, QgsFileWidget, "mosaicBackendPython").setFilePath(os.environ["MOSAIC_PROBE_PYTHON"])
    child(dialog, QgsFileWidget, "mosaicTrainDataset").setFilePath(os.environ["MOSAIC_PROBE_DATASET"])
    child(dialog, QgsFileWidget, "mosaicTrainRunFolder").setFilePath(os.environ["MOSAIC_PROBE_RUNS"])
    strategy = child(dialog, QComboBox, "mosaicTrainStrategy")
    strategy.setCurrentIndex(strategy.findData("mosaic1"))
    child(dialog, QSpinBox, "mosaicTrainEpochs").setValue(1)
    child(dialog, QSpinBox, "mosaicTrainBatchSize").setValue(4)
    child(dialog, QSpinBox, "mosaicTrainWorkers").setValue(0)
    for name, value in (("mosaicTrainDevice", "cpu"), ("mosaicTrainBackbone", "resnet18")):
        combo = child(dialog, QComboBox, name)
        combo.setCurrentIndex(combo.findText(value))
    report["strategy_text"] = strategy.currentText()
    child(dialog, QPushButton, "mosaicTrainButton").click()
    wait_for_model(time.monotonic() + TIMEOUT_S)


@guarded
def wait_for_model(deadline: float) -> None:
    dialog = top_level("mosaicTrainingDialog")
    dock = plugins["mosaic"].dock
    ready = dock is not None and dock.metadata is not None
    failed = child(dialog, QLabel, "mosaicTrainStatus").text() if dialog.failed_message else ""
    if not ready and not failed and time.monotonic() < deadline:
        QTimer.singleShot(500, lambda: wait_for_model(deadline))
        return
    log = child(dialog, QPlainTextEdit, "mosaicTrainLog").toPlainText()
    report["failed"] = failed or (None if ready else f"no model in the dock after {TIMEOUT_S} s")
    report["noise_in_log"] = [n for n in NOISE if n in log]
    report["log_tail"] = log[-1500:]
    if ready:
        report["model"] = dock.model_file.filePath()
        report["strategy"] = dock.metadata.strategy
        report["classes"] = len(dock.metadata.class_names)
        report["accuracy"] = dock.metadata.metrics.get("test/ap_macro")  # evaluated before the export
        report["dock"] = dock_geometry(dock)
        save_screenshots(dialog, dock)
    finish()


def dock_geometry(dock) -> dict:
    """The dock's width and whether Run, Cancel, the model's browse button and the status are shown whole (each
    widget's visible region, clipped by the dock and its scroll area's viewport, is its full rectangle)."""
    from mosaic.tests.plugin.widget_geometry import browse_button, fully_shown

    widgets = {"run": dock.run_button, "cancel": dock.cancel_button, "browse": browse_button(dock.model_file)}
    shown = {name: fully_shown(widget) for name, widget in {**widgets, "status": dock.status}.items()}
    window = iface.mainWindow()
    room = window.width() - window.centralWidget().minimumSizeHint().width()  # the most a dock can take
    size = {"width": dock.width(), "height": dock.height(), "window": [window.width(), window.height()]}
    return {**size, "inside": shown, "room": room}


def save_screenshots(dialog: QWidget, dock) -> None:
    shots = os.environ.get("MOSAIC_PROBE_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(Path(shots) / "training_dialog.png"))
        dock.grab().save(str(Path(shots) / "dock.png"))


QTimer.singleShot(300, start)

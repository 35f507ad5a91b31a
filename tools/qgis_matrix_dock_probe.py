"""Runs inside the real QGIS desktop (``qgis --code``) for ``make qgis-matrix``: the dock classifies the T33UUP band
layers into styled layers; reports JSON to $MOSAIC_PROBE_OUT.

Started by ``tools/qgis_matrix_check.py`` (check 6) with $MOSAIC_PROBE_DATA (the band files), $MOSAIC_PROBE_MODEL
(the test network) and $MOSAIC_PROBE_RESULTS (the output folder). As a user would: the 14 band files added to the
project, the plugin loaded as QGIS loads it, its dock opened from the toolbar action, the S2 and S1 layer, the model
and stride 120 set, *Run* — then, once the background task is done, the layer group it added is described.

With $MOSAIC_PROBE_INSTALL (a root without onnxruntime, check 7): the dock must show its install box with *Run*
disabled; *Install onnxruntime* is clicked (pip into the profile's ``python/mosaic_deps``) and, once pip is done, the
modules QGIS then imports, the interpreter pip ran with and any "onnxruntime is missing" warning left in the message
bar are reported before the run.
"""

import json
import os
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface, loadPlugin, plugins, startPlugin, updateAvailablePlugins

TIMEOUT_S = 300  #: the longest the dock's task may run
INSTALL_LOG_CHARS = 800  #: the end of pip's log reported when the install fails


def finish(report: dict) -> None:
    """Write the report and quit. The project is closed first: QGIS 3.40 and 3.44 die with signal 11 at exit while
    raster layers added by ``--code`` are still loaded (a plain script adding one layer, without this plugin, too)."""
    with open(os.environ["MOSAIC_PROBE_OUT"], "w", encoding="utf-8") as fh:
        json.dump(report, fh)
    QgsProject.instance().clear()
    QgsApplication.instance().exit(0)


def describe(dock, report: dict) -> None:
    """The finished run: its error or outputs, and the layers of the group it added at the top of the tree."""
    report["error"] = dock.last_error or None
    if dock.last_result is not None:
        report["outputs"] = {key: str(path) for key, path in dock.last_result.outputs.items()}
    group = QgsProject.instance().layerTreeRoot().children()[0]
    report["layers"] = []
    for node in group.findLayers():
        renderer = node.layer().renderer()
        report["layers"].append(
            {
                "name": node.layer().name(),
                "renderer": type(renderer).__name__,
                "classes": len(renderer.classes()) if hasattr(renderer, "classes") else 0,
            }
        )


def wait(dock, report: dict, deadline: float) -> None:
    try:
        if dock.task is not None and time.monotonic() < deadline:
            QTimer.singleShot(200, lambda: wait(dock, report, deadline))
            return
        if dock.task is not None:
            report["error"] = f"the dock's task ran longer than {TIMEOUT_S} s"
        else:
            describe(dock, report)
    except Exception:  # report anything to the check instead of hanging QGIS
        report["error"] = traceback.format_exc()
    finish(report)


def run(dock, layers: dict, report: dict) -> None:
    """Set the S2 and S1 layer, the model, the output folder and stride 120; *Run*; wait for the task."""
    dock.s2_combo.setLayer(layers["B02"])
    dock.s1_combo.setLayer(layers["VV"])
    dock.set_model_path(os.environ["MOSAIC_PROBE_MODEL"])
    dock.output_dir.setFilePath(os.environ["MOSAIC_PROBE_RESULTS"])
    dock.stride.setValue(120)
    if dock.run() is None:
        raise RuntimeError(f"the dock refused to run: {dock.mapping_warning.text() or dock.last_error}")
    wait(dock, report, time.monotonic() + TIMEOUT_S)


def install_then_run(dock, layers: dict, report: dict) -> None:
    """onnxruntime is absent: the dock's install box, *Install onnxruntime*, then :func:`run` once pip is done."""
    from mosaic.plugin.process_log_dialog import ProcessLogDialog

    if dock.deps_box.isHidden() or dock.run_button.isEnabled():
        raise RuntimeError("onnxruntime is absent but the dock shows no install box or leaves Run enabled")
    dock.install_button.click()
    dialog = dock.findChildren(ProcessLogDialog)[-1]

    def installed(ok: bool) -> None:
        try:
            if not ok:
                raise RuntimeError(f"installing onnxruntime failed: {dialog.log.toPlainText()[-INSTALL_LOG_CHARS:]}")
            import numpy
            import onnxruntime

            report["install"] = {
                "onnxruntime": onnxruntime.__file__,
                "version": onnxruntime.__version__,
                "numpy": numpy.__file__,
                "run_enabled": dock.run_button.isEnabled(),
                "pip_python": dialog.log.toPlainText().splitlines()[0].split()[1],
                "warnings_left": [
                    item.text() for item in iface.messageBar().items() if "onnxruntime is missing" in item.text()
                ],
            }
            run(dock, layers, report)
        except Exception:  # report anything to the check instead of hanging QGIS
            report["error"] = traceback.format_exc()
            finish(report)

    dialog.finished_all.connect(installed)


def probe() -> None:
    report = {}
    try:
        updateAvailablePlugins()  # --noplugins skips the scan of QGIS_PLUGINPATH
        if not (loadPlugin("mosaic") and startPlugin("mosaic")):
            raise RuntimeError("the plugin did not load")
        from mosaic.tests.plugin.processing_case import band_files

        layers = {}
        for band, path in band_files(Path(os.environ["MOSAIC_PROBE_DATA"])).items():
            layers[band] = QgsRasterLayer(str(path), path.stem, "gdal")
            QgsProject.instance().addMapLayer(layers[band])
        plugin = plugins["mosaic"]
        plugin.action.trigger()
        if os.environ.get("MOSAIC_PROBE_INSTALL"):
            install_then_run(plugin.dock, layers, report)
        else:
            run(plugin.dock, layers, report)
    except Exception:
        report["error"] = traceback.format_exc()
        finish(report)


QTimer.singleShot(200, probe)

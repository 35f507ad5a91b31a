"""Runs inside the real QGIS desktop started as `make qgis` starts it (``tools/run_qgis.sh --code``): reports which
Python plugins QGIS activated from the profile, and whether the MoSAiC dock opens, as JSON to $MOSAIC_PROBE_OUT.

Started by ``test_plugin_load.py::test_make_qgis_opens_qgis_with_the_plugin_active``.
"""

import json
import os
import traceback

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QAction, QDockWidget
from qgis.utils import active_plugins, iface


def probe():
    report = {}
    try:
        report["active_plugins"] = sorted(active_plugins)
        action = iface.mainWindow().findChild(QAction, "mosaicClassifyAction")
        report["action"] = action is not None
        if action is not None:
            action.trigger()
            QgsApplication.processEvents()
            dock = iface.mainWindow().findChild(QDockWidget, "mosaicDock")
            report["dock_visible"] = dock is not None and dock.isVisible()
            report["dock_width"] = dock.width() if dock is not None else 0
    except Exception:  # report anything to the test instead of hanging QGIS
        report["error"] = traceback.format_exc()
    with open(os.environ["MOSAIC_PROBE_OUT"], "w", encoding="utf-8") as fh:
        json.dump(report, fh)
    QgsProject.instance().clear()
    QgsApplication.instance().exit(0)


QTimer.singleShot(500, probe)

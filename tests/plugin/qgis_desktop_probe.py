"""Runs inside the real QGIS desktop (``qgis --code``): loads the plugin, inspects the GUI, unloads, reports JSON.

Started by ``test_plugin_load.py::test_real_qgis_desktop_loads_and_unloads``; the JSON goes to $MOSAIC_PROBE_OUT.
"""

import json
import os
import traceback

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QToolBar
from qgis.utils import iface, loadPlugin, plugins, startPlugin, unloadPlugin, updateAvailablePlugins


def raster_menu_entries():
    entries = []
    for action in iface.rasterMenu().actions():
        menu = action.menu()
        if menu is not None:
            for sub in menu.actions():
                entries.append(
                    {
                        "menu": action.text(),
                        "text": sub.text(),
                        "name": sub.objectName(),
                        "icon": not sub.icon().isNull(),
                    }
                )
    return entries


def toolbar_actions():
    found = []
    for toolbar in iface.mainWindow().findChildren(QToolBar):
        for action in toolbar.actions():
            if action.objectName().startswith("mosaic"):
                found.append({"toolbar": toolbar.objectName(), "name": action.objectName()})
    return found


def provider_ids():
    return sorted(p.id() for p in QgsApplication.processingRegistry().providers())


def probe():
    report = {}
    try:
        updateAvailablePlugins()  # --noplugins skips the scan of QGIS_PLUGINPATH
        report["loaded"] = bool(loadPlugin("mosaic")) and bool(startPlugin("mosaic"))
        report["after_load"] = {
            "menu": raster_menu_entries(),
            "toolbar": toolbar_actions(),
            "providers": provider_ids(),
        }
        plugin = plugins["mosaic"]
        plugin.action.trigger()
        QgsApplication.processEvents()
        report["dock_visible"] = plugin.dock is not None and plugin.dock.isVisible()
        report["unloaded"] = bool(unloadPlugin("mosaic"))
        QgsApplication.processEvents()
        report["after_unload"] = {
            "menu": raster_menu_entries(),
            "toolbar": toolbar_actions(),
            "providers": provider_ids(),
        }
    except Exception:  # report anything to the test instead of hanging QGIS
        report["error"] = traceback.format_exc()
    with open(os.environ["MOSAIC_PROBE_OUT"], "w", encoding="utf-8") as fh:
        json.dump(report, fh)
    QgsApplication.instance().exit(0)


QTimer.singleShot(200, probe)

"""Driving the plugin as a user does: its actions found by object name in QGIS's main window, the windows they open
found among the application's top-level widgets — never a reference the plugin itself does not keep."""

from __future__ import annotations

import gc

from qgis.PyQt.QtWidgets import QAction, QApplication, QDockWidget, QWidget

from mosaic import classFactory


def start_plugin(iface):
    """Load the plugin as QGIS does (``classFactory`` + ``initGui``); QGIS keeps the returned object."""
    plugin = classFactory(iface)
    plugin.initGui()
    return plugin


def trigger(iface, name: str) -> None:
    """Trigger the main window's action ``name`` (as a click on its menu entry or toolbar button)."""
    actions = [a for a in iface.mainWindow().findChildren(QAction, name)]
    assert len(actions) == 1, f"{len(actions)} actions named {name}"
    actions[0].trigger()


def open_dock(iface) -> QDockWidget:
    """Open the classification dock through its toolbar action; the dock found in the main window."""
    trigger(iface, "mosaicClassifyAction")
    dock = iface.mainWindow().findChild(QDockWidget, "mosaicDock")
    assert dock is not None and dock.isVisibleTo(iface.mainWindow())
    return dock


def top_level(name: str) -> QWidget:
    """The visible top-level window ``name`` after a garbage collection (a window Python collected shows as a plain
    ``QDialog`` whose buttons do nothing, issue 24)."""
    gc.collect()
    found = [w for w in QApplication.topLevelWidgets() if w.objectName() == name and w.isVisible()]
    assert len(found) == 1, f"{len(found)} visible windows named {name}"
    return found[0]


def open_training_dialog(iface) -> QWidget:
    """Open the training dialog through *Raster ▸ MoSAiC Land Cover ▸ Train a MoSAiC model…*."""
    trigger(iface, "mosaicTrainAction")
    return top_level("mosaicTrainingDialog")

"""The plugin object QGIS holds: toolbar action, Raster-menu entry, dock and Processing provider."""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, Qt, QTimer
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from .paths import ICON_PATH

MENU_NAME = "&MoSAiC Land Cover"


def tr(text: str) -> str:
    """Translate ``text`` in the plugin's context."""
    return QCoreApplication.translate("MosaicPlugin", text)


class MosaicPlugin:
    """Adds a toolbar button and a Raster-menu entry that open the classification dock."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.action: QAction | None = None
        self.training_action: QAction | None = None
        self.toolbar = None
        self.dock = None
        self.training_dialog = None
        self.provider = None

    # -- Processing -------------------------------------------------------------------------------
    def initProcessing(self) -> None:
        """Register the ``mosaic`` Processing provider (also called by qgis_process)."""
        from .processing.provider import MosaicProvider

        if self.provider is None:
            provider = MosaicProvider()
            # QGIS deletes a provider it refuses (a "mosaic" provider is registered already, e.g. by a second
            # plugin instance): keep only one it accepted, so that unload never touches a deleted object
            if QgsApplication.processingRegistry().addProvider(provider):
                self.provider = provider

    # -- GUI --------------------------------------------------------------------------------------
    def initGui(self) -> None:
        """Create the toolbar action and the Raster-menu entries; register Processing."""
        self.initProcessing()
        icon = QIcon(str(ICON_PATH))
        self.action = QAction(icon, tr("MoSAiC land-cover classification"), self.iface.mainWindow())
        self.action.setObjectName("mosaicClassifyAction")
        self.action.setToolTip(tr("Classify Sentinel-1 + Sentinel-2 layers with a MoSAiC model"))
        self.action.setCheckable(True)
        self.action.toggled.connect(self.toggle_dock)
        self.training_action = QAction(icon, tr("Train a MoSAiC model…"), self.iface.mainWindow())
        self.training_action.setObjectName("mosaicTrainAction")
        self.training_action.triggered.connect(self.open_training_dialog)

        self.toolbar = self.iface.addToolBar(tr("MoSAiC"))
        self.toolbar.setObjectName("mosaicToolbar")
        self.toolbar.addAction(self.action)
        self.iface.addRasterToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(MENU_NAME, self.action)
        self.iface.addPluginToRasterMenu(MENU_NAME, self.training_action)

    def unload(self) -> None:
        """Remove everything :meth:`initGui` and :meth:`initProcessing` added."""
        if self.dock is not None:
            self.dock.shutdown()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.training_dialog is not None:
            self.training_dialog.close()
            self.training_dialog.deleteLater()
            self.training_dialog = None
        for action in (self.action, self.training_action):
            if action is not None:
                self.iface.removePluginRasterMenu(MENU_NAME, action)
                self.iface.removeRasterToolBarIcon(action)
                action.setParent(None)  # out of the main window now: a plugin loaded again finds only its own
                action.deleteLater()
        if self.toolbar is not None:
            # detach now: deleteLater alone leaves the toolbar in the main window until the next event loop pass
            self.iface.mainWindow().removeToolBar(self.toolbar)
            self.toolbar.setParent(None)
            self.toolbar.deleteLater()
            self.toolbar = None
        self.action = self.training_action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

    def toggle_dock(self, visible: bool) -> None:
        """Show or hide the classification dock, creating it on first use."""
        created = self.dock is None
        if created:
            from .dock import MosaicDock

            self.dock = MosaicDock(self.iface, self.iface.mainWindow())
            self.dock.visibilityChanged.connect(self._sync_action)
            # a tab of the right dock area, raised (QGIS 3.40 opens the Processing toolbox there: split beside it,
            # the dock would get a fraction of the height)
            self.iface.addTabifiedDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock, [], True)
        self.dock.setVisible(visible)
        if created:
            self._open_wide_enough(self.dock)

    def _open_wide_enough(self, dock) -> None:
        """Give a newly docked dock its size hint's width (a main window keeps a new dock as narrow as its
        neighbours, about 300 px, where the dock's controls do not fit)."""
        window = self.iface.mainWindow()
        if hasattr(window, "resizeDocks") and window.dockWidgetArea(dock) != Qt.DockWidgetArea.NoDockWidgetArea:
            width = dock.sizeHint().width()
            window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
            # again once the main window has laid the new dock out (QGIS 3.40 lays out after this call returns)
            QTimer.singleShot(
                0, lambda: self.dock is dock and window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
            )

    def _sync_action(self, visible: bool) -> None:
        if self.action is not None and self.action.isChecked() != visible:
            self.action.setChecked(visible)

    def open_training_dialog(self) -> None:
        """Open the training dialog (training runs in a separate Python with PyTorch), or raise the open one.

        The plugin keeps the dialog: with only Qt's parent holding it, Python would collect the ``TrainingDialog``
        wrapper and leave a plain ``QDialog`` whose buttons do nothing.
        """
        from .training_dialog import TrainingDialog

        if self.training_dialog is None:
            self.training_dialog = TrainingDialog(self.iface, self.iface.mainWindow())
            self.training_dialog.model_ready.connect(self._offer_model)
        self.training_dialog.show()
        self.training_dialog.raise_()
        self.training_dialog.activateWindow()

    def _offer_model(self, onnx_path: str) -> None:
        self.action.setChecked(True)
        self.dock.set_model_path(onnx_path)

"""The classification dock: layers, band mapping, model, extent and run options; runs a background task.

Layout: the settings scroll; *Run*, *Cancel*, *Open folder*, the progress bar and the status stay below them, always
in view. The dock opens :data:`DOCK_WIDTH_PX` wide, where every control fits. This module is the dock's layout and
wiring; the model panel is :mod:`.model_panel`, runs and their results :mod:`.dock_run`, *Get a published model…*
:mod:`.published_dialog`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from qgis.core import Qgis, QgsMapLayerProxyModel, QgsProject, QgsRasterLayer
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QCoreApplication, QSize, Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..backend.errors import MosaicError
from . import deps, settings
from .band_mapping import BandSource, detect_mapping, find_cloud_layer, missing, project_rasters
from .dock_run import RunControl
from .dock_widgets import StatusText, narrow, narrow_form
from .input_options import LABELS, S1_ORDERS, S1_UNITS, S2_OFFSETS, S2_SCALES, value_text
from .layer_picks import layer_bands, preferred_layer, short_name
from .model_panel import ModelPanel
from .run_folder import is_temporary, output_dir, temporary_layers

EXTENT_MODES = ("layer", "canvas", "selection")
MESSAGE_TITLE = "MoSAiC"
DOCK_WIDTH_PX = 420  #: the dock's default width: the model's browse button, Cancel and every combo fit
STATUS_LINES = 3  #: the status shows this many lines, and scrolls for more
DEFAULT_GSD_M = 10.0  #: ground metres per pixel before a model is chosen (every MoSAiC model so far)


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicDock", text)


class MosaicDock(RunControl, QDockWidget):
    """Pick S2/S1 layers, map bands, choose a model and an extent, run tiled inference as a QgsTask."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(tr("MoSAiC land cover"), parent)
        self.iface = iface
        self.setObjectName("mosaicDock")
        self.metadata = None
        self.task = None
        self.last_result = None
        self.last_error = ""
        self.result_layers: dict[str, str] = {}  #: product → layer id of the last run's layers
        self._run_dir: Path | None = None
        self._finished_dir: Path | None = None  #: the folder of the last finished run (*Open folder*)
        self._detected: dict[tuple[str, str], BandSource | None] = {}  #: the mapping as detected, before edits
        self._user_picked: set[str] = set()  #: pickers the user chose a layer in ("S2", "S1"): never changed then
        self._shown: dict[str, str | None] = {}  #: the layer id each picker showed when layers were last added
        self._missing_message = None  #: the "onnxruntime is missing" message bar item, removed after the install
        self._offered = None  #: the onnxruntime build the installer offers (asked once, when onnxruntime is missing)
        self.assess_dialog = None  #: the Processing dialog *Assess this map…* opened, kept while open
        self.published_dialog = None  #: *Get a published model…*, kept while the dock lives
        self._build_ui()
        self._load_settings()
        project = QgsProject.instance()
        project.cleared.connect(self.cancel)
        # legendLayersAdded, not layersAdded: the table lists layer-tree layers, in the tree only by then
        project.legendLayersAdded.connect(self._layers_added)
        project.layersRemoved.connect(self.refresh_mapping)
        project.projectSaved.connect(self._project_saved)
        project.readProject.connect(self._show_output_path)  # runs go beside the project opened…
        project.cleared.connect(self._show_output_path)
        project.cleared.connect(self._user_picked.clear)  # a new project: its layers are offered afresh
        self.refresh_dependencies()
        self.pick_default_layers()

    def sizeHint(self) -> QSize:
        """At least :data:`DOCK_WIDTH_PX` wide: QGIS opens a new dock at its size hint."""
        hint = super().sizeHint()
        return QSize(max(hint.width(), DOCK_WIDTH_PX), hint.height())

    # -- UI ---------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        """The scrolling settings above the fixed run footer."""
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.addWidget(self._dependencies_box(body))
        layout.addLayout(self._inputs_form(body))
        layout.addWidget(self._model_panel(body))
        layout.addWidget(self._mapping_box(body))
        layout.addLayout(self._options_form(body))
        layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setObjectName("mosaicSettingsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        container = QWidget(self)
        outer = QVBoxLayout(container)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll, 1)
        outer.addWidget(self._run_footer(container))
        self.setWidget(container)
        self._connect_inputs()

    def _dependencies_box(self, parent: QWidget) -> QGroupBox:
        """Shown only while onnxruntime is missing: what it is and the button that installs it."""
        self.deps_box = QGroupBox(tr("onnxruntime is missing"), parent)
        deps_layout = QVBoxLayout(self.deps_box)
        self.deps_label = QLabel(
            tr(
                "MoSAiC runs models with the Python package onnxruntime, which this QGIS does not have. "
                "Install it into a private folder of your QGIS profile (QGIS's own packages stay untouched)."
            ),
            self.deps_box,
        )
        self.deps_label.setWordWrap(True)
        self.gpu_build = QCheckBox(self.deps_box)  #: shown where an NVIDIA driver makes the GPU build the one to offer
        self.gpu_build.setVisible(False)
        self.install_button = QPushButton(tr("Install onnxruntime"), self.deps_box)
        self.install_button.clicked.connect(self.install_onnxruntime)
        deps_layout.addWidget(self.deps_label)
        deps_layout.addWidget(self.gpu_build)
        deps_layout.addWidget(self.install_button)
        return self.deps_box

    def _inputs_form(self, parent: QWidget) -> QFormLayout:
        """The S2, S1 and cloud layers and the model file."""
        inputs = narrow_form(QFormLayout())
        self.s2_combo = self._layer_combo(
            parent,
            tr(
                "Sentinel-2 L2A: one stacked layer, or one of the band layers (B02, B03…). Leave it empty to classify "
                "Sentinel-1 alone with the model's S1-only head"
            ),
        )
        self.s1_combo = self._layer_combo(
            parent,
            tr(
                "Sentinel-1 GRD in dB: a VV+VH stack or one of the VV/VH layers. Leave it empty to classify "
                "Sentinel-2 alone with the model's S2-only head"
            ),
        )
        self.s2_combo.setAllowEmptyLayer(True)
        self.s1_combo.setAllowEmptyLayer(True)
        self.cloud_combo = self._layer_combo(
            parent,
            tr(
                "Optional, for models with an S1-only head: a Sentinel-2 scene classification "
                "(SCL) layer, a binary cloud mask or a cloud probability, any CRS. Tiles more "
                "than the cloudy fraction under cloud are classified from radar alone. An SCL "
                "or cloud-mask layer beside the S2 bands is picked automatically."
            ),
        )
        self.cloud_combo.setAllowEmptyLayer(True)
        self.cloud_combo.setLayer(None)
        self.model_file = QgsFileWidget(parent)
        self.model_file.setObjectName("mosaicModelFile")
        self.model_file.setFilter(tr("MoSAiC ONNX model (*.onnx)"))
        inputs.addRow(tr("Sentinel-2"), self.s2_combo)
        inputs.addRow(tr("Sentinel-1"), self.s1_combo)
        inputs.addRow(tr("Cloud mask"), self.cloud_combo)
        self.published_button = QPushButton(tr("Get a published model…"), parent)
        self.published_button.setObjectName("mosaicPublishedButton")
        self.published_button.setToolTip(
            tr("Download a classifier published by the BigEarthNet v2.0 team and use it here (MIT licence)")
        )
        self.published_button.clicked.connect(self.open_published_dialog)
        inputs.addRow(tr("Model"), self.model_file)
        inputs.addRow("", self.published_button)
        return inputs

    @staticmethod
    def _layer_combo(parent: QWidget, tooltip: str) -> QgsMapLayerComboBox:
        combo = QgsMapLayerComboBox(parent)
        combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        combo.setToolTip(tooltip)
        return narrow(combo)

    def _model_panel(self, parent: QWidget) -> ModelPanel:
        """The model's summary, its record behind *Details*, how it runs here; *Use the int8 copy* takes the copy."""
        self.model_panel = ModelPanel(parent)
        self.model_panel.use_int8.connect(self.set_model_path)
        return self.model_panel

    def _mapping_box(self, parent: QWidget) -> QGroupBox:
        """Which layer band feeds each model band: band first, then the layer's short name; every row shown."""
        mapping_box = QGroupBox(tr("Band mapping"), parent)
        mapping_layout = QVBoxLayout(mapping_box)
        self.mapping_table = QTableWidget(0, 2, mapping_box)
        self.mapping_table.setHorizontalHeaderLabels([tr("Model"), tr("Band · layer")])
        self.mapping_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.mapping_table.verticalHeader().setVisible(False)
        self.mapping_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.mapping_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.mapping_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.mapping_warning = QLabel(mapping_box)
        self.mapping_warning.setWordWrap(True)
        self.mapping_warning.setStyleSheet("color: #b00020")
        detect_button = QPushButton(tr("Detect bands again"), mapping_box)
        detect_button.clicked.connect(self.refresh_mapping)
        mapping_layout.addWidget(self.mapping_table)
        mapping_layout.addWidget(self.mapping_warning)
        mapping_layout.addWidget(detect_button)
        return mapping_box

    def _options_form(self, parent: QWidget) -> QFormLayout:
        """Extent, stride (also in ground metres), batch, execution provider, output folder, input options."""
        options = narrow_form(QFormLayout())
        self.extent_combo = narrow(QComboBox(parent))
        for mode, text in zip(EXTENT_MODES, (tr("Whole layers"), tr("Map canvas"), tr("Selected polygons"))):
            self.extent_combo.addItem(text, mode)
        options.addRow(tr("Extent"), self.extent_combo)
        self.stride = QSpinBox(parent)
        self.stride.setRange(1, 4096)
        self.stride.setSuffix(tr(" px"))
        self.stride.setToolTip(
            tr(
                "Step between tiles, and the size of each output cell (in metres on the ground beside it); smaller "
                "than the patch size averages overlapping tiles"
            )
        )
        self.stride_metres = QLabel(parent)
        self.stride_metres.setWordWrap(True)
        stride_row = QHBoxLayout()
        stride_row.addWidget(self.stride)
        stride_row.addWidget(self.stride_metres, 1)
        options.addRow(tr("Stride"), stride_row)
        self.batch_size = QSpinBox(parent)
        self.batch_size.setRange(1, 1024)
        options.addRow(tr("Batch size"), self.batch_size)
        self.provider_combo = narrow(QComboBox(parent))
        self.provider_combo.setObjectName("mosaicProviderCombo")
        self.provider_combo.setToolTip(
            tr(
                "Where the model runs: the execution providers of the onnxruntime QGIS has, the best first (the GPU "
                "build adds CUDA); a provider that cannot start falls back to the CPU, and the model panel says so"
            )
        )
        self.provider_combo.activated.connect(self._provider_chosen)
        options.addRow(tr("Run on"), self.provider_combo)
        self.output_dir = QgsFileWidget(parent)
        self.output_dir.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.output_path = QLineEdit(parent)  #: the full folder, read-only; scrolls where the dock is narrow
        self.output_path.setObjectName("mosaicOutputPath")
        self.output_path.setReadOnly(True)
        self.output_path.setFrame(False)
        self.temporary_warning = QLabel(
            tr(
                "This is a temporary folder: its files may be gone after a restart, and a saved project would point "
                "to missing layers."
            ),
            parent,
        )
        self.temporary_warning.setWordWrap(True)
        self.temporary_warning.setStyleSheet("color: #b00020")
        options.addRow(tr("Output folder"), self.output_dir)
        options.addRow(tr("Runs go to"), self.output_path)
        options.addRow(self.temporary_warning)
        self.write_tiles = QCheckBox(tr("Also write tiles.gpkg"), parent)
        self.write_tiles.setToolTip(tr("The tile grid as a GeoPackage: each tile's top class and confidence"))
        options.addRow(self.write_tiles)
        self._input_choices(parent, options)
        return options

    def _input_choices(self, parent: QWidget, options: QFormLayout) -> None:
        """The engine's input options as combos (auto by default), each explained in its tooltip."""
        self.input_choices = {}  #: option → its combo box (data: the engine's value)
        tips = {
            "s2_offset": tr(
                "DN offset of the S2 values: auto reads the processing baseline (04.00 and later, "
                "products since 25 January 2022, add 1000) from the product name or metadata"
            ),
            "s2_scale": tr(
                "Stored S2 value of reflectance 1: auto reads a GDAL scale, else takes float values up to "
                "~2.5 as 0–1 reflectance and anything else as digital numbers (× 10000)"
            ),
            "s1_units": tr(
                "Models take S1 backscatter in dB; linear power (σ⁰) and amplitude are converted on the "
                "fly (10·log10, 20·log10); auto refuses S1 that looks linear"
            ),
            "s1_order": tr(
                "Band order of an S1 stack without band names; auto checks VV,VH against the "
                "backscatter (VH lies 5–10 dB below VV over land)"
            ),
        }
        choices = (("s2_offset", S2_OFFSETS), ("s2_scale", S2_SCALES), ("s1_units", S1_UNITS), ("s1_order", S1_ORDERS))
        for option, values in choices:
            combo = narrow(QComboBox(parent))
            for value in values:
                combo.addItem(tr("auto") if value == "auto" else value_text(option, value), value)
            combo.setToolTip(tips[option])
            options.addRow(LABELS[option], combo)
            self.input_choices[option] = combo

    def _run_footer(self, parent: QWidget) -> QWidget:
        """*Run*, *Cancel*, *Open folder*, *Assess this map…*, progress, status and the probability layer's class: never
        scrolled away."""
        footer = QWidget(parent)
        footer.setObjectName("mosaicRunFooter")
        layout = QVBoxLayout(footer)
        buttons = QHBoxLayout()
        self.run_button = QPushButton(tr("Run"), footer)
        self.run_button.setObjectName("mosaicRunButton")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton(tr("Cancel"), footer)
        self.cancel_button.setObjectName("mosaicCancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_folder_button = QPushButton(tr("Open folder"), footer)
        self.open_folder_button.setObjectName("mosaicOpenFolderButton")
        self.open_folder_button.setToolTip(tr("Open the last run's output folder"))
        self.open_folder_button.setEnabled(False)
        self.open_folder_button.clicked.connect(self.open_folder)
        self.assess_button = QPushButton(tr("Assess this map…"), footer)
        self.assess_button.setObjectName("mosaicAssessButton")
        self.assess_button.setToolTip(
            tr("Draw a sample of the last run's map to label, then estimate its accuracy and areas (Processing)")
        )
        self.assess_button.setEnabled(False)
        self.assess_button.clicked.connect(self.assess_map)
        for button in (self.run_button, self.cancel_button):
            buttons.addWidget(button)
        after_run = QHBoxLayout()
        for button in (self.open_folder_button, self.assess_button):
            after_run.addWidget(button)
        layout.addLayout(buttons)
        layout.addLayout(after_run)
        self.progress = QProgressBar(footer)
        self.progress.setRange(0, 100)
        layout.addWidget(self.progress)
        self.status = StatusText(footer, STATUS_LINES)
        self.status.setObjectName("mosaicStatus")
        layout.addWidget(self.status)
        class_row = QHBoxLayout()
        self.probability_class = narrow(QComboBox(footer))
        self.probability_class.setObjectName("mosaicProbabilityClass")
        self.probability_class.setToolTip(
            tr("The class whose probability the 'Probability' layer of the last run shows")
        )
        self.probability_class.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.probability_class.setEnabled(False)
        self.probability_class.currentIndexChanged.connect(self.show_probability_of)
        class_row.addWidget(QLabel(tr("Probability of"), footer))
        class_row.addWidget(self.probability_class, 1)
        layout.addLayout(class_row)
        return footer

    def _connect_inputs(self) -> None:
        for modality, combo in (("S2", self.s2_combo), ("S1", self.s1_combo)):
            combo.layerChanged.connect(self.refresh_mapping)
            combo.activated.connect(lambda *_, m=modality: self._user_picked.add(m))
            # emptied (by the user, or by a script): a one-modality run, not a picker to fill again
            combo.layerChanged.connect(lambda layer, m=modality: layer is None and self._user_picked.add(m))
        self.model_file.fileChanged.connect(self.load_model_info)
        self.stride.valueChanged.connect(self._show_stride_metres)
        self.output_dir.fileChanged.connect(self._show_output_path)

    def _load_settings(self) -> None:
        self.stride.setValue(settings.value("stride_px"))
        self.batch_size.setValue(settings.value("batch_size"))
        self.output_dir.setFilePath(settings.value("output_dir"))
        self.write_tiles.setChecked(settings.value("write_tiles"))
        self.extent_combo.setCurrentIndex(max(self.extent_combo.findData(settings.value("extent_mode")), 0))
        self.model_file.setFilePath(settings.value("model_path"))
        for option, combo in self.input_choices.items():
            combo.setCurrentIndex(max(combo.findData(settings.value(option)), 0))
        self._show_stride_metres()
        self._show_output_path()

    def _save_settings(self) -> None:
        settings.set_value("stride_px", self.stride.value())
        settings.set_value("batch_size", self.batch_size.value())
        settings.set_value("output_dir", self.output_dir.filePath())
        settings.set_value("write_tiles", self.write_tiles.isChecked())
        settings.set_value("extent_mode", self.extent_combo.currentData())
        settings.set_value("model_path", self.model_file.filePath())
        for option, combo in self.input_choices.items():
            settings.set_value(option, combo.currentData())

    def _show_stride_metres(self, *_args) -> None:
        """The stride in ground metres: the size of each output cell."""
        gsd = self.metadata.gsd_m if self.metadata is not None else DEFAULT_GSD_M
        self.stride_metres.setText(tr("= {0:,g} m cells").format(self.stride.value() * gsd))

    def run_base_dir(self) -> Path:
        """The folder the next run's folder goes into (the chosen one, else beside the project)."""
        return output_dir(self.output_dir.filePath())

    def _show_output_path(self, *_args) -> None:
        """The full folder the runs go to, and a warning when it is the temporary folder."""
        base = self.run_base_dir()
        self.output_path.setText(str(base))
        self.output_path.setCursorPosition(0)
        self.output_path.setToolTip(str(base))
        self.temporary_warning.setVisible(is_temporary(base))
        if not self.output_dir.filePath().strip():
            self.output_dir.lineEdit().setPlaceholderText(str(base))

    # -- dependencies -----------------------------------------------------------------------------
    def refresh_dependencies(self) -> None:
        """Show the install box when onnxruntime is missing; list its execution providers otherwise."""
        available = deps.onnxruntime_available()
        self.deps_box.setVisible(not available)
        self._fill_providers()
        self.run_button.setEnabled(available and self.task is None)
        bar = self.iface.messageBar()
        if not available and self._offered is None:
            self._offered = deps.offered_build()
            gpu = self._offered.package != deps.PACKAGE
            self.gpu_build.setText(tr("GPU build ({0})").format(self._offered.package))
            self.gpu_build.setToolTip(self._offered.reason)
            self.gpu_build.setVisible(gpu)
            self.gpu_build.setChecked(gpu)
        if not available and self._missing_message is None:
            self._missing_message = bar.createMessage(
                MESSAGE_TITLE, tr("onnxruntime is missing: open the MoSAiC dock and click 'Install onnxruntime'.")
            )
            bar.pushWidget(self._missing_message, Qgis.MessageLevel.Warning, 0)
        elif available:
            self._clear_missing_message()
            self.load_model_info()

    def _fill_providers(self) -> None:
        """Offer the execution providers of the installed onnxruntime, best first (a GPU when there is one); keep
        the one the user chose where it is still offered."""
        combo = self.provider_combo
        blocked = combo.blockSignals(True)
        combo.clear()
        for name in deps.available_providers():
            combo.addItem(deps.provider_text(name), name)
        combo.setCurrentIndex(max(combo.findData(settings.value("provider")), 0))
        combo.blockSignals(blocked)

    def _provider_chosen(self, _index: int) -> None:
        """The user chose where to run: remembered, and the model panel says what that gives."""
        settings.set_value("provider", self.provider_combo.currentData())
        self.load_model_info()

    def requested_provider(self) -> str | None:
        """The provider a run asks for: the one chosen; a GPU provider chosen before that this onnxruntime lacks is
        still asked for, so that the engine says in one line that the run falls back to the CPU and why."""
        chosen = str(settings.value("provider"))
        offered = [self.provider_combo.itemData(i) for i in range(self.provider_combo.count())]
        if chosen not in ("auto", "", *offered):
            return chosen
        return self.provider_combo.currentData()

    def _clear_missing_message(self) -> None:
        if self._missing_message is not None:
            with contextlib.suppress(RuntimeError):  # the user closed it (Qt deleted it)
                self.iface.messageBar().popWidget(self._missing_message)
            self._missing_message = None

    def install_onnxruntime(self):
        """Install onnxruntime into ``<profile>/python/mosaic_deps`` with pip run by QGIS's own Python, showing its
        log (pip's harmless noise left out)."""
        from .process_log_dialog import ProcessLogDialog

        try:
            python = deps.qgis_python()
        except FileNotFoundError as exc:
            self._message(str(exc), Qgis.MessageLevel.Critical)
            return None
        if not deps.pip_available(python):
            self._message(tr(deps.PIP_MISSING).format(python), Qgis.MessageLevel.Critical)
            return None
        gpu = self._offered is not None and self.gpu_build.isVisibleTo(self.deps_box) and self.gpu_build.isChecked()
        argv, constraints = deps.install_command(python=python, package=self._offered.package if gpu else deps.PACKAGE)
        dialog = ProcessLogDialog(tr("Installing onnxruntime"), [argv], self, hide_line=deps.is_pip_noise)

        def done(ok: bool) -> None:
            constraints.unlink(missing_ok=True)
            self.refresh_dependencies()
            level = Qgis.MessageLevel.Success if ok else Qgis.MessageLevel.Critical
            text = tr("onnxruntime installed.") if ok else tr("Installing onnxruntime failed: see the log window.")
            self.iface.messageBar().pushMessage(MESSAGE_TITLE, text, level, 10)

        dialog.finished_all.connect(done)
        dialog.show()
        dialog.start()
        return dialog

    # -- layers, model and bands ------------------------------------------------------------------
    def _layers_added(self, *_args) -> None:
        self.pick_default_layers()
        self.refresh_mapping()

    def pick_default_layers(self) -> None:
        """Offer an S2 layer in the S2 picker and an S1 layer in the S1 picker (QGIS lists layers alphabetically, and
        ``S1_…_VH`` would come first in both), unless the user chose one, emptied the picker (a one-modality run) or
        a layer of that modality is shown already."""
        if not deps.onnxruntime_available():
            return
        layers = project_rasters()
        for modality, combo in (("S2", self.s2_combo), ("S1", self.s1_combo)):
            current = combo.currentLayer()
            # a picker that showed nothing before shows QGIS's first layer now: not a choice to keep
            kept = self._shown.get(modality) is not None and current is not None and self._holds(current, modality)
            self._shown[modality] = current.id() if current is not None else None
            if modality in self._user_picked or kept:
                continue
            preferred = preferred_layer(layers, modality)  # None: no such layer, a one-modality run of the other
            blocked = combo.blockSignals(True)
            combo.setLayer(preferred)
            combo.blockSignals(blocked)
            self._shown[modality] = preferred.id() if preferred is not None else None

    @staticmethod
    def _holds(layer: QgsRasterLayer, modality: str) -> bool:
        from .layer_picks import is_modality

        return any(name is not None and is_modality(name, modality) for name in layer_bands(layer))

    def open_published_dialog(self):
        """*Get a published model…*: the catalogue, getting one in the backend Python; the model it makes becomes
        the dock's. The dock keeps the dialog (one; raised when open)."""
        from .published_dialog import PublishedModelDialog

        if self.published_dialog is None:
            self.published_dialog = PublishedModelDialog(self.iface, self.iface.mainWindow())
            self.published_dialog.model_ready.connect(self.set_model_path)
        else:
            self.published_dialog.refresh()
        self.published_dialog.show()
        self.published_dialog.raise_()
        self.published_dialog.activateWindow()
        return self.published_dialog

    def set_model_path(self, path: str) -> None:
        """Use the model at ``path`` (e.g. just trained by the training dialog)."""
        if path == self.model_file.filePath():
            self.load_model_info()  # the same file rewritten (retrained): fileChanged does not fire
        else:
            self.model_file.setFilePath(path)  # fileChanged → load_model_info, once

    def load_model_info(self, *_args) -> None:
        """Read the model (opened as a run would open it, without graph optimisation): its card and how it runs
        here (precision, execution provider, the int8 copy on the CPU), then detect the band mapping for its bands."""
        path = self.model_file.filePath().strip()
        self.metadata = None
        if not path or not deps.onnxruntime_available():
            self.model_panel.show_prompt()
            self._fill_mapping({})
            return
        from ..backend.inference.model import OnnxModel
        from ..backend.inference.run_info import model_run_info

        provider = self.requested_provider()
        try:
            model = OnnxModel(path, threads=1, providers=[provider] if provider else None, optimise=False)
            info = model_run_info(model)
        except MosaicError as exc:
            self.model_panel.show_error(str(exc))
            self.iface.messageBar().pushMessage(MESSAGE_TITLE, str(exc), Qgis.MessageLevel.Critical, 10)
            self._fill_mapping({})
            return
        self.metadata = model.metadata
        self.model_panel.show_model(self.metadata, info)
        if self.stride.value() > self.metadata.patch_size_px:
            self.stride.setValue(self.metadata.patch_size_px)
        self.stride.setMaximum(self.metadata.patch_size_px)
        self._show_stride_metres()
        self.refresh_mapping()

    def refresh_mapping(self, *_args) -> None:
        """Detect which layer band feeds each model band (editable in the table)."""
        if self.metadata is None:
            self._fill_mapping({})
            return
        s2_layer, s1_layer = self.s2_combo.currentLayer(), self.s1_combo.currentLayer()
        s2 = detect_mapping(self.metadata.s2.bands, s2_layer) if s2_layer is not None else {}
        s1 = detect_mapping(self.metadata.s1.bands, s1_layer) if s1_layer is not None else {}
        self._fill_mapping({**{("S2", k): v for k, v in s2.items()}, **{("S1", k): v for k, v in s1.items()}})
        # a cloud layer marks what S2 cannot see: with S1, for the S1-only head; with S2 alone, cloudy tiles are nodata
        usable = s2_layer is not None and ("s1" in self.metadata.heads or s1_layer is None)
        if usable and self.cloud_combo.currentLayer() is None:
            self.cloud_combo.setLayer(find_cloud_layer(s2_layer, project_rasters()))
        self._detected = self.mapping()  # as the band resolver found it: a run resolves these layers alike

    def _fill_mapping(self, mapping: dict) -> None:
        table = self.mapping_table
        table.setRowCount(0)
        choices = self._band_choices() if mapping else []
        for row, ((modality, name), source) in enumerate(mapping.items()):
            table.insertRow(row)
            item = QTableWidgetItem(f"{modality} {name}")
            item.setData(Qt.ItemDataRole.UserRole, (modality, name))
            table.setItem(row, 0, item)
            combo = narrow(QComboBox(table), 10)
            combo.addItem(tr("— missing —"), None)
            for text, full, choice in choices:
                combo.addItem(text, choice)
                combo.setItemData(combo.count() - 1, full, Qt.ItemDataRole.ToolTipRole)
            if source is not None:
                combo.setCurrentIndex(next((i for i in range(combo.count()) if combo.itemData(i) == source), 0))
            combo.setToolTip(combo.itemData(combo.currentIndex(), Qt.ItemDataRole.ToolTipRole) or "")
            combo.currentIndexChanged.connect(self._update_mapping_warning)
            table.setCellWidget(row, 1, combo)
        table.resizeColumnToContents(0)
        self._fit_table_height()
        self._update_mapping_warning()

    def _band_choices(self) -> list[tuple[str, str, BandSource]]:
        """``(shown text, full text, source)`` of every band of every raster in the layer tree: the band first
        (``B02``), then the layer's short name; the full layer name in the tooltip."""
        choices = []
        for node in QgsProject.instance().layerTreeRoot().findLayers():
            layer = node.layer()
            if not isinstance(layer, QgsRasterLayer):
                continue
            names = layer_bands(layer) if deps.onnxruntime_available() else [None] * layer.bandCount()
            for band in range(1, layer.bandCount() + 1):
                recognised = names[band - 1]
                label = recognised or layer.bandName(band)
                where = short_name(layer.name(), recognised)
                suffix = f" ({tr('band')} {band})" if layer.bandCount() > 1 else ""
                choices.append(
                    (f"{label} · {where}{suffix}", f"{layer.name()} · {layer.bandName(band)}", BandSource(layer, band))
                )
        return choices

    def _fit_table_height(self) -> None:
        """Every row visible: the settings scroll, not the table."""
        table = self.mapping_table
        rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
        table.setFixedHeight(rows + table.horizontalHeader().height() + 2 * table.frameWidth())

    def mapping(self) -> dict[tuple[str, str], BandSource | None]:
        """The band mapping as shown in the table: ``(modality, band) → source``."""
        out = {}
        for row in range(self.mapping_table.rowCount()):
            key = self.mapping_table.item(row, 0).data(Qt.ItemDataRole.UserRole)
            out[tuple(key)] = self.mapping_table.cellWidget(row, 1).currentData()
        return out

    def _update_mapping_warning(self, *_args) -> None:
        gaps = missing({f"{m} {b}": s for (m, b), s in self.mapping().items()})
        if gaps:
            self.mapping_warning.setText(
                tr(
                    "Missing bands: {0}. Load the layers that hold them (bands are recognised by their band "
                    "description, layer or file name, such as …_B02.tif or …_VV.tif), or pick them in the table."
                ).format(", ".join(gaps))
            )
        else:
            self.mapping_warning.setText("")
        self.mapping_warning.setVisible(bool(gaps))

    def _project_saved(self) -> None:
        """…or saved: the runs' folder follows the project; warn when it refers to temporary files."""
        self._show_output_path()
        self.warn_temporary_layers()

    def warn_temporary_layers(self) -> None:
        """After a save: warn when the project's layers lie in the temporary folder (gone after a restart)."""
        names = temporary_layers()
        if names:
            self._message(
                tr(
                    "This project refers to {0} layer(s) in the temporary folder ({1}): they may be gone after a "
                    "restart. Choose an output folder outside it in the MoSAiC dock and run again."
                ).format(len(names), ", ".join(names[:3]) + ("…" if len(names) > 3 else "")),
                Qgis.MessageLevel.Warning,
            )

    def _message(self, text: str, level) -> None:
        self.iface.messageBar().pushMessage(
            MESSAGE_TITLE, text, level, 0 if level == Qgis.MessageLevel.Critical else 10
        )

    def shutdown(self) -> None:
        """Cancel a running task and wait for it (plugin unload / QGIS exit must not leave it running)."""
        task = self.task
        if task is not None:
            task.on_finished = None
            task.cancel()
            task.waitForFinished(60000)
            task.reader.close()
            self._remove_run_dir()
            self.task = None
        self._clear_missing_message()
        if self.published_dialog is not None:
            self.published_dialog.stop()  # a download or import that is running
            self.published_dialog.close()
            self.published_dialog.deleteLater()
            self.published_dialog = None
        project = QgsProject.instance()
        for signal, slot in (
            (project.cleared, self.cancel),
            (project.legendLayersAdded, self._layers_added),
            (project.layersRemoved, self.refresh_mapping),
            (project.projectSaved, self._project_saved),
            (project.readProject, self._show_output_path),
            (project.cleared, self._show_output_path),
            (project.cleared, self._user_picked.clear),
        ):
            with contextlib.suppress(TypeError):
                signal.disconnect(slot)

"""The classification dock: layers, band mapping, model, extent and run options; runs a background task."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from datetime import datetime
from html import escape
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..backend.errors import MosaicError
from . import deps, settings
from .band_mapping import BandSource, detect_mapping, find_cloud_layer, missing, project_rasters
from .input_options import LABELS, S1_ORDERS, S1_UNITS, S2_OFFSETS, S2_SCALES, dock_hint, value_text

EXTENT_MODES = ("layer", "canvas", "selection")
MESSAGE_TITLE = "MoSAiC"


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicDock", text)


def run_folder_name(run_name: str) -> str:
    """A file-system-safe folder name for ``run_name``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_name).strip("_")


def metadata_html(meta) -> str:
    """Model metadata as short rich text: classes, bands, resolution, strategy, training data, metrics, precision.

    Free-text fields come from the (untrusted) model file and are HTML-escaped: a class name like
    ``<img src="/some/file">`` is shown as text, never rendered or loaded by Qt's rich-text engine.
    """
    swatches = " ".join(
        f'<span style="color:{c}">■</span>&nbsp;{escape(n)}' for n, c in zip(meta.class_names, meta.class_colors)
    )
    metrics = ", ".join(f"{escape(k)} = {v:.3f}" for k, v in sorted(meta.metrics.items())) or tr("none recorded")
    return (
        f"<b>{len(meta.class_names)} {tr('classes')}</b>: {swatches}<br>"
        f"<b>S2</b>: {' '.join(meta.s2.bands)} · <b>S1</b>: {' '.join(meta.s1.bands)}<br>"
        f"<b>{tr('Resolution')}</b>: {meta.gsd_m:g} m, {meta.patch_size_px} px {tr('patches')} "
        f"({meta.patch_size_px * meta.gsd_m / 1000:g} km), {tr('upsampling')} {meta.upsampling}<br>"
        f"<b>{tr('Strategy')}</b>: {escape(meta.strategy)} · "
        f"<b>{tr('Training data')}</b>: {escape(str(meta.training.get('dataset', '?')))}<br>"
        f"<b>{tr('Metrics')}</b>: {metrics}<br>"
        f"<b>{tr('Heads')}</b>: {heads_html(meta)}<br>"
        f"<b>{tr('Precision')}</b>: {precision_html(meta)}"
    )


def heads_html(meta) -> str:
    """The model's classification heads: fused, and the S1-only (radar, used under clouds) and S2-only ones, each
    with its recorded macro AP on the test split and on the snow / cloud / shadow patches."""
    names = {"fused": tr("fused S1+S2"), "s1": tr("S1 only (radar, under clouds)"), "s2": tr("S2 only (no S1)")}
    shown = (("test/ap_macro", tr("test AP")), ("cloudy/ap_macro", tr("cloudy AP")))

    def head(name: str) -> str:
        metrics = meta.metrics_for(name)
        scores = ", ".join(f"{label} {metrics[key]:.3f}" for key, label in shown if key in metrics)
        return names[name] + (f" ({scores})" if scores else "")

    text = ", ".join(head(h) for h in meta.heads)
    return text if "s1" in meta.heads else text + " · " + tr("no cloud mask (exported before per-modality heads)")


def precision_html(meta) -> str:
    """The file's precision; for fp16 / int8 its test metrics next to the fp32 graph's (same patches)."""
    pairs = ", ".join(
        f"{escape(k)} = {v:.3f} ({tr('fp32')} {ref:.3f})" for k, (v, ref) in meta.precision_metrics.items()
    )
    return escape(meta.precision) + (f" · {pairs}" if pairs else "")


class MosaicDock(QDockWidget):
    """Pick S2/S1 layers, map bands, choose a model and an extent, run tiled inference as a QgsTask."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(tr("MoSAiC land cover"), parent)
        self.iface = iface
        self.setObjectName("mosaicDock")
        self.metadata = None
        self.task = None
        self.last_result = None
        self.last_error = ""
        self._run_dir: Path | None = None
        self._detected: dict[tuple[str, str], BandSource | None] = {}  #: the mapping as detected, before edits
        self._build_ui()
        self._load_settings()
        QgsProject.instance().cleared.connect(self.cancel)
        # legendLayersAdded, not layersAdded: the table lists layer-tree layers, in the tree only by then
        QgsProject.instance().legendLayersAdded.connect(self.refresh_mapping)
        QgsProject.instance().layersRemoved.connect(self.refresh_mapping)
        self.refresh_dependencies()

    # -- UI ---------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        body = QWidget(self)
        layout = QVBoxLayout(body)

        self.deps_box = QGroupBox(tr("onnxruntime is missing"), body)
        deps_layout = QVBoxLayout(self.deps_box)
        self.deps_label = QLabel(
            tr(
                "MoSAiC runs models with the Python package onnxruntime, which this QGIS does not have. "
                "Install it into a private folder of your QGIS profile (QGIS's own packages stay untouched)."
            ),
            self.deps_box,
        )
        self.deps_label.setWordWrap(True)
        self.install_button = QPushButton(tr("Install onnxruntime"), self.deps_box)
        self.install_button.clicked.connect(self.install_onnxruntime)
        deps_layout.addWidget(self.deps_label)
        deps_layout.addWidget(self.install_button)
        layout.addWidget(self.deps_box)

        inputs = QFormLayout()
        self.s2_combo = QgsMapLayerComboBox(body)
        self.s2_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.s2_combo.setToolTip(tr("Sentinel-2 L2A: one stacked layer, or one of the band layers (B02, B03…)"))
        self.s1_combo = QgsMapLayerComboBox(body)
        self.s1_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.s1_combo.setToolTip(tr("Sentinel-1 GRD in dB: a VV+VH stack or one of the VV/VH layers"))
        inputs.addRow(tr("Sentinel-2 layer"), self.s2_combo)
        inputs.addRow(tr("Sentinel-1 layer"), self.s1_combo)
        self.cloud_combo = QgsMapLayerComboBox(body)
        self.cloud_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.cloud_combo.setAllowEmptyLayer(True)
        self.cloud_combo.setLayer(None)
        self.cloud_combo.setToolTip(
            tr(
                "Optional, for models with an S1-only head: a Sentinel-2 scene classification "
                "(SCL) layer, a binary cloud mask or a cloud probability, any CRS. Tiles more "
                "than the cloudy fraction under cloud are classified from radar alone. An SCL "
                "layer or band beside the S2 bands is picked automatically."
            )
        )
        inputs.addRow(tr("Cloud mask"), self.cloud_combo)
        self.model_file = QgsFileWidget(body)
        self.model_file.setFilter(tr("MoSAiC ONNX model (*.onnx)"))
        inputs.addRow(tr("Model"), self.model_file)
        layout.addLayout(inputs)
        self.model_info = QLabel(tr("Choose a model exported by MoSAiC (.onnx)."), body)
        self.model_info.setWordWrap(True)
        self.model_info.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.model_info)

        mapping_box = QGroupBox(tr("Band mapping"), body)
        mapping_layout = QVBoxLayout(mapping_box)
        self.mapping_table = QTableWidget(0, 2, mapping_box)
        self.mapping_table.setHorizontalHeaderLabels([tr("Model band"), tr("Layer and band")])
        self.mapping_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.mapping_table.verticalHeader().setVisible(False)
        self.mapping_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.mapping_warning = QLabel(mapping_box)
        self.mapping_warning.setWordWrap(True)
        self.mapping_warning.setStyleSheet("color: #b00020")
        detect_button = QPushButton(tr("Detect bands again"), mapping_box)
        detect_button.clicked.connect(self.refresh_mapping)
        mapping_layout.addWidget(self.mapping_table)
        mapping_layout.addWidget(self.mapping_warning)
        mapping_layout.addWidget(detect_button)
        layout.addWidget(mapping_box)

        options = QFormLayout()
        self.extent_combo = QComboBox(body)
        for mode, text in zip(EXTENT_MODES, (tr("Whole S2 layer"), tr("Map canvas"), tr("Selected polygons"))):
            self.extent_combo.addItem(text, mode)
        options.addRow(tr("Extent"), self.extent_combo)
        self.stride = QSpinBox(body)
        self.stride.setRange(1, 4096)
        self.stride.setSuffix(tr(" px"))
        self.stride.setToolTip(tr("Step between tiles; smaller than the patch size averages overlapping tiles"))
        options.addRow(tr("Stride"), self.stride)
        self.batch_size = QSpinBox(body)
        self.batch_size.setRange(1, 1024)
        options.addRow(tr("Batch size"), self.batch_size)
        self.provider_combo = QComboBox(body)
        self.provider_combo.setToolTip(tr("onnxruntime execution provider (GPU providers appear when installed)"))
        options.addRow(tr("Run on"), self.provider_combo)
        self.output_dir = QgsFileWidget(body)
        self.output_dir.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.output_dir.lineEdit().setPlaceholderText(tr("temporary folder (mosaic_runs)"))
        options.addRow(tr("Output folder"), self.output_dir)
        self.write_tiles = QCheckBox(tr("Also write the tile grid (GeoPackage)"), body)
        options.addRow("", self.write_tiles)
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
            combo = QComboBox(body)
            for value in values:
                combo.addItem(tr("auto") if value == "auto" else value_text(option, value), value)
            combo.setToolTip(tips[option])
            options.addRow(LABELS[option], combo)
            self.input_choices[option] = combo
        layout.addLayout(options)

        buttons = QHBoxLayout()
        self.run_button = QPushButton(tr("Run"), body)
        self.run_button.setObjectName("mosaicRunButton")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton(tr("Cancel"), body)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.progress = QProgressBar(body)
        self.progress.setRange(0, 100)
        self.status = QLabel(body)
        self.status.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.setWidget(scroll)

        self.s2_combo.layerChanged.connect(self.refresh_mapping)
        self.s1_combo.layerChanged.connect(self.refresh_mapping)
        self.model_file.fileChanged.connect(self.load_model_info)

    def _load_settings(self) -> None:
        self.stride.setValue(settings.value("stride_px"))
        self.batch_size.setValue(settings.value("batch_size"))
        self.output_dir.setFilePath(settings.value("output_dir"))
        self.write_tiles.setChecked(settings.value("write_tiles"))
        self.extent_combo.setCurrentIndex(max(self.extent_combo.findData(settings.value("extent_mode")), 0))
        self.model_file.setFilePath(settings.value("model_path"))
        for option, combo in self.input_choices.items():
            combo.setCurrentIndex(max(combo.findData(settings.value(option)), 0))

    def _save_settings(self) -> None:
        settings.set_value("stride_px", self.stride.value())
        settings.set_value("batch_size", self.batch_size.value())
        settings.set_value("output_dir", self.output_dir.filePath())
        settings.set_value("write_tiles", self.write_tiles.isChecked())
        settings.set_value("extent_mode", self.extent_combo.currentData())
        settings.set_value("model_path", self.model_file.filePath())
        settings.set_value("provider", self.provider_combo.currentText())
        for option, combo in self.input_choices.items():
            settings.set_value(option, combo.currentData())

    # -- dependencies -----------------------------------------------------------------------------
    def refresh_dependencies(self) -> None:
        """Show the install box when onnxruntime is missing; list its execution providers otherwise."""
        available = deps.onnxruntime_available()
        self.deps_box.setVisible(not available)
        self.provider_combo.clear()
        self.provider_combo.addItems(deps.available_providers())
        index = self.provider_combo.findText(settings.value("provider"))
        self.provider_combo.setCurrentIndex(max(index, 0))
        self.run_button.setEnabled(available and self.task is None)
        if not available:
            self.iface.messageBar().pushMessage(
                MESSAGE_TITLE,
                tr("onnxruntime is missing: open the MoSAiC dock and click 'Install onnxruntime'."),
                Qgis.MessageLevel.Warning,
                10,
            )
        else:
            self.load_model_info()

    def install_onnxruntime(self):
        """Install onnxruntime into ``<profile>/python/mosaic_deps`` with pip, showing its log."""
        from .process_log_dialog import ProcessLogDialog

        python = deps.qgis_python()
        if not deps.pip_available(python):
            self.iface.messageBar().pushMessage(
                MESSAGE_TITLE, tr(deps.PIP_MISSING).format(python), Qgis.MessageLevel.Critical, 0
            )
            return None
        argv, constraints = deps.install_command()
        dialog = ProcessLogDialog(tr("Installing onnxruntime"), [argv], self)

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

    # -- model and bands --------------------------------------------------------------------------
    def set_model_path(self, path: str) -> None:
        """Use the model at ``path`` (e.g. just trained by the training dialog)."""
        if path == self.model_file.filePath():
            self.load_model_info()  # the same file rewritten (retrained): fileChanged does not fire
        else:
            self.model_file.setFilePath(path)  # fileChanged → load_model_info, once

    def load_model_info(self, *_args) -> None:
        """Read and show the model's metadata, then detect the band mapping for its bands."""
        path = self.model_file.filePath().strip()
        self.metadata = None
        if not path or not deps.onnxruntime_available():
            self.model_info.setText(tr("Choose a model exported by MoSAiC (.onnx)."))
            self._fill_mapping({})
            return
        from ..backend.inference import read_metadata

        try:
            self.metadata = read_metadata(path)
        except MosaicError as exc:
            self.model_info.setText(f'<span style="color:#b00020">{exc}</span>')
            self.iface.messageBar().pushMessage(MESSAGE_TITLE, str(exc), Qgis.MessageLevel.Critical, 10)
            self._fill_mapping({})
            return
        self.model_info.setText(metadata_html(self.metadata))
        if self.stride.value() > self.metadata.patch_size_px:
            self.stride.setValue(self.metadata.patch_size_px)
        self.stride.setMaximum(self.metadata.patch_size_px)
        self.refresh_mapping()

    def refresh_mapping(self, *_args) -> None:
        """Detect which layer band feeds each model band (editable in the table)."""
        if self.metadata is None:
            self._fill_mapping({})
            return
        s2 = detect_mapping(self.metadata.s2.bands, self.s2_combo.currentLayer())
        s1 = detect_mapping(self.metadata.s1.bands, self.s1_combo.currentLayer())
        self._fill_mapping({**{("S2", k): v for k, v in s2.items()}, **{("S1", k): v for k, v in s1.items()}})
        if "s1" in self.metadata.heads and self.cloud_combo.currentLayer() is None:
            self.cloud_combo.setLayer(find_cloud_layer(self.s2_combo.currentLayer(), project_rasters()))
        self._detected = self.mapping()  # as the band resolver found it: a run resolves these layers alike

    def _fill_mapping(self, mapping: dict) -> None:
        table = self.mapping_table
        table.setRowCount(0)
        layers = [
            node.layer()
            for node in QgsProject.instance().layerTreeRoot().findLayers()
            if isinstance(node.layer(), QgsRasterLayer)
        ]
        for row, ((modality, name), source) in enumerate(mapping.items()):
            table.insertRow(row)
            item = QTableWidgetItem(f"{modality} {name}")
            item.setData(Qt.ItemDataRole.UserRole, (modality, name))
            table.setItem(row, 0, item)
            combo = QComboBox(table)
            combo.addItem(tr("— missing —"), None)
            for layer in layers:
                for band in range(1, layer.bandCount() + 1):
                    combo.addItem(f"{layer.name()} · {layer.bandName(band)}", BandSource(layer, band))
            if source is not None:
                combo.setCurrentIndex(next((i for i in range(combo.count()) if combo.itemData(i) == source), 0))
            combo.currentIndexChanged.connect(self._update_mapping_warning)
            table.setCellWidget(row, 1, combo)
        table.resizeColumnToContents(0)
        self._update_mapping_warning()

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

    # -- extent -----------------------------------------------------------------------------------
    def extent_in(self, layer: QgsRasterLayer) -> tuple[QgsRectangle | None, list[str] | None]:
        """The chosen extent in ``layer``'s CRS (None = whole layer) and, for selected polygons, their WKT."""
        mode = self.extent_combo.currentData()
        project = QgsProject.instance()
        if mode == "canvas":
            canvas = self.iface.mapCanvas()
            transform = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), layer.crs(), project)
            return transform.transformBoundingBox(canvas.extent()), None
        if mode == "selection":
            box = QgsRectangle()
            box.setMinimal()
            polygons = []
            for candidate in project.mapLayers().values():
                if (
                    isinstance(candidate, QgsVectorLayer)
                    and candidate.geometryType() == QgsWkbTypes.GeometryType.PolygonGeometry
                    and candidate.selectedFeatureCount()
                ):
                    transform = QgsCoordinateTransform(candidate.crs(), layer.crs(), project)
                    for feature in candidate.selectedFeatures():
                        geometry = feature.geometry()
                        geometry.transform(transform)
                        box.combineExtentWith(geometry.boundingBox())
                        polygons.append(geometry.asWkt())
            if not polygons:
                raise MosaicError(tr("No polygons are selected: select polygons, or choose another extent."))
            return box, polygons
        return None, None

    # -- run --------------------------------------------------------------------------------------
    def run(self):
        """Start the classification task; returns it (or None when the inputs are not complete)."""
        from . import classify
        from .task import ClassifyTask

        if self.task is not None:
            return None
        if self.metadata is None:
            self._message(tr("Choose a valid MoSAiC model first."), Qgis.MessageLevel.Warning)
            return None
        mapping = self.mapping()
        gaps = [f"{m} {b}" for (m, b), s in mapping.items() if s is None]
        if gaps:
            self._message(
                tr("Map every model band first; missing: {0}.").format(", ".join(gaps)), Qgis.MessageLevel.Warning
            )
            return None
        self._save_settings()
        s2 = [mapping[("S2", b)] for b in self.metadata.s2.bands]
        s1 = [mapping[("S1", b)] for b in self.metadata.s1.bands]
        edited = {m for (m, b), source in mapping.items() if self._detected.get((m, b)) != source}
        model_path = self.model_file.filePath()
        run_name = f"MoSAiC {Path(model_path).stem} {datetime.now():%Y-%m-%d %H.%M.%S}"
        base = self.output_dir.filePath().strip() or str(Path(tempfile.gettempdir()) / "mosaic_runs")
        self._run_dir = Path(base) / run_folder_name(run_name)
        request = classify.ClassifyRequest(
            model_path=model_path,
            s2=list({source.layer.id(): source.layer for source in s2}.values()),
            s1=list({source.layer.id(): source.layer for source in s1}.values()),
            outputs=classify.default_outputs(self._run_dir, self.write_tiles.isChecked()),
            stride=self.stride.value(),
            batch_size=self.batch_size.value(),
            execution_provider=self.provider_combo.currentText() or None,
            # bands mapped by hand are used as they are; detected ones are resolved again with the S1 order
            s2_bands=s2 if "S2" in edited else None,
            s1_bands=s1 if "S1" in edited else None,
            cloud=self.cloud_combo.currentLayer(),
        )
        reader = None
        try:
            from .qgis_reader import finest_layer

            request.input_options = self.input_options()
            request.extent, request.polygons_wkt = self.extent_in(finest_layer(request.s2))
            model = classify.load_model(request)
            reader = classify.prepare(request, model.metadata, dock_hint)
            self._run_dir.mkdir(parents=True, exist_ok=False)
        except (MosaicError, OSError) as exc:
            if reader is not None:
                reader.close()
            text = str(exc) if isinstance(exc, MosaicError) else tr("Cannot create the output folder: {0}").format(exc)
            self._message(text, Qgis.MessageLevel.Critical)
            return None
        self.task = ClassifyTask(request, model, reader, run_name)
        self.task.progress_text.connect(self.status.setText)
        self.task.progressChanged.connect(lambda value: self.progress.setValue(round(value)))
        self.task.on_finished = self._task_finished
        self.progress.setValue(0)
        self.status.setText(tr("Starting…"))
        self.last_result, self.last_error = None, ""
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def input_options(self):
        """The engine's ``InputOptions`` of the dock's input choices."""
        from ..backend.inference.inspector import InputOptions

        s2_scale = self.input_choices["s2_scale"].currentData()
        return InputOptions(
            s2_offset=self.input_choices["s2_offset"].currentData(),
            s2_scale=None if s2_scale == "auto" else float(s2_scale),
            s1_units=self.input_choices["s1_units"].currentData(),
            s1_order=self.input_choices["s1_order"].currentData(),
        )

    def cancel(self, *_args) -> None:
        """Ask the running task to stop after the current batch (its partial files are removed)."""
        if self.task is not None:
            self.status.setText(tr("Cancelling…"))
            self.task.cancel()

    def _task_finished(self, task) -> None:
        self.task = None
        self.run_button.setEnabled(deps.onnxruntime_available())
        self.cancel_button.setEnabled(False)
        if task.result is not None:
            from .layers import add_result_layers

            self.last_result = task.result
            add_result_layers(task.result, task.run_name)
            self.progress.setValue(100)
            summary = task.result.summary
            text = tr("{0}: {1} tiles classified ({2} skipped as nodata) in {3:.1f} s; outputs in {4}").format(
                task.run_name, summary.tiles_run, summary.tiles_skipped, summary.seconds, self._run_dir
            )
            applied = task.result.extra["plan"].applied
            self.status.setText(text + "\n" + "\n".join(f"{topic}: {what}" for topic, what in applied.items()))
            self._message(text, Qgis.MessageLevel.Success)
            return
        task.reader.close()
        self._remove_run_dir()
        if task.cancelled_by_user:
            self.last_error = tr("Classification cancelled; nothing was kept.")
            self.status.setText(self.last_error)
            self.progress.setValue(0)
            self._message(self.last_error, Qgis.MessageLevel.Info)
        else:
            self.last_error = task.error or tr("Classification failed.")
            self.status.setText(self.last_error)
            self._message(self.last_error, Qgis.MessageLevel.Critical)

    def _remove_run_dir(self) -> None:
        """Remove the run's folder when a run left nothing in it (sinks delete their partial files)."""
        if self._run_dir is not None and self._run_dir.is_dir():
            leftovers = [p for p in self._run_dir.iterdir() if not p.name.startswith(".")]
            if not leftovers:
                shutil.rmtree(self._run_dir, ignore_errors=True)
        self._run_dir = None

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
        project = QgsProject.instance()
        for signal, slot in (
            (project.cleared, self.cancel),
            (project.legendLayersAdded, self.refresh_mapping),
            (project.layersRemoved, self.refresh_mapping),
        ):
            with contextlib.suppress(TypeError):
                signal.disconnect(slot)

"""The dock's classification runs: the extent, starting the background task, cancelling, and the result (layers,
status, *Open folder*, the probability layer's class, *Assess this map…*), with what the run used (provider,
precision, threads). :class:`RunControl` is a part of :class:`~.dock.MosaicDock`: it uses the dock's widgets and
settings."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication, QUrl
from qgis.PyQt.QtGui import QDesktopServices

from ..backend.errors import MosaicError
from . import deps
from .input_options import dock_hint
from .run_folder import run_folder_name


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicDock", text)


class RunControl:
    """Runs of :class:`~.dock.MosaicDock` (a mixin: the dock's widgets, :attr:`task`, :attr:`last_result`)."""

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
        if not mapping:
            self._message(tr("Choose a Sentinel-2 layer, a Sentinel-1 layer or both."), Qgis.MessageLevel.Warning)
            return None
        if gaps:
            self._message(
                tr("Map every model band first; missing: {0}.").format(", ".join(gaps)), Qgis.MessageLevel.Warning
            )
            return None
        self._save_settings()
        s2 = [mapping[("S2", b)] for b in self.metadata.s2.bands if ("S2", b) in mapping]
        s1 = [mapping[("S1", b)] for b in self.metadata.s1.bands if ("S1", b) in mapping]
        edited = {m for (m, b), source in mapping.items() if self._detected.get((m, b)) != source}
        model_path = self.model_file.filePath()
        run_name = f"MoSAiC {Path(model_path).stem} {datetime.now():%Y-%m-%d %H.%M.%S}"
        self._run_dir = self.run_base_dir() / run_folder_name(run_name)
        request = classify.ClassifyRequest(
            model_path=model_path,
            s2=list({source.layer.id(): source.layer for source in s2}.values()),
            s1=list({source.layer.id(): source.layer for source in s1}.values()),
            outputs=classify.default_outputs(self._run_dir, self.write_tiles.isChecked()),
            stride=self.stride.value(),
            batch_size=self.batch_size.value(),
            execution_provider=self.requested_provider(),
            # bands mapped by hand are used as they are; detected ones are resolved again with the S1 order; a
            # modality left out (its picker empty) makes a one-modality run with the model's S2- or S1-only head
            s2_bands=s2 if "S2" in edited and s2 else None,
            s1_bands=s1 if "S1" in edited and s1 else None,
            cloud=self.cloud_combo.currentLayer(),
        )
        reader = None
        try:
            from .qgis_reader import finest_layer

            request.input_options = self.input_options()
            request.extent, request.polygons_wkt = self.extent_in(finest_layer(request.s2 or request.s1))
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
            self._show_result(task)
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

    def _show_result(self, task) -> None:
        """Add the run's layers, report it in the status and the message bar, offer its folder and classes."""
        from .layers import add_result_layers

        self.last_result = task.result
        _group, added = add_result_layers(task.result, task.run_name)
        self.result_layers = {product: layer.id() for product, layer in added.items()}
        self.progress.setValue(100)
        summary = task.result.summary
        text = tr("{0}: {1} tiles classified ({2} skipped as nodata) in {3:.1f} s; outputs in {4}").format(
            task.run_name, summary.tiles_run, summary.tiles_skipped, summary.seconds, self._run_dir
        )
        done = tr("{0} tiles classified ({1} skipped as nodata) in {2:.1f} s {3}").format(
            summary.tiles_run, summary.tiles_skipped, summary.seconds, run_used(summary, task.request.threads)
        )
        notes = [task.model.provider_note] if task.model.provider_note else []
        applied = [f"{topic}: {what}" for topic, what in task.result.extra["plan"].applied.items()]
        self.status.setText("\n".join([done, *notes, tr("Outputs in {0}").format(self._run_dir), *applied]))
        self._message(text, Qgis.MessageLevel.Success)
        self._finished_dir, self._run_dir = self._run_dir, None
        self.open_folder_button.setEnabled(True)
        self.assess_button.setEnabled(True)
        self._offer_classes(task.result.class_names, "probabilities" in added)

    def _offer_classes(self, class_names, enabled: bool) -> None:
        blocked = self.probability_class.blockSignals(True)
        self.probability_class.clear()
        self.probability_class.addItems(list(class_names))
        self.probability_class.blockSignals(blocked)
        self.probability_class.setEnabled(enabled)

    def show_probability_of(self, index: int) -> None:
        """Show class ``index``'s probability in the last run's probability layer (if it is still there)."""
        from .layers import show_class_probability

        layer = QgsProject.instance().mapLayer(self.result_layers.get("probabilities", ""))
        if layer is not None and index >= 0 and self.last_result is not None:
            show_class_probability(layer, index + 1, self.last_result.class_names)

    def open_folder(self) -> bool:
        """Open the last run's folder in the system's file manager."""
        if self._finished_dir is None:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._finished_dir)))

    def assess_map(self):
        """*Assess this map…*: Processing's next step of the last run's accuracy assessment (a sample to label, then
        the assessment), filled in; the dock keeps the dialog while it is open."""
        from .accuracy_entry import assess_this_map

        if self._finished_dir is None:
            return None
        self.assess_dialog = assess_this_map(self._finished_dir, self)
        self.assess_dialog.setObjectName("mosaicAssessDialog")
        return self.assess_dialog

    def _remove_run_dir(self) -> None:
        """Remove the run's folder when a run left nothing in it (sinks delete their partial files)."""
        if self._run_dir is not None and self._run_dir.is_dir():
            leftovers = [p for p in self._run_dir.iterdir() if not p.name.startswith(".")]
            if not leftovers:
                shutil.rmtree(self._run_dir, ignore_errors=True)
        self._run_dir = None


def run_used(summary, threads: int | None) -> str:
    """What a run used: ``on CPU (CPUExecutionProvider), fp32 model, onnxruntime's default threads (one per
    core).`` (the providers the session really had, the file's precision, the threads asked for)."""
    from ..backend.inference.providers import describe

    threads_text = tr("{0} threads").format(threads) if threads else tr("onnxruntime's default threads (one per core)")
    return tr("on {0}, {1} model, {2}.").format(describe(summary.providers), summary.precision, threads_text)

"""Training dialog: runs ``mosaic train`` in the backend Python (a subprocess; torch never enters QGIS).

*Train* first checks the form against the dataset (its split sizes, read by the backend in about a second); with
*Start from* a published model, it fetches that model's checkpoints (``mosaic models get --no-import``) and starts
the strategy's encoders from them (``--model.init_published``, the backbone set to theirs); then it trains, reading
the JSON-lines progress stream into a progress bar, a live loss/metric plot and a log (known noise left out); Cancel
stops the process and keeps the checkpoints written so far; on success it evaluates the best checkpoint on the test
split (``mosaic evaluate``: thresholds tuned on validation, the test metrics the dock shows), exports the model with
them as ``<run folder>/<strategy>_<date>_<time>.onnx``, logs which accuracy is which (head, split) and emits
``model_ready(path)``, which the plugin hands to the dock.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from qgis.core import Qgis
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import QCoreApplication, Qt, pyqtSignal
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..backend.data.dataset_summary import METADATA, labelled_rows
from ..backend.training.log_noise import is_noise
from . import settings
from .backend_env import (
    CONFIG_DIR,
    ENV_DOWNLOAD_GB,
    dataset_overrides,
    dataset_summary_command,
    evaluate_command,
    evaluation_dir,
    export_command,
    model_path,
    models_get_command,
    published_heads_for,
    strategies_for_analysts,
    strategy_configs,
    strategy_text,
    train_command,
)
from .backend_process import BackendProcess
from .backend_setup import create_backend_env
from .evaluation_summary import accuracy_lines
from .loss_plot import LossPlot
from .process_log_dialog import ProcessLogDialog
from .progress_stream import percent

DEVICES = ("auto", "cpu", "gpu", "mps")
BACKBONES = ("", "resnet18", "resnet50", "convnextv2_atto", "convnextv2_tiny")  #: "" = as in the strategy
PLOTTED_METRICS = ("val/ap_macro", "val/ap_micro")  #: epoch metrics drawn next to the loss (all go to the log)
PREPARE_ALGORITHM = "mosaic:prepare"


def tr(text: str) -> str:
    return QCoreApplication.translate("TrainingDialog", text)


def field_labels() -> dict[str, str]:
    """The backend's setting names → the dialog's field names, for messages the analyst reads."""
    return {
        "protocol.batch_size": tr('"Batch size"'),
        "protocol.label_fraction": tr('"Label fraction"'),
        "protocol.epochs": tr('"Epochs"'),
        "trainer.accelerator": tr('"Device"'),
        "model.backbone": tr('"Backbone"'),
        "data.num_workers": tr('"Loader workers"'),
        "data.root": tr('"Dataset"'),
        "point root at": tr('choose as "Dataset"'),
    }


def in_dialog_words(message: str) -> str:
    """``message`` with the backend's setting names replaced by the dialog's field names."""
    for name, label in field_labels().items():
        message = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", label, message)
    return message


class TrainingDialog(QDialog):
    """Choose dataset, strategy and budget; train in the backend Python; get an ONNX model."""

    model_ready = pyqtSignal(str)

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.setObjectName("mosaicTrainingDialog")
        self.setWindowTitle(tr("Train a MoSAiC model"))
        self.resize(820, 760)
        self.last_checkpoint = ""
        self.best_checkpoint = ""
        self.onnx_path = ""
        self.failed_message = ""
        self.accuracy: list[str] = []  #: the evaluation's accuracy per head, the dock's figure first
        self.splits: dict[str, int] = {}  #: the dataset's patches per split, from the check before training
        self.prepare_dialog = None  #: Processing's "Prepare training dataset" dialog, kept while open
        self.env_dialog = None  #: the log of the backend environment's creation, kept while open
        self.published_folders: list[str] = []  #: the checkpoint folders that start the encoders (Start from)
        self._fetch_total, self._fetch_done = 0, {}  #: approximate bytes to fetch; done bytes per (model, file)
        self._stage = "idle"  # idle | check | fetch | train | evaluate | export | cancelled
        self._started = datetime.now()
        self.published_rows: dict[str, dict] = {}  #: the catalogue's three-head models by name
        self._build_ui()
        self._fill_start_from()
        self._load_settings()
        self.backend = BackendProcess(self)
        self.backend.progress.connect(self._handle_event)
        self.backend.output.connect(self._log_output)
        self.backend.ended.connect(self._process_finished)

    # -- UI ---------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        """The form above the progress, the live plot and the log; the buttons below."""
        form = QFormLayout()
        form.addRow(tr("Dataset"), self._dataset_row())
        form.addRow("", self.dataset_info)
        self._training_fields(form)
        form.addRow(tr("Backend Python"), self._python_row())
        self.progress = QProgressBar(self)
        self.status = QLabel(self)
        self.status.setObjectName("mosaicTrainStatus")
        self.status.setWordWrap(True)
        self.plot = LossPlot(self)
        self.log = QPlainTextEdit(self)
        self.log.setObjectName("mosaicTrainLog")
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setMaximumBlockCount(5000)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.plot)
        splitter.addWidget(self.log)
        splitter.setSizes([220, 140])
        top = QWidget(self)
        top.setLayout(form)
        layout = QVBoxLayout(self)
        layout.addWidget(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        layout.addLayout(self._buttons())

    def _dataset_row(self) -> QHBoxLayout:
        """The dataset folder, *Prepare…* (Processing's dataset builder) and what a dataset is."""
        self.dataset = QgsFileWidget(self)
        self.dataset.setObjectName("mosaicTrainDataset")
        self.dataset.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.prepare_button = QPushButton(tr("Prepare…"), self)
        self.prepare_button.setObjectName("mosaicPrepareButton")
        self.prepare_button.setToolTip(tr("Build a dataset from your rasters and labelled polygons (Processing)"))
        self.prepare_button.clicked.connect(self.open_prepare)
        self.dataset_info = QLabel(self.dataset_needs(), self)
        self.dataset_info.setObjectName("mosaicDatasetInfo")
        self.dataset_info.setWordWrap(True)
        self.dataset.fileChanged.connect(lambda *_: self.dataset_info.setText(self.dataset_needs()))
        row = QHBoxLayout()
        row.addWidget(self.dataset, 1)
        row.addWidget(self.prepare_button)
        return row

    @staticmethod
    def dataset_needs() -> str:
        return tr(
            "A folder with {0} and the patches in the BigEarthNet v2 layout: BigEarthNet v2 itself, or a dataset "
            "made from your own Sentinel-1/2 rasters and labelled polygons with Prepare…"
        ).format(METADATA)

    def _training_fields(self, form: QFormLayout) -> None:
        """Strategy (plain words, config name second), label fraction, epochs, batch, device, backbone, workers, run
        folder."""
        self.strategy = QComboBox(self)
        self.strategy.setObjectName("mosaicTrainStrategy")
        self.strategy.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.strategy.setMinimumContentsLength(40)  # the dialog keeps its size; the long words show in the list
        for name in strategies_for_analysts():
            self.strategy.addItem(strategy_text(name), name)
        self.strategy.setToolTip(tr("How the model learns; the name in brackets is the strategy's file in configs/"))
        form.addRow(tr("Strategy"), self.strategy)
        self.start_from = QComboBox(self)
        self.start_from.setObjectName("mosaicTrainStartFrom")
        self.start_from.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.start_from.setMinimumContentsLength(40)
        self.start_from.setToolTip(
            tr(
                "Start the encoders from a model the BigEarthNet v2.0 team published (trained on all BigEarthNet "
                "labels; MIT licence) instead of random weights: the label-scarce path for your own region. Its "
                "checkpoints are downloaded first; the backbone becomes theirs"
            )
        )
        self.start_from.currentIndexChanged.connect(self._start_from_changed)
        form.addRow(tr("Start from"), self.start_from)
        self.label_fraction = QDoubleSpinBox(self)
        self.label_fraction.setObjectName("mosaicTrainLabelFraction")
        self.label_fraction.setRange(0.01, 1.0)
        self.label_fraction.setSingleStep(0.05)
        self.label_fraction.setDecimals(2)
        self.label_fraction.setToolTip(
            tr(
                "Share of your training labels used. Keep 1.00 to use them all; lower values are for experiments "
                "(the paper's label-scarce setting is 0.10)"
            )
        )
        form.addRow(tr("Label fraction"), self.label_fraction)
        self.epochs = QSpinBox(self)
        self.epochs.setObjectName("mosaicTrainEpochs")
        self.epochs.setRange(1, 1000)
        form.addRow(tr("Epochs"), self.epochs)
        self.batch_size = QSpinBox(self)
        self.batch_size.setObjectName("mosaicTrainBatchSize")
        self.batch_size.setRange(1, 4096)
        self.batch_size.setToolTip(tr("Patches per training step; at most the number of training patches"))
        form.addRow(tr("Batch size"), self.batch_size)
        self.device = QComboBox(self)
        self.device.setObjectName("mosaicTrainDevice")
        self.device.addItems(DEVICES)
        form.addRow(tr("Device"), self.device)
        self.backbone = QComboBox(self)
        self.backbone.setObjectName("mosaicTrainBackbone")
        for name in BACKBONES:
            self.backbone.addItem(name or tr("as in the strategy"), name)
        self.backbone.setToolTip(tr("timm encoder of each modality (ResNet-18 trains fastest)"))
        form.addRow(tr("Backbone"), self.backbone)
        self.workers = QSpinBox(self)
        self.workers.setObjectName("mosaicTrainWorkers")
        self.workers.setRange(0, 64)
        self.workers.setToolTip(tr("Data-loader processes (0 = load in the training process)"))
        form.addRow(tr("Loader workers"), self.workers)
        self.output_dir = QgsFileWidget(self)
        self.output_dir.setObjectName("mosaicTrainRunFolder")
        self.output_dir.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        form.addRow(tr("Run folder"), self.output_dir)

    def _python_row(self) -> QHBoxLayout:
        self.python = QgsFileWidget(self)
        self.python.setObjectName("mosaicBackendPython")
        self.python.setToolTip(tr("Python interpreter with PyTorch and the MoSAiC backend installed"))
        self.create_env_button = QPushButton(tr("Create…"), self)
        self.create_env_button.setObjectName("mosaicCreateEnvButton")
        self.create_env_button.setToolTip(
            tr("Create a Python environment with PyTorch and the MoSAiC backend: downloads about {0} GB").format(
                ENV_DOWNLOAD_GB
            )
        )
        self.create_env_button.clicked.connect(self.create_backend_env)
        row = QHBoxLayout()
        row.addWidget(self.python, 1)
        row.addWidget(self.create_env_button)
        return row

    def _buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.train_button = QPushButton(tr("Train"), self)
        self.train_button.setObjectName("mosaicTrainButton")
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton(tr("Cancel"), self)
        self.cancel_button.setObjectName("mosaicTrainCancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close_button = QPushButton(tr("Close"), self)
        close_button.clicked.connect(self.close)
        buttons.addStretch(1)
        for button in (self.train_button, self.cancel_button, close_button):
            buttons.addWidget(button)
        return buttons

    def _load_settings(self) -> None:
        self.dataset.setFilePath(settings.value("train/dataset"))
        index = self.strategy.findData(settings.value("train/strategy"))
        self.strategy.setCurrentIndex(max(index, 0))
        self.label_fraction.setValue(settings.value("train/label_fraction"))
        self.epochs.setValue(settings.value("train/epochs"))
        self.batch_size.setValue(settings.value("train/batch_size"))
        self.device.setCurrentIndex(max(self.device.findText(settings.value("train/device")), 0))
        self.backbone.setCurrentIndex(max(self.backbone.findData(settings.value("train/backbone")), 0))
        self.start_from.setCurrentIndex(max(self.start_from.findData(settings.value("train/start_from")), 0))
        self.workers.setValue(settings.value("train/workers"))
        self.output_dir.setFilePath(settings.value("train/output_dir"))
        self.python.setFilePath(settings.value("backend_python"))

    def _save_settings(self) -> None:
        settings.set_value("train/dataset", self.dataset.filePath())
        settings.set_value("train/strategy", self.strategy.currentData())
        settings.set_value("train/label_fraction", self.label_fraction.value())
        settings.set_value("train/epochs", self.epochs.value())
        settings.set_value("train/batch_size", self.batch_size.value())
        settings.set_value("train/device", self.device.currentText())
        if not self.published_name():  # a published start sets the backbone; the analyst's own choice is kept
            settings.set_value("train/backbone", self.backbone.currentData())
        settings.set_value("train/start_from", self.published_name())
        settings.set_value("train/workers", self.workers.value())
        settings.set_value("train/output_dir", self.output_dir.filePath())
        settings.set_value("backend_python", self.python.filePath())

    # -- dataset and backend environment ----------------------------------------------------------
    def open_prepare(self):
        """Open Processing's *Prepare training dataset* (``mosaic:prepare``); the dialog is kept while open."""
        import processing

        self.prepare_dialog = processing.createAlgorithmDialog(PREPARE_ALGORITHM, {})
        if self.prepare_dialog is None:
            self._fail(
                tr("Processing has no {0} algorithm: enable the MoSAiC plugin's provider.").format(PREPARE_ALGORITHM)
            )
            return None
        self.prepare_dialog.setObjectName("mosaicPrepareDialog")
        self.prepare_dialog.show()
        return self.prepare_dialog

    def create_backend_env(self) -> ProcessLogDialog | None:
        """After the analyst agrees to its size and time, create the backend environment (:mod:`.backend_setup`);
        it becomes the dialog's "Backend Python"."""
        self.env_dialog = create_backend_env(
            self, tr("Training needs PyTorch, which QGIS does not have."), self.python.setFilePath, self._fail
        )
        return self.env_dialog

    # -- start from a published model -------------------------------------------------------------
    def _fill_start_from(self) -> None:
        """Random weights, then every published three-head model of the catalogue (its checkpoints hold an S1+S2,
        an S1-only and an S2-only encoder: what any strategy starts from)."""
        from ..backend.errors import MosaicError
        from .published_catalogue import catalogue_rows, three_head_rows

        self.start_from.addItem(tr("Random weights (as the strategy)"), "")
        try:
            rows = three_head_rows(catalogue_rows())
        except MosaicError as exc:
            rows = []
            self.start_from.setToolTip(str(exc))
        self.published_rows = {row["name"]: row for row in rows}
        for row in rows:
            self.start_from.addItem(
                tr("{0}: published encoders ({1}, about {2:,.0f} MB to download)").format(
                    row["name"], row["architecture"], row["approx_mb"]
                ),
                row["name"],
            )

    def published_name(self) -> str:
        """The published model chosen in *Start from* (``""``: random weights)."""
        return self.start_from.currentData() or ""

    def _start_from_changed(self, _index: int) -> None:
        """A published start fixes the backbone to the checkpoints' architecture (the run refuses any other)."""
        name = self.published_name()
        if name:
            architecture = self.published_rows[name]["architecture"]
            if self.backbone.findData(architecture) < 0:
                self.backbone.addItem(architecture, architecture)
            self.backbone.setCurrentIndex(self.backbone.findData(architecture))
        self.backbone.setEnabled(not name)

    # -- training ---------------------------------------------------------------------------------
    def start_training(self) -> None:
        """Check the form, then the dataset's split sizes against the batch size (backend, ~1 s), then train."""
        python = self.python.filePath().strip()
        if not python or not Path(python).is_file():
            self._fail(tr('Choose the "Backend Python" (a Python with PyTorch and MoSAiC), or click Create….'))
            return
        dataset = self.dataset.filePath().strip()
        if not dataset or not Path(dataset).is_dir():
            self._fail(tr('Choose a "Dataset" folder (or make one with Prepare…).'))
            return
        root = dataset_overrides(dataset)[0].split("=", 1)[1]
        if not (Path(root) / METADATA).is_file():
            self._fail(
                tr('"Dataset": {0} has no {1}; choose a BigEarthNet v2 folder or one made with Prepare….').format(
                    dataset, METADATA
                )
            )
            return
        if self.strategy.currentIndex() < 0:
            self._fail(tr("No training strategies found in {0}.").format(CONFIG_DIR))
            return
        out_dir = self.output_dir.filePath().strip() or str(Path(dataset).parent / "mosaic_runs")
        self.output_dir.setFilePath(out_dir)
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._fail(tr('Cannot create the "Run folder" {0}: {1}').format(out_dir, exc))
            return
        self._save_settings()
        self.last_checkpoint = self.best_checkpoint = self.onnx_path = self.failed_message = ""
        self.splits = {}
        self.published_folders = []
        self.plot.clear()
        self.log.clear()
        self.progress.setValue(0)
        self._start(dataset_summary_command(python, root), "check", tr("Checking the dataset…"), out_dir)

    def _start_training_run(self, run_dir: str) -> None:
        self._started = datetime.now()
        argv = train_command(
            self.python.filePath(),
            strategy_configs()[self.strategy.currentData()],
            self.dataset.filePath(),
            self.label_fraction.value(),
            self.epochs.value(),
            self.batch_size.value(),
            self.device.currentText(),
            self.backbone.currentData(),
            self.workers.value(),
            self.published_folders,
        )
        name = self.published_name()
        message = tr("Training from the published encoders of {0}…").format(name) if name else tr("Training…")
        self._start(argv, "train", message, run_dir)

    def published_checkpoints(self) -> list[str]:
        """The ids of the chosen published model's checkpoints that start the strategy's encoders (late fusion: the
        S1-only and S2-only ones; early fusion: the S1+S2 one; one modality: its own)."""
        heads = self.published_rows[self.published_name()]["heads"]
        return [heads[h] for h in published_heads_for(strategy_configs()[self.strategy.currentData()])]

    def _fetch_published(self, run_dir: str) -> None:
        """Download the checkpoints the strategy starts from (resumable, verified; no import)."""
        name = self.published_name()
        self._fetch_total, self._fetch_done = 0, {}
        self._start(
            models_get_command(self.python.filePath(), self.published_checkpoints(), download_only=True),
            "fetch",
            tr("Fetching the published checkpoints of {0}…").format(name),
            run_dir,
        )

    def batch_problem(self) -> str:
        """Why the form cannot train on the dataset's split sizes (:attr:`splits`), or ``""``."""
        train, fraction, batch = self.splits.get("train", 0), self.label_fraction.value(), self.batch_size.value()
        kept = labelled_rows(train, fraction)
        if not self.splits.get("validation"):
            return tr('"Dataset" has no validation patches: prepare it again (Prepare… splits train/validation/test).')
        if kept < batch:
            return tr(
                '"Batch size" {0} is larger than the {1} training patches "Label fraction" {2:g} keeps (of {3}): '
                'lower "Batch size" to {1} or less{4}.'
            ).format(batch, kept, fraction, train, tr(' or raise "Label fraction"') if kept < train else "")
        return ""

    def _start(self, argv: list[str], stage: str, message: str, run_dir: str) -> None:
        self._stage = stage
        self.status.setText(message)
        self.log.appendPlainText("$ " + " ".join(argv))
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.backend.start(argv, run_dir)

    def _log_output(self, line: str) -> None:
        if not is_noise(line):
            self.log.appendPlainText(line)

    def cancel(self, wait_s: float = 0) -> None:
        """Stop the running step; checkpoints written so far stay on disk.

        :meth:`BackendProcess.stop <mosaic.plugin.backend_process.BackendProcess.stop>`: an interrupt (Ctrl-C: the
        backend finishes the running step and saves ``interrupted.ckpt``), a second one after 15 s (it saves at
        once), a kill after 60 s. ``wait_s`` > 0 blocks until it has stopped, killing it after ``wait_s`` (used
        when the dialog closes).
        """
        if not self.is_running():
            return
        self._stage = "cancelled"
        self.status.setText(tr("Stopping… (saving a checkpoint)"))
        if wait_s:
            self.backend.stop(wait=True, timeout_s=wait_s)
        else:
            self.backend.stop()

    def is_running(self) -> bool:
        return self.backend.is_running()

    def _handle_event(self, event: dict) -> None:
        if self._stage == "fetch":
            self._fetch_event(event)
            return
        kind = event["event"]
        value = percent(event)
        if value is not None and self._stage == "train":
            self.progress.setValue(round(value))
        if kind == "dataset":
            self.splits = {k: int(v) for k, v in event.get("splits", {}).items()}
            self.dataset_info.setText(
                tr("{0} training, {1} validation and {2} test patches").format(
                    self.splits.get("train", 0), self.splits.get("validation", 0), self.splits.get("test", 0)
                )
            )
        elif kind == "start":
            self.status.setText(
                tr("Training: {0} epochs, {1} steps").format(event.get("max_epochs"), event.get("total_steps"))
            )
        elif kind == "step":
            if event.get("loss") is not None:
                self.plot.add_point(tr("loss"), event["step"], event["loss"])
        elif kind == "epoch":
            last_step = self.plot.x_range()[1]
            for name, metric in sorted(event.get("metrics", {}).items()):
                if name in PLOTTED_METRICS:
                    self.plot.add_point(name, last_step, metric)
            self.log.appendPlainText(
                tr("epoch {0}: ").format(event.get("epoch"))
                + ", ".join(f"{k}={v:.4g}" for k, v in sorted(event.get("metrics", {}).items()))
            )
        elif kind == "checkpoint":
            self.last_checkpoint = self._in_run_folder(event["path"])
        elif kind == "done":
            best = event.get("best_checkpoint") or event.get("last_checkpoint")
            self.best_checkpoint = self._in_run_folder(best) if best else ""
            if event.get("last_checkpoint"):
                self.last_checkpoint = self._in_run_folder(event["last_checkpoint"])

    def _fetch_event(self, event: dict) -> None:
        """``mosaic models get`` events: download progress, then the checkpoint folders the strategy starts from."""
        kind = event["event"]
        if kind == "start":
            self._fetch_total = int(event.get("approx_bytes") or 0)
        elif kind == "download":
            self._fetch_done[(event["model"], event["file"])] = int(event.get("done_bytes") or 0)
            if self._fetch_total:
                self.progress.setValue(min(100, round(100 * sum(self._fetch_done.values()) / self._fetch_total)))
        elif kind == "done":
            folders = event.get("folders", {})
            self.published_folders = [folders[i]["fused"] for i in self.published_checkpoints() if i in folders]
            self.log.appendPlainText(
                tr("Encoders start from: {0}").format(", ".join(self.published_folders) or tr("nothing fetched"))
            )

    def _in_run_folder(self, path: str) -> str:
        """``path`` as printed by the backend (relative to its working directory, the run folder) made absolute."""
        return str(Path(self.backend.process.workingDirectory() or ".") / path)

    def _evaluation_dir(self) -> str:
        return str(evaluation_dir(self.onnx_path))

    def _process_finished(self, exit_code: int) -> None:
        """The backend has ended (``exit_code`` -1: killed, crashed or not started): report, or go on."""
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        stage = self._stage
        self._stage = "idle"
        run_dir = self.backend.process.workingDirectory()
        if stage == "cancelled":
            kept = self.last_checkpoint or tr("none was written yet")
            self.status.setText(tr("Cancelled. Last checkpoint: {0}").format(kept))
            return
        if exit_code != 0:
            message = self.backend.error or tr("The backend stopped with exit status {0}: see the log.").format(
                exit_code
            )
            self._fail(in_dialog_words(message))
            return
        if stage == "check":
            problem = self.batch_problem()
            if problem:
                self._fail(problem)
            elif self.published_name():
                self._fetch_published(run_dir)
            else:
                self._start_training_run(run_dir)
        elif stage == "fetch":
            if not self.published_folders:
                self._fail(tr("The published checkpoints were not fetched: see the log."))
                return
            self._start_training_run(run_dir)
        elif stage == "train":
            checkpoint = self.best_checkpoint or self.last_checkpoint
            if not checkpoint:
                self._fail(tr("Training finished without writing a checkpoint: see the log."))
                return
            self.onnx_path = str(model_path(run_dir, self.strategy.currentData(), self._started))
            self._start(
                evaluate_command(self.python.filePath(), checkpoint, self._evaluation_dir(), self.workers.value()),
                "evaluate",
                tr("Evaluating on the test split (thresholds tuned on validation)…"),
                run_dir,
            )
        elif stage == "evaluate":
            self.accuracy = accuracy_lines(Path(self._evaluation_dir()) / "metrics.json")
            self.log.appendPlainText(tr("Accuracy the model records (the dock shows the first line's):"))
            self.log.appendPlainText("\n".join("  " + line for line in self.accuracy))
            self._start(
                export_command(
                    self.python.filePath(),
                    self.best_checkpoint or self.last_checkpoint,
                    self.onnx_path,
                    str(Path(self._evaluation_dir()) / "metrics.json"),
                ),
                "export",
                tr("Exporting the model…"),
                run_dir,
            )
        elif stage == "export":
            self.progress.setValue(100)
            self.status.setText(
                tr("Model ready: {0} (opened in the MoSAiC dock). {1}.").format(self.onnx_path, self.accuracy[0])
            )
            self.iface.messageBar().pushMessage(
                tr("MoSAiC"),
                tr("Model trained and exported: {0}; it is now the model of the MoSAiC dock.").format(self.onnx_path),
                Qgis.MessageLevel.Success,
                10,
            )
            self.model_ready.emit(self.onnx_path)

    def _fail(self, message: str) -> None:
        self.failed_message = message
        self.status.setText(message)
        self.iface.messageBar().pushMessage(tr("MoSAiC training"), message, Qgis.MessageLevel.Critical, 0)

    def closeEvent(self, event) -> None:
        if self.is_running():
            answer = QMessageBox.question(
                self, tr("Training is running"), tr("Stop the running training? Checkpoints written so far are kept.")
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.cancel(wait_s=30)
        super().closeEvent(event)

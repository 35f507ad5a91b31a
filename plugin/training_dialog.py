"""Training dialog: runs ``mosaic train`` in the backend Python (a subprocess; torch never enters QGIS).

Reads the JSON-lines progress stream into a progress bar, a live loss/metric plot and a log; Cancel stops the
process and keeps the checkpoints written so far; on success exports ONNX and emits ``model_ready(path)``.
"""

from __future__ import annotations

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

from . import settings
from .backend_env import (
    CONFIG_DIR,
    create_env_commands,
    default_env_dir,
    env_python,
    export_command,
    strategy_configs,
    train_command,
)
from .backend_process import BackendProcess
from .loss_plot import LossPlot
from .process_log_dialog import ProcessLogDialog
from .progress_stream import percent

DEVICES = ("auto", "cpu", "gpu", "mps")
BACKBONES = ("", "resnet18", "resnet50", "convnextv2_atto", "convnextv2_tiny")  #: "" = as in the strategy
PLOTTED_METRICS = ("val/ap_macro", "val/ap_micro")  #: epoch metrics drawn next to the loss (all go to the log)


def tr(text: str) -> str:
    return QCoreApplication.translate("TrainingDialog", text)


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
        self._stage = "idle"  # idle | train | export | cancelled
        self._build_ui()
        self._load_settings()
        self.backend = BackendProcess(self)
        self.backend.progress.connect(self._handle_event)
        self.backend.output.connect(self.log.appendPlainText)
        self.backend.ended.connect(self._process_finished)

    # -- UI ---------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        form = QFormLayout()
        self.dataset = QgsFileWidget(self)
        self.dataset.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.dataset.setToolTip(
            tr("A BigEarthNet v2 folder or packed LMDB dataset, or one built by the 'Prepare training dataset' tool")
        )
        form.addRow(tr("Dataset"), self.dataset)
        self.strategy = QComboBox(self)
        for name, path in strategy_configs().items():
            self.strategy.addItem(name, str(path))
        self.strategy.setToolTip(tr("Training strategy: MoSAiC-1/2 or a baseline (one YAML of configs/)"))
        form.addRow(tr("Strategy"), self.strategy)
        self.label_fraction = QDoubleSpinBox(self)
        self.label_fraction.setRange(0.01, 1.0)
        self.label_fraction.setSingleStep(0.05)
        self.label_fraction.setDecimals(2)
        self.label_fraction.setToolTip(tr("Share of training labels used (the paper's headline setting is 0.10)"))
        form.addRow(tr("Label fraction"), self.label_fraction)
        self.epochs = QSpinBox(self)
        self.epochs.setRange(1, 1000)
        form.addRow(tr("Epochs"), self.epochs)
        self.batch_size = QSpinBox(self)
        self.batch_size.setRange(1, 4096)
        form.addRow(tr("Batch size"), self.batch_size)
        self.device = QComboBox(self)
        self.device.addItems(DEVICES)
        form.addRow(tr("Device"), self.device)
        self.backbone = QComboBox(self)
        for name in BACKBONES:
            self.backbone.addItem(name or tr("as in the strategy"), name)
        self.backbone.setToolTip(tr("timm encoder of each modality (ResNet-18 trains fastest)"))
        form.addRow(tr("Backbone"), self.backbone)
        self.workers = QSpinBox(self)
        self.workers.setRange(0, 64)
        self.workers.setToolTip(tr("Data-loader processes (0 = load in the training process)"))
        form.addRow(tr("Loader workers"), self.workers)
        self.output_dir = QgsFileWidget(self)
        self.output_dir.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        form.addRow(tr("Run folder"), self.output_dir)
        python_row = QHBoxLayout()
        self.python = QgsFileWidget(self)
        self.python.setToolTip(tr("Python interpreter with PyTorch and the MoSAiC backend installed"))
        self.create_env_button = QPushButton(tr("Create…"), self)
        self.create_env_button.setToolTip(tr("Create a virtual environment and install the pinned backend in it"))
        self.create_env_button.clicked.connect(self.create_backend_env)
        python_row.addWidget(self.python)
        python_row.addWidget(self.create_env_button)
        form.addRow(tr("Backend Python"), python_row)

        self.progress = QProgressBar(self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.plot = LossPlot(self)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setMaximumBlockCount(5000)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.plot)
        splitter.addWidget(self.log)
        splitter.setSizes([220, 140])

        buttons = QHBoxLayout()
        self.train_button = QPushButton(tr("Train"), self)
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton(tr("Cancel"), self)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close_button = QPushButton(tr("Close"), self)
        close_button.clicked.connect(self.close)
        buttons.addStretch(1)
        for button in (self.train_button, self.cancel_button, close_button):
            buttons.addWidget(button)

        top = QWidget(self)
        top.setLayout(form)
        layout = QVBoxLayout(self)
        layout.addWidget(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)

    def _load_settings(self) -> None:
        self.dataset.setFilePath(settings.value("train/dataset"))
        index = self.strategy.findText(settings.value("train/strategy"))
        self.strategy.setCurrentIndex(max(index, 0))
        self.label_fraction.setValue(settings.value("train/label_fraction"))
        self.epochs.setValue(settings.value("train/epochs"))
        self.batch_size.setValue(settings.value("train/batch_size"))
        self.device.setCurrentIndex(max(self.device.findText(settings.value("train/device")), 0))
        self.backbone.setCurrentIndex(max(self.backbone.findData(settings.value("train/backbone")), 0))
        self.workers.setValue(settings.value("train/workers"))
        self.output_dir.setFilePath(settings.value("train/output_dir"))
        self.python.setFilePath(settings.value("backend_python"))

    def _save_settings(self) -> None:
        settings.set_value("train/dataset", self.dataset.filePath())
        settings.set_value("train/strategy", self.strategy.currentText())
        settings.set_value("train/label_fraction", self.label_fraction.value())
        settings.set_value("train/epochs", self.epochs.value())
        settings.set_value("train/batch_size", self.batch_size.value())
        settings.set_value("train/device", self.device.currentText())
        settings.set_value("train/backbone", self.backbone.currentData())
        settings.set_value("train/workers", self.workers.value())
        settings.set_value("train/output_dir", self.output_dir.filePath())
        settings.set_value("backend_python", self.python.filePath())

    # -- backend environment ------------------------------------------------------------------------
    def create_backend_env(self) -> ProcessLogDialog:
        """Create ``<profile>/python/mosaic_backend_venv`` with the pinned backend; shows the pip log."""
        from .deps import qgis_python

        env_dir = default_env_dir()
        dialog = ProcessLogDialog(
            tr("Creating the MoSAiC backend environment"), create_env_commands(env_dir, qgis_python()), self
        )

        def done(ok: bool) -> None:
            if ok:
                self.python.setFilePath(str(env_python(env_dir)))
                settings.set_value("backend_python", str(env_python(env_dir)))

        dialog.finished_all.connect(done)
        dialog.show()
        dialog.start()
        return dialog

    # -- training ---------------------------------------------------------------------------------
    def start_training(self) -> None:
        """Validate the form and start ``mosaic train`` in the backend Python."""
        python = self.python.filePath().strip()
        if not python or not Path(python).is_file():
            self._fail(tr("Choose the backend Python (a Python with PyTorch and MoSAiC), or click Create…"))
            return
        if not self.dataset.filePath() or not Path(self.dataset.filePath()).exists():
            self._fail(tr("Choose a training dataset folder."))
            return
        if self.strategy.currentIndex() < 0:
            self._fail(tr("No training strategies found in {0}.").format(CONFIG_DIR))
            return
        out_dir = self.output_dir.filePath().strip() or str(Path(self.dataset.filePath()).parent / "mosaic_runs")
        self.output_dir.setFilePath(out_dir)
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._fail(tr("Cannot create the run folder {0}: {1}").format(out_dir, exc))
            return
        self._save_settings()
        self.last_checkpoint = self.best_checkpoint = self.onnx_path = self.failed_message = ""
        self.plot.clear()
        self.log.clear()
        self.progress.setValue(0)
        argv = train_command(
            python,
            Path(self.strategy.currentData()),
            self.dataset.filePath(),
            self.label_fraction.value(),
            self.epochs.value(),
            self.batch_size.value(),
            self.device.currentText(),
            self.backbone.currentData(),
            self.workers.value(),
        )
        self._start(argv, "train", tr("Training…"), out_dir)

    def _start(self, argv: list[str], stage: str, message: str, run_dir: str) -> None:
        self._stage = stage
        self.status.setText(message)
        self.log.appendPlainText("$ " + " ".join(argv))
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.backend.start(argv, run_dir)

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
        kind = event["event"]
        value = percent(event)
        if value is not None and self._stage == "train":
            self.progress.setValue(round(value))
        if kind == "start":
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

    def _in_run_folder(self, path: str) -> str:
        """``path`` as printed by the backend (relative to its working directory, the run folder) made absolute."""
        return str(Path(self.backend.process.workingDirectory() or ".") / path)

    def _process_finished(self, exit_code: int) -> None:
        """The backend has ended (``exit_code`` -1: killed, crashed or not started): report, or go on to export."""
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        stage = self._stage
        self._stage = "idle"
        if stage == "cancelled":
            kept = self.last_checkpoint or tr("none was written yet")
            self.status.setText(tr("Cancelled. Last checkpoint: {0}").format(kept))
            return
        if exit_code != 0:
            message = self.backend.error or tr("The backend stopped with exit status {0}: see the log.").format(
                exit_code
            )
            self._fail(message)
            return
        if stage == "train":
            checkpoint = self.best_checkpoint or self.last_checkpoint
            if not checkpoint:
                self._fail(tr("Training finished without writing a checkpoint: see the log."))
                return
            self.onnx_path = str(Path(checkpoint).with_suffix(".onnx"))
            self._start(
                export_command(self.python.filePath(), checkpoint, self.onnx_path),
                "export",
                tr("Exporting ONNX…"),
                self.backend.process.workingDirectory(),
            )
        elif stage == "export":
            self.progress.setValue(100)
            self.status.setText(tr("Model ready: {0}").format(self.onnx_path))
            self.iface.messageBar().pushMessage(
                tr("MoSAiC"),
                tr("Model trained and exported: {0}").format(self.onnx_path),
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

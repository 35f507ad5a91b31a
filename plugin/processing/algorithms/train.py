"""``mosaic:train``: train a MoSAiC model in the backend Python (a subprocess) and export it to ONNX."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ...backend_env import export_command, strategy_configs, train_command
from .base import MosaicAlgorithm, resolve_backend_python, run_backend

DEVICES = ("auto", "cpu", "gpu", "mps")


class TrainAlgorithm(MosaicAlgorithm):
    NAME = "train"
    DISPLAY = "Train MoSAiC model"
    HELP = (
        "Trains a multi-label land-cover model on a BigEarthNet v2 dataset (folders or packed LMDB) or on a "
        "dataset built by 'Prepare training dataset', with one strategy of configs/: MoSAiC-1, MoSAiC-2 or "
        "a baseline (supervised, SimCLR, …). LABEL_FRACTION keeps that share of the training labels (the "
        "paper's label-scarce setting is 0.10). Then exports the best checkpoint to ONNX with its metadata.\n\n"
        "Runs `mosaic train` and `mosaic export` in the backend Python (a separate Python with PyTorch, set "
        "in the MoSAiC training dialog); PyTorch is never loaded into QGIS. Cancelling stops training; "
        "checkpoints written so far stay in the output folder."
    )

    def initAlgorithm(self, config=None) -> None:
        self.strategies = list(strategy_configs())
        self.addParameter(
            QgsProcessingParameterFile("DATASET", self.tr("Dataset folder"), QgsProcessingParameterFile.Behavior.Folder)
        )
        self.addParameter(QgsProcessingParameterEnum("STRATEGY", self.tr("Strategy"), self.strategies, defaultValue=0))
        self.addParameter(
            QgsProcessingParameterNumber(
                "LABEL_FRACTION",
                self.tr("Label fraction"),
                QgsProcessingParameterNumber.Type.Double,
                0.1,
                False,
                0.001,
                1.0,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "EPOCHS", self.tr("Epochs"), QgsProcessingParameterNumber.Type.Integer, 10, False, 1
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "BATCH_SIZE", self.tr("Batch size"), QgsProcessingParameterNumber.Type.Integer, 32, False, 1
            )
        )
        self.addParameter(QgsProcessingParameterEnum("DEVICE", self.tr("Device"), list(DEVICES), defaultValue=0))
        self.addParameter(
            QgsProcessingParameterString(
                "BACKBONE", self.tr("timm backbone (empty: as in the strategy)"), defaultValue="", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "WORKERS", self.tr("Data-loader workers"), QgsProcessingParameterNumber.Type.Integer, 2, False, 0
            )
        )
        self.add_backend_python_parameter()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", self.tr("Run folder")))
        self.addOutput(QgsProcessingOutputFile("MODEL", self.tr("ONNX model")))
        self.addOutput(QgsProcessingOutputString("CHECKPOINT", self.tr("Checkpoint")))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        python = resolve_backend_python(self.parameterAsFile(parameters, "BACKEND_PYTHON", context))
        if not self.strategies:
            raise QgsProcessingException(self.tr("No training strategies (configs/*.yaml) were found."))
        out_dir = self.parameterAsString(parameters, "OUTPUT", context)
        argv = train_command(
            python,
            strategy_configs()[self.strategies[self.parameterAsEnum(parameters, "STRATEGY", context)]],
            self.parameterAsFile(parameters, "DATASET", context),
            self.parameterAsDouble(parameters, "LABEL_FRACTION", context),
            self.parameterAsInt(parameters, "EPOCHS", context),
            self.parameterAsInt(parameters, "BATCH_SIZE", context),
            DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
            self.parameterAsString(parameters, "BACKBONE", context).strip(),
            self.parameterAsInt(parameters, "WORKERS", context),
        )
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        done = run_backend(argv, feedback, cwd=out_dir)
        checkpoint = done.get("best_checkpoint") or done.get("last_checkpoint")
        if not checkpoint:
            raise QgsProcessingException(self.tr("Training ended without a checkpoint; see the log."))
        checkpoint = str(Path(out_dir) / checkpoint)  # the backend prints paths relative to its working directory
        onnx_path = str(Path(checkpoint).with_suffix(".onnx"))
        feedback.pushInfo(self.tr("Exporting {0}").format(onnx_path))
        run_backend(export_command(python, checkpoint, onnx_path), feedback)
        return {"MODEL": onnx_path, "CHECKPOINT": checkpoint, "OUTPUT": out_dir}

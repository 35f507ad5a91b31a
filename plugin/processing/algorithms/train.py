"""``mosaic:train``: train a MoSAiC model in the backend Python (a subprocess), evaluate it on the test split and
export it to ONNX with the evaluation's thresholds and test metrics, as the training dialog does (same commands,
same file names)."""

from __future__ import annotations

from datetime import datetime
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

from ...backend_env import (
    evaluate_command,
    evaluation_dir,
    export_command,
    model_path,
    strategies_for_analysts,
    strategy_configs,
    strategy_text,
    train_command,
)
from ...evaluation_summary import accuracy_lines
from .base import MosaicAlgorithm, resolve_backend_python, run_backend

DEVICES = ("auto", "cpu", "gpu", "mps")


class TrainAlgorithm(MosaicAlgorithm):
    NAME = "train"
    DISPLAY = "Train MoSAiC model"
    HELP = (
        "Trains a multi-label land-cover model on a BigEarthNet v2 dataset (folders or packed LMDB) or on a "
        "dataset built by 'Prepare training dataset', with one strategy (in plain words, its file in configs/ in "
        "brackets): MoSAiC-1, MoSAiC-2 or a baseline (labels only, SimCLR, …). LABEL_FRACTION keeps that share of "
        "the training labels (1.0: all; the paper's label-scarce setting is 0.10). Then evaluates the best "
        "checkpoint on the test split (thresholds tuned on validation) and exports it to ONNX with those thresholds "
        "and test metrics, as <strategy>_<date>_<time>.onnx in the run folder, the evaluation beside it "
        "(<model>_evaluation/metrics.json, report.md): the same files as the training dialog.\n\n"
        "Runs `mosaic train`, `mosaic evaluate` and `mosaic export` in the backend Python (a separate Python with "
        "PyTorch, set in the MoSAiC training dialog); PyTorch is never loaded into QGIS. Cancelling stops training; "
        "checkpoints written so far stay in the output folder."
    )

    def initAlgorithm(self, config=None) -> None:
        self.strategies = strategies_for_analysts()
        self.addParameter(
            QgsProcessingParameterFile("DATASET", self.tr("Dataset folder"), QgsProcessingParameterFile.Behavior.Folder)
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "STRATEGY", self.tr("Strategy"), [strategy_text(n) for n in self.strategies], defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "LABEL_FRACTION",
                self.tr("Label fraction"),
                QgsProcessingParameterNumber.Type.Double,
                1.0,
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
        self.addOutput(QgsProcessingOutputFile("METRICS", self.tr("Evaluation (metrics.json)")))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        python = resolve_backend_python(self.parameterAsFile(parameters, "BACKEND_PYTHON", context))
        if not self.strategies:
            raise QgsProcessingException(self.tr("No training strategies (configs/*.yaml) were found."))
        out_dir = self.parameterAsString(parameters, "OUTPUT", context)
        strategy = self.strategies[self.parameterAsEnum(parameters, "STRATEGY", context)]
        workers = self.parameterAsInt(parameters, "WORKERS", context)
        argv = train_command(
            python,
            strategy_configs()[strategy],
            self.parameterAsFile(parameters, "DATASET", context),
            self.parameterAsDouble(parameters, "LABEL_FRACTION", context),
            self.parameterAsInt(parameters, "EPOCHS", context),
            self.parameterAsInt(parameters, "BATCH_SIZE", context),
            DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
            self.parameterAsString(parameters, "BACKBONE", context).strip(),
            workers,
        )
        started = datetime.now()
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        done = run_backend(argv, feedback, cwd=out_dir)
        checkpoint = done.get("best_checkpoint") or done.get("last_checkpoint")
        if not checkpoint:
            raise QgsProcessingException(self.tr("Training ended without a checkpoint; see the log."))
        checkpoint = str(Path(out_dir) / checkpoint)  # the backend prints paths relative to its working directory
        onnx_path = model_path(out_dir, strategy, started)
        evaluation = evaluation_dir(onnx_path)
        feedback.pushInfo(self.tr("Evaluating on the test split (thresholds tuned on validation)"))
        run_backend(evaluate_command(python, checkpoint, str(evaluation), workers), feedback, cwd=out_dir)
        metrics = evaluation / "metrics.json"
        feedback.pushInfo(self.tr("Accuracy the model records (the model's card shows the first line's):"))
        for line in accuracy_lines(metrics):
            feedback.pushInfo("  " + line)
        feedback.pushInfo(self.tr("Exporting {0}").format(onnx_path))
        run_backend(export_command(python, checkpoint, str(onnx_path), str(metrics)), feedback, cwd=out_dir)
        return {"MODEL": str(onnx_path), "CHECKPOINT": checkpoint, "METRICS": str(metrics), "OUTPUT": out_dir}

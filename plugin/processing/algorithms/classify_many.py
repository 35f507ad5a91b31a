"""``mosaic:classify_many``: the scenes of a scene file, by the backend's ``mosaic predict --scenes`` (subprocess)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingOutputFile,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ...backend_env import backend_command
from .base import MosaicAlgorithm, resolve_backend_python, run_backend

#: output name → file of the mosaic folder (``OUT/mosaic/``)
MOSAIC_OUTPUTS = {
    "MOSAIC_PROBABILITIES": "probabilities.tif",
    "MOSAIC_LABELS": "labels.tif",
    "MOSAIC_CONFIDENCE": "confidence.tif",
}


class ClassifyManyAlgorithm(MosaicAlgorithm):
    NAME = "classify_many"
    DISPLAY = "Classify land cover, many scenes (scene file)"
    HELP = (
        "Classifies every scene of a scene file with a MoSAiC ONNX model, several at a time, and mosaics the "
        "results. Runs `mosaic predict --scenes` in the backend Python (set in the MoSAiC training dialog), which "
        "spreads the scenes over Dask workers.\n\n"
        "Scene file: a CSV with the columns name, s2, s1 (and optionally cloud_mask); a cell may list several "
        "files separated by ';' (e.g. one file per band), relative to the CSV's folder. Or a STAC ItemCollection "
        "JSON whose assets are local files or URLs (read through GDAL's /vsicurl/).\n\n"
        "Output folder: one folder per scene with the same files as 'Classify land cover' (probabilities, labels, "
        "confidence, tiles), mosaic/ with a VRT and a Cloud-Optimised GeoTIFF of each raster over all scenes and "
        "tiles.gpkg (every scene's tiles, with a 'scene' field), and scenes_summary.csv (status of every scene).\n\n"
        "Resumable: run it again with the same output folder and the finished scenes are skipped. A scene that "
        "cannot be read is reported (the algorithm then fails naming it) without stopping the others.\n\n"
        "WORKERS: how many scenes run at once on this computer (default: one per core); SCHEDULER: the address of "
        "an existing Dask cluster to run them on instead."
    )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(
            QgsProcessingParameterFile(
                "SCENES", self.tr("Scene file (CSV or STAC JSON)"), fileFilter="Scene files (*.csv *.json *.geojson)"
            )
        )
        self.addParameter(QgsProcessingParameterFile("MODEL", self.tr("MoSAiC model (.onnx)"), extension="onnx"))
        self.addParameter(
            QgsProcessingParameterNumber(
                "STRIDE",
                self.tr("Stride (px; default: the model's patch size)"),
                QgsProcessingParameterNumber.Type.Integer,
                optional=True,
                minValue=1,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "WORKERS",
                self.tr("Scenes at once (0: one per core)"),
                QgsProcessingParameterNumber.Type.Integer,
                0,
                False,
                0,
            )
        )
        self.addParameter(
            QgsProcessingParameterString("SCHEDULER", self.tr("Dask scheduler address (optional)"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterBoolean("OVERWRITE", self.tr("Recompute finished scenes"), defaultValue=False)
        )
        self.add_backend_python_parameter()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", self.tr("Output folder")))
        for name, label in (
            ("MOSAIC_PROBABILITIES", "Mosaic: probabilities"),
            ("MOSAIC_LABELS", "Mosaic: labels"),
            ("MOSAIC_CONFIDENCE", "Mosaic: confidence"),
        ):
            self.addOutput(QgsProcessingOutputRasterLayer(name, self.tr(label)))
        self.addOutput(QgsProcessingOutputVectorLayer("MOSAIC_TILES", self.tr("Mosaic: tiles of every scene")))
        self.addOutput(QgsProcessingOutputFile("SUMMARY", self.tr("Scene summary (CSV)")))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        python = resolve_backend_python(self.parameterAsFile(parameters, "BACKEND_PYTHON", context))
        out = self.parameterAsString(parameters, "OUTPUT", context)
        scenes, model = (self.parameterAsFile(parameters, key, context) for key in ("SCENES", "MODEL"))
        args = ["predict", "--scenes", scenes, "--model", model, "--out", out, "--progress-jsonl"]
        if parameters.get("STRIDE") is not None:
            args += ["--stride", str(self.parameterAsInt(parameters, "STRIDE", context))]
        workers = self.parameterAsInt(parameters, "WORKERS", context)
        if workers:
            args += ["--workers", str(workers)]
        scheduler = self.parameterAsString(parameters, "SCHEDULER", context).strip()
        if scheduler:
            args += ["--scheduler", scheduler]
        if self.parameterAsBoolean(parameters, "OVERWRITE", context):
            args.append("--overwrite")
        run_backend(backend_command(python, *args), feedback)
        mosaic = Path(out) / "mosaic"
        return {
            "OUTPUT": out,
            "SUMMARY": str(Path(out) / "scenes_summary.csv"),
            "MOSAIC_TILES": f"{mosaic / 'tiles.gpkg'}|layername=tiles",
            **{name: str(mosaic / file) for name, file in MOSAIC_OUTPUTS.items()},
        }

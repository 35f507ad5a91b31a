"""``mosaic:prepare``: build a training dataset from rasters and land-cover polygons (backend subprocess)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterVectorLayer,
)

from ...backend_env import backend_command
from .base import MosaicAlgorithm, resolve_backend_python, run_backend

NOMENCLATURES = ("ben19", "sen12ms10")


def layer_path(layer) -> tuple[str, str | None]:
    """``(file, layer name or None)`` of a file-based layer (``path|layername=x``)."""
    parts = layer.source().split("|")
    name = next((p.split("=", 1)[1] for p in parts[1:] if p.startswith("layername=")), None)
    return parts[0], name


class PrepareAlgorithm(MosaicAlgorithm):
    NAME = "prepare"
    DISPLAY = "Prepare training dataset"
    HELP = (
        "Cuts co-registered Sentinel-2 and Sentinel-1 rasters into 120 × 120 px (1.2 km) patches and labels each "
        "patch with every land-cover class its polygons cover (multi-label), in the BigEarthNet v2 folder "
        "layout that MoSAiC training reads. Patches are split into train/validation/test by spatial blocks.\n\n"
        "S2: a stacked raster or one file per band (…_B02.tif); S1: a VV,VH stack or the VV and VH files. "
        "CLASS_FIELD holds each polygon's class; MAPPING (optional JSON or CSV) maps your values to the "
        "nomenclature's class names.\n\n"
        "Runs `mosaic prepare` in the backend Python (set in the MoSAiC training dialog), because it needs "
        "rasterio and geopandas, which QGIS's Python may lack."
    )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                "S2", self.tr("Sentinel-2 raster(s)"), QgsProcessing.SourceType.TypeRaster
            )
        )
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                "S1", self.tr("Sentinel-1 raster(s)"), QgsProcessing.SourceType.TypeRaster
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                "LABELS", self.tr("Land-cover polygons"), [QgsProcessing.SourceType.TypeVectorPolygon]
            )
        )
        self.addParameter(
            QgsProcessingParameterField("CLASS_FIELD", self.tr("Class field"), parentLayerParameterName="LABELS")
        )
        self.addParameter(
            QgsProcessingParameterFile("MAPPING", self.tr("Value → class mapping (JSON/CSV)"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterEnum("NOMENCLATURE", self.tr("Nomenclature"), list(NOMENCLATURES), defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "PATCH_SIZE", self.tr("Patch size (px)"), QgsProcessingParameterNumber.Type.Integer, 120, False, 8
            )
        )
        self.add_backend_python_parameter()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", self.tr("Dataset folder")))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        python = resolve_backend_python(self.parameterAsFile(parameters, "BACKEND_PYTHON", context))
        s2 = [layer_path(layer)[0] for layer in self.parameterAsLayerList(parameters, "S2", context)]
        s1 = [layer_path(layer)[0] for layer in self.parameterAsLayerList(parameters, "S1", context)]
        labels, layer_name = layer_path(self.parameterAsVectorLayer(parameters, "LABELS", context))
        output = self.parameterAsString(parameters, "OUTPUT", context)
        args = [
            "prepare",
            "--s2",
            *s2,
            "--s1",
            *s1,
            "--labels",
            labels,
            "--class-field",
            self.parameterAsString(parameters, "CLASS_FIELD", context),
            "--nomenclature",
            NOMENCLATURES[self.parameterAsEnum(parameters, "NOMENCLATURE", context)],
            "--patch-size",
            str(self.parameterAsInt(parameters, "PATCH_SIZE", context)),
            "--output",
            output,
            "--overwrite",
        ]
        if layer_name:
            args += ["--layer", layer_name]
        mapping = self.parameterAsFile(parameters, "MAPPING", context)
        if mapping:
            args += ["--mapping", mapping]
        run_backend(backend_command(python, *args), feedback)
        return {"OUTPUT": output}

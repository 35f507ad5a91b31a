"""``mosaic:sample``: a stratified random sample of a run's cells, as a GeoPackage to label in QGIS.

Runs the backend's own :func:`~mosaic.backend.accuracy.sampling.draw_sample` inside QGIS with GDAL/OGR
(:class:`~mosaic.plugin.accuracy_io.GdalIO`): numpy and QGIS's GDAL are all it needs, so an analyst without a backend
Python (which brings torch) can assess a map; same request, same sample as ``mosaic sample``.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .base import MosaicAlgorithm
from .prepare import layer_path

STRATA = ("top-class", "presence", "layer")
STRATA_LABELS = ("the top class (one stratum per class)", "the presence of one class (2 strata)", "a stratum layer")
ALLOCATIONS = ("compromise", "proportional", "equal")
ALLOCATION_LABELS = (
    "compromise: a minimum per rare stratum, the rest proportional (good practice)",
    "proportional to the strata's areas",
    "equal",
)


class DefaultStyle(QgsProcessingLayerPostProcessorInterface):
    """Gives a layer loaded after the algorithm the style stored in its GeoPackage (Processing loads layers without
    it). QGIS deletes each post-processor once used; the newest is kept here until then, as Python would collect it
    first (Processing holds only a C++ pointer)."""

    instance = None

    def postProcessLayer(self, layer, context, feedback) -> None:
        layer.loadDefaultStyle()

    @classmethod
    def create(cls) -> DefaultStyle:
        cls.instance = cls()
        return cls.instance


def load_styled(context, source: str, name: str, output: str) -> None:
    """Add ``source`` to the project when the algorithm finishes, with the style of its GeoPackage."""
    details = QgsProcessingContext.LayerDetails(name, context.project(), output)
    details.setPostProcessor(DefaultStyle.create())
    context.addLayerToLoadOnCompletion(source, details)


class SampleAlgorithm(MosaicAlgorithm):
    NAME = "sample"
    DISPLAY = "Draw a sample to assess a map (accuracy and area)"
    HELP = (
        "The first step of a map accuracy assessment done as good practice recommends (Olofsson et al. 2014; "
        "Stehman 2014; FAO 2016): a stratified random sample of the map's cells, which you then label on top of "
        "the imagery and assess with 'Assess a map from a labelled sample'.\n\n"
        "LABELS and PROBABILITIES: the labels.tif and probabilities.tif of a MoSAiC run. Cells without data are "
        "never sampled.\n\n"
        "Strata: the top class (one stratum per mapped class: estimates by Olofsson et al. 2014), the presence of "
        "one class (PRESENCE_CLASS), or a stratum layer (a raster, or polygons with STRATUM_FIELD; estimates by "
        "Stehman 2014).\n\n"
        "Sample size: TOTAL, or (TOTAL 0) the size that gives the target standard error of overall accuracy "
        "(Olofsson et al. 2014, eq. 13) when each stratum's user's accuracy is about EXPECTED_ACCURACY. "
        "Allocation: compromise (MINIMUM units per rare stratum, the rest in proportion to area: good practice), "
        "proportional or equal; every stratum gets at least 2 units. The same SEED gives the same sample.\n\n"
        "OUTPUT: a GeoPackage of the sample units (map cells) with the map's values filled in and empty reference "
        "fields, its strata and design, and a form: on the Reference tab choose the cell's reference class and "
        "tick every class present in it. Units turn from yellow to green as you label them. Save your edits, then "
        "run 'Assess a map from a labelled sample'."
    )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer("LABELS", self.tr("Labels of the run (labels.tif)")))
        self.addParameter(
            QgsProcessingParameterRasterLayer("PROBABILITIES", self.tr("Probabilities of the run (probabilities.tif)"))
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "STRATA", self.tr("Strata"), [self.tr(label) for label in STRATA_LABELS], defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterString("PRESENCE_CLASS", self.tr("Class (strata by presence)"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterMapLayer("STRATUM_LAYER", self.tr("Stratum layer (strata by layer)"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterString(
                "STRATUM_FIELD", self.tr("Stratum field of a vector stratum layer"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "ALLOCATION", self.tr("Allocation"), [self.tr(label) for label in ALLOCATION_LABELS], defaultValue=0
            )
        )
        integer, double = QgsProcessingParameterNumber.Type.Integer, QgsProcessingParameterNumber.Type.Double
        self.addParameter(
            QgsProcessingParameterNumber("MINIMUM", self.tr("Minimum units per rare stratum"), integer, 50, False, 2)
        )
        self.addParameter(
            QgsProcessingParameterNumber("TOTAL", self.tr("Sample size (0: from the target SE)"), integer, 0, False, 0)
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "TARGET_SE", self.tr("Target standard error of overall accuracy"), double, 0.01, False, 0.0001, 0.5
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "EXPECTED_ACCURACY", self.tr("Expected user's accuracy"), double, 0.9, False, 0.01, 0.99
            )
        )
        self.addParameter(QgsProcessingParameterNumber("SEED", self.tr("Random seed"), integer, 0, False, 0))
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", self.tr("Replace an existing file"), False))
        self.addParameter(
            QgsProcessingParameterFileDestination("OUTPUT", self.tr("Sample to label"), "GeoPackage (*.gpkg)")
        )
        self.addOutput(
            QgsProcessingOutputVectorLayer(
                "SAMPLE", self.tr("Sample layer"), QgsProcessing.SourceType.TypeVectorPolygon
            )
        )

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        from ....backend.accuracy.request import SampleRequest
        from ....backend.accuracy.sampling import draw_sample
        from ....backend.errors import MosaicError
        from ...accuracy_io import GdalIO

        stratum_layer = self.parameterAsLayer(parameters, "STRATUM_LAYER", context)
        total = self.parameterAsInt(parameters, "TOTAL", context)
        request = SampleRequest(
            labels=layer_path(self.parameterAsRasterLayer(parameters, "LABELS", context))[0],
            probabilities=layer_path(self.parameterAsRasterLayer(parameters, "PROBABILITIES", context))[0],
            out=self.parameterAsFileOutput(parameters, "OUTPUT", context),
            strata=STRATA[self.parameterAsEnum(parameters, "STRATA", context)],
            presence_class=self.parameterAsString(parameters, "PRESENCE_CLASS", context) or None,
            strata_layer=layer_path(stratum_layer)[0] if stratum_layer is not None else None,
            strata_field=self.parameterAsString(parameters, "STRATUM_FIELD", context) or None,
            allocation=ALLOCATIONS[self.parameterAsEnum(parameters, "ALLOCATION", context)],
            minimum=self.parameterAsInt(parameters, "MINIMUM", context),
            total=total or None,
            target_se=self.parameterAsDouble(parameters, "TARGET_SE", context),
            expected_accuracy=self.parameterAsDouble(parameters, "EXPECTED_ACCURACY", context),
            seed=self.parameterAsInt(parameters, "SEED", context),
            overwrite=self.parameterAsBool(parameters, "OVERWRITE", context),
        )
        try:
            drawn = draw_sample(request, GdalIO())
        except MosaicError as exc:
            raise QgsProcessingException(str(exc)) from None
        design = drawn.design
        for name, cells, units in zip(design.strata_names, design.cells, design.units):
            feedback.pushInfo(f"{units} of {cells} cells: {name}")
        source = f"{drawn.path}|layername=sample"
        load_styled(context, source, self.tr("Sample to label"), "SAMPLE")
        return {"OUTPUT": str(drawn.path), "SAMPLE": source}

"""``mosaic:assess``: accuracy and area with confidence intervals from a labelled sample, and agreement with a map.

Runs the backend's :func:`~mosaic.backend.accuracy.assessment.assess` inside QGIS with GDAL/OGR, as
``mosaic:sample`` does; the same inputs give the same files as ``mosaic assess``. The layer of the sample units where
map and reference disagree is added to the project.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProject,
    QgsVectorLayer,
)

from .base import MosaicAlgorithm
from .prepare import layer_path
from .sample import load_styled

CLASS_MAPS = ("names", "corine", "file")
CLASS_MAP_LABELS = (
    "none: the reference's values are the map's class names",
    "CORINE Land Cover level-3 codes → the 19 BigEarthNet classes",
    "a CSV file value,class (CLASS_MAP_FILE)",
)


def unsaved_edits(path: str) -> list[str]:
    """Names of the project's layers of the file ``path`` with edits not saved yet."""
    target = Path(path).resolve()
    return [
        layer.name()
        for layer in QgsProject.instance().mapLayers().values()
        if isinstance(layer, QgsVectorLayer)
        and layer.isModified()
        and Path(layer.source().split("|")[0]).resolve() == target
    ]


class AssessAlgorithm(MosaicAlgorithm):
    NAME = "assess"
    DISPLAY = "Assess a map from a labelled sample (accuracy and area)"
    HELP = (
        "Overall, user's and producer's accuracy and the area of each class with 95 % confidence intervals, from a "
        "labelled stratified random sample, as good practice recommends (Olofsson et al. 2014 when the strata are "
        "the map classes, Stehman 2014 otherwise); for the multi-label map the same per class presence, with "
        "precision, recall, F1 and average precision.\n\n"
        "SAMPLE: the GeoPackage of 'Draw a sample to assess a map', labelled in QGIS (save your edits first); or a "
        "CSV with columns map,reference[,stratum] with AREAS, a CSV stratum,area (in AREA_UNIT).\n\n"
        "REFERENCE (optional) labels the sample's units instead: a raster (e.g. CORINE Land Cover: the class "
        "covering most of each cell, and every class present), or points/polygons with REFERENCE_FIELD (class) "
        "and/or REFERENCE_LABELS_FIELD (classes present, ';'-joined). CLASS_MAP turns its values into the map's "
        "classes. It must be in the map's CRS.\n\n"
        "With LABELS and PROBABILITIES of the run and a reference raster: the agreement of the two maps, a "
        "cross-tabulation by area. That is agreement, not accuracy: the other map has its own errors.\n\n"
        "OUTPUT_FOLDER receives assessment.json, the error matrices in counts and in area proportions (CSV), "
        "report.html / report.md with a chart of the areas, and disagreement.gpkg, the units where map and "
        "reference differ (added to the project). Problems are refused in one sentence: a stratum with fewer than "
        "2 units, a stratum without area, a reference class the map does not know, a reference in another CRS."
    )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(
            QgsProcessingParameterFile(
                "SAMPLE",
                self.tr("Labelled sample (GeoPackage or CSV)"),
                optional=True,
                fileFilter="Sample (*.gpkg *.csv)",
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                "AREAS", self.tr("Stratum areas of a CSV sample (stratum,area)"), optional=True, extension="csv"
            )
        )
        self.addParameter(QgsProcessingParameterString("AREA_UNIT", self.tr("Unit of those areas"), "pixels"))
        self.addParameter(QgsProcessingParameterRasterLayer("LABELS", self.tr("Labels of the run"), optional=True))
        self.addParameter(
            QgsProcessingParameterRasterLayer("PROBABILITIES", self.tr("Probabilities of the run"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterMapLayer("REFERENCE", self.tr("Reference raster or vector"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterString("REFERENCE_FIELD", self.tr("Reference class field (vector)"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterString(
                "REFERENCE_LABELS_FIELD", self.tr("Reference classes-present field (vector)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "CLASS_MAP", self.tr("Reference values"), [self.tr(label) for label in CLASS_MAP_LABELS], defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterFile("CLASS_MAP_FILE", self.tr("Class mapping CSV"), optional=True, extension="csv")
        )
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", self.tr("Replace an existing assessment"), False))
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", self.tr("Assessment folder")))
        self.addOutput(QgsProcessingOutputFile("ASSESSMENT", self.tr("assessment.json")))
        self.addOutput(QgsProcessingOutputFile("REPORT", self.tr("Report (HTML)")))
        self.addOutput(QgsProcessingOutputNumber("OVERALL_ACCURACY", self.tr("Overall accuracy")))
        self.addOutput(
            QgsProcessingOutputVectorLayer(
                "DISAGREEMENT", self.tr("Disagreement"), QgsProcessing.SourceType.TypeVectorPolygon
            )
        )

    def _class_map(self, parameters, context) -> str | None:
        kind = CLASS_MAPS[self.parameterAsEnum(parameters, "CLASS_MAP", context)]
        if kind == "file":
            path = self.parameterAsFile(parameters, "CLASS_MAP_FILE", context)
            if not path:
                raise QgsProcessingException(self.tr("Choose the class mapping CSV (CLASS_MAP_FILE)."))
            return path
        return None if kind == "names" else kind

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        from ....backend.accuracy.assessment import DISAGREEMENT_FILE, DISAGREEMENT_LAYER, assess
        from ....backend.accuracy.request import AssessRequest
        from ....backend.errors import MosaicError
        from ...accuracy_io import GdalIO

        sample = self.parameterAsFile(parameters, "SAMPLE", context) or None
        if sample and unsaved_edits(sample):
            raise QgsProcessingException(
                self.tr("Save the edits of the layer {0} first: the assessment reads the file.").format(
                    unsaved_edits(sample)[0]
                )
            )
        reference = self.parameterAsLayer(parameters, "REFERENCE", context)
        reference_path, reference_layer = layer_path(reference) if reference is not None else (None, None)
        field = self.parameterAsString(parameters, "REFERENCE_FIELD", context) or None
        labels_field = self.parameterAsString(parameters, "REFERENCE_LABELS_FIELD", context) or None
        if isinstance(reference, QgsVectorLayer) and not (field or labels_field):
            raise QgsProcessingException(
                self.tr("A vector reference needs REFERENCE_FIELD and/or REFERENCE_LABELS_FIELD.")
            )
        labels = self.parameterAsRasterLayer(parameters, "LABELS", context)
        probabilities = self.parameterAsRasterLayer(parameters, "PROBABILITIES", context)
        out = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        request = AssessRequest(
            out=out,
            sample=sample,
            areas=self.parameterAsFile(parameters, "AREAS", context) or None,
            area_unit=self.parameterAsString(parameters, "AREA_UNIT", context) or "pixels",
            labels=layer_path(labels)[0] if labels is not None else None,
            probabilities=layer_path(probabilities)[0] if probabilities is not None else None,
            reference=reference_path,
            reference_layer=reference_layer,
            reference_field=field,
            reference_labels_field=labels_field,
            class_map=self._class_map(parameters, context),
            overwrite=self.parameterAsBool(parameters, "OVERWRITE", context),
        )
        try:
            result = assess(request, GdalIO())
        except MosaicError as exc:
            raise QgsProcessingException(str(exc)) from None
        outputs = {"OUTPUT_FOLDER": out, "REPORT": str(Path(out) / "report.html"), "ASSESSMENT": None}
        outputs["OVERALL_ACCURACY"], outputs["DISAGREEMENT"] = None, None
        if result.top_class is not None:
            overall = result.top_class.overall
            feedback.pushInfo(f"overall accuracy {overall.estimate:.3f} ± {overall.ci95:.3f} (95 % CI)")
            outputs["ASSESSMENT"] = str(Path(out) / "assessment.json")
            outputs["OVERALL_ACCURACY"] = overall.estimate
        if result.multilabel is not None:
            feedback.pushInfo(f"label accuracy (multi-label) {result.multilabel.label_accuracy.estimate:.3f}")
        if result.agreement is not None:
            feedback.pushInfo(f"agreement with {result.agreement.reference_name}: {result.agreement.overall:.3f}")
        if Path(out, DISAGREEMENT_FILE).is_file() and result.sample is not None:
            source = f"{Path(out) / DISAGREEMENT_FILE}|layername={DISAGREEMENT_LAYER}"
            feedback.pushInfo(f"{result.disagreeing_units} sample units where map and reference disagree")
            load_styled(context, source, self.tr("Disagreement (map ≠ reference)"), "DISAGREEMENT")
            outputs["DISAGREEMENT"] = source
        return outputs

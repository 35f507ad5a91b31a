"""``mosaic:inspect_model``: show and validate the metadata of a MoSAiC ONNX model."""

from __future__ import annotations

import json

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
)

from .base import MosaicAlgorithm


class InspectModelAlgorithm(MosaicAlgorithm):
    NAME = "inspect_model"
    DISPLAY = "Inspect MoSAiC model"
    HELP = (
        "Reads the metadata embedded in a MoSAiC ONNX model and validates it against the versioned schema: "
        "class names (canonical order) and colours, decision thresholds, the Sentinel-2 and Sentinel-1 bands "
        "the model expects with their units and normalisation, patch size and resolution, training strategy, "
        "training data and evaluation metrics. A model without valid metadata is refused with the reason.\n\n"
        "Outputs: METADATA (the JSON), CLASSES (class names, one per line), N_CLASSES, PATCH_SIZE_PX."
    )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile("MODEL", self.tr("MoSAiC model (.onnx)"), extension="onnx"))
        self.addOutput(QgsProcessingOutputString("METADATA", self.tr("Metadata (JSON)")))
        self.addOutput(QgsProcessingOutputString("CLASSES", self.tr("Class names")))
        self.addOutput(QgsProcessingOutputNumber("N_CLASSES", self.tr("Number of classes")))
        self.addOutput(QgsProcessingOutputNumber("PATCH_SIZE_PX", self.tr("Patch size (px)")))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        from ...deps import onnxruntime_available

        if not onnxruntime_available():
            raise QgsProcessingException(self.tr("onnxruntime is missing: install it from the MoSAiC dock."))
        from ....backend.errors import MosaicError
        from ....backend.inference import read_metadata

        path = self.parameterAsFile(parameters, "MODEL", context)
        try:
            meta = read_metadata(path)
        except MosaicError as exc:
            raise QgsProcessingException(str(exc)) from None
        for name, color, threshold in zip(meta.class_names, meta.class_colors, meta.thresholds):
            feedback.pushInfo(f"{color}  t={threshold:.2f}  {name}")
        feedback.pushInfo(
            f"S2 {' '.join(meta.s2.bands)} · S1 {' '.join(meta.s1.bands)} · {meta.patch_size_px} px "
            f"at {meta.gsd_m:g} m · {meta.strategy} · metrics {meta.metrics}"
        )
        return {
            "METADATA": json.dumps(meta.raw, indent=1),
            "CLASSES": "\n".join(meta.class_names),
            "N_CLASSES": len(meta.class_names),
            "PATCH_SIZE_PX": meta.patch_size_px,
        }

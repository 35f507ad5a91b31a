"""``mosaic:classify``: tiled MoSAiC inference over Sentinel-2 + Sentinel-1 raster layers (same code as the dock)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsCoordinateTransform,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
    QgsRectangle,
    QgsVectorLayer,
)

from ...input_options import (
    CLOUD_KINDS,
    DEFAULT_CLOUD_FRACTION,
    DEFAULT_CLOUD_THRESHOLD,
    DEFAULT_SCL_CLASSES,
    LABELS,
    S1_ORDERS,
    S1_UNITS,
    S2_OFFSETS,
)
from .base import MosaicAlgorithm

S2_OFFSET_LABELS = (
    "auto (from the product's processing baseline)",
    "0 (no offset)",
    "1000 (baseline 04.00 and later: products since 25 January 2022)",
)
S1_UNITS_LABELS = (
    "dB (refuse S1 that looks like linear power)",
    "dB (no check)",
    "linear power (convert to dB)",
    "amplitude (convert to dB)",
)
S1_ORDER_LABELS = ("auto (band names, else VV,VH checked against the backscatter)", "VV,VH", "VH,VV")
CLOUD_KIND_LABELS = (
    "auto (from its values and name)",
    "scl (Sentinel-2 scene classification)",
    "mask (non-zero = cloudy)",
    "probability (0–1 or 0–100)",
)
RASTER_OUTPUTS = {"OUTPUT_PROBABILITIES": "probabilities", "OUTPUT_LABELS": "labels", "OUTPUT_CONFIDENCE": "confidence"}


class ClassifyAlgorithm(MosaicAlgorithm):
    NAME = "classify"
    DISPLAY = "Classify land cover (Sentinel-1 + Sentinel-2)"
    HELP = (
        "Multi-label land-cover classification of co-registered Sentinel-2 L2A (reflectance × 10000) and "
        "Sentinel-1 GRD (VV, VH in dB) rasters with a MoSAiC ONNX model, tile by tile.\n\n"
        "S2: one stacked layer or several single-band layers (10/20/60 m); S1: a VV+VH stack or the VV and VH "
        "layers. Either may be left empty: S2 alone is classified by the model's S2-only head, S1 alone by its "
        "S1-only head, on every tile (models exported with per-modality heads; others refuse it). Each band the model "
        "needs is found by its band description or file name (B02, B8A, VV…); "
        "S1 is brought onto the S2 grid (reprojected when its CRS differs) and 20/60 m bands are upsampled as "
        "in training.\n\n"
        "Tiles of the model's patch size are taken every STRIDE pixels (default: the patch size); outputs "
        "have one cell per stride. With STRIDE smaller than the patch, overlapping tiles are averaged.\n\n"
        "Every input is identified first, as `mosaic predict` does, and harmonised or refused in one sentence "
        "naming the parameter that decides: band names (descriptions, file names, STAC common names), or a stack "
        "without names in the model's order (S2 band order: e.g. B02,B03,B04,B05,B06,B07,B08,B8A,B11,B12 for "
        "another order); the S2 DN offset of processing baseline 04.00 and later (+1000, read from the product "
        "name, MTD_MSIL2A.xml, sidecars or GDAL metadata), the reflectance scale, untagged fill values, the ground "
        "resolution (resampled to the model's 10 m grid when it differs); S1 units (dB, linear power, amplitude, "
        "scaled integers) and VV/VH order. What was applied is logged and written into the outputs' metadata.\n\n"
        "Cloud mask (optional; models with per-modality heads): a Sentinel-2 SCL layer (or an S2 stack with a band "
        "described SCL), a binary mask or a cloud probability, any CRS. Tiles whose cloudy-or-S2-nodata fraction "
        "exceeds the cloudy fraction are classified by the model's S1-only (radar) head; tiles without S1 by its "
        "S2-only head. Band 3 of the labels says which head decided each cell (styled by labels_source.qml), "
        "the tiles' source field which head gave each tile. Models exported before per-modality heads refuse a "
        "cloud mask.\n\n"
        "AOI (optional polygons): only their bounding box is processed and pixels outside every polygon are "
        "nodata, so tiles mostly outside them are skipped (as `mosaic predict --aoi`).\n\n"
        "Outputs: class probabilities (one band per class, named after it), labels (most probable class, "
        "paletted style with class names and colours), optional confidence (max probability) and tile "
        "squares (GeoPackage). Styles are written as .qml beside each file. Gives the same probabilities "
        "as the headless `mosaic predict` on the same inputs."
    )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                "S2",
                self.tr("Sentinel-2 layer(s) (leave empty for S1 alone)"),
                QgsProcessing.SourceType.TypeRaster,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                "S1",
                self.tr("Sentinel-1 layer(s) (leave empty for S2 alone)"),
                QgsProcessing.SourceType.TypeRaster,
                optional=True,
            )
        )
        self.addParameter(QgsProcessingParameterFile("MODEL", self.tr("MoSAiC model (.onnx)"), extension="onnx"))
        self.addParameter(
            QgsProcessingParameterExtent("EXTENT", self.tr("Extent (default: the S2 layer)"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "AOI",
                self.tr("Only inside these polygons (optional)"),
                [QgsProcessing.SourceType.TypeVectorPolygon],
                optional=True,
            )
        )
        stride = QgsProcessingParameterNumber(
            "STRIDE",
            self.tr("Stride in pixels (0 = patch size)"),
            QgsProcessingParameterNumber.Type.Integer,
            0,
            False,
            0,
        )
        self.addParameter(stride)
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                "CLOUD_MASK", self.tr("Cloud mask (SCL, mask or probability; optional)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "CLOUD_FRACTION",
                LABELS["cloud_fraction"],
                QgsProcessingParameterNumber.Type.Double,
                DEFAULT_CLOUD_FRACTION,
                False,
                0.0,
                1.0,
            )
        )
        for key, labels in (
            ("S2_OFFSET", S2_OFFSET_LABELS),
            ("S1_UNITS", S1_UNITS_LABELS),
            ("S1_ORDER", S1_ORDER_LABELS),
            ("CLOUD_MASK_KIND", CLOUD_KIND_LABELS),
        ):
            self.addParameter(
                QgsProcessingParameterEnum(key, LABELS[key.lower()], [self.tr(u) for u in labels], defaultValue=0)
            )
        advanced = (
            QgsProcessingParameterNumber(
                "S2_SCALE",
                LABELS["s2_scale"] + self.tr(" (stored value of reflectance 1; 0 = auto)"),
                QgsProcessingParameterNumber.Type.Double,
                0.0,
                False,
                0.0,
            ),
            QgsProcessingParameterString(
                "S2_ORDER",
                LABELS["s2_order"] + self.tr(" of a stack without band names (e.g. B02,B03,B04,…)"),
                optional=True,
            ),
            QgsProcessingParameterNumber(
                "S1_SCALE",
                LABELS["s1_scale"] + self.tr(" (stored value × scale = dB; 0 = auto)"),
                QgsProcessingParameterNumber.Type.Double,
                0.0,
                False,
                0.0,
            ),
            QgsProcessingParameterString(
                "SCL_CLASSES",
                LABELS["scl_classes"]
                + self.tr(" (3 cloud shadows, 8/9 cloud medium/high probability, 10 thin cirrus, 11 snow or ice)"),
                ",".join(map(str, DEFAULT_SCL_CLASSES)),
            ),
            QgsProcessingParameterNumber(
                "CLOUD_THRESHOLD",
                LABELS["cloud_threshold"] + self.tr(" (0–1)"),
                QgsProcessingParameterNumber.Type.Double,
                DEFAULT_CLOUD_THRESHOLD,
                False,
                0.0,
                1.0,
            ),
        )
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(
            QgsProcessingParameterNumber(
                "BATCH_SIZE", self.tr("Batch size"), QgsProcessingParameterNumber.Type.Integer, 8, False, 1
            )
        )
        from ...deps import available_providers

        self.providers = available_providers() or ["CPUExecutionProvider"]
        self.addParameter(
            QgsProcessingParameterEnum(
                "EXECUTION_PROVIDER", self.tr("onnxruntime execution provider"), self.providers, defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination("OUTPUT_PROBABILITIES", self.tr("Class probabilities"))
        )
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT_LABELS", self.tr("Land cover (top class)")))
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                "OUTPUT_CONFIDENCE", self.tr("Confidence"), optional=True, createByDefault=False
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                "OUTPUT_TILES",
                self.tr("Tiles"),
                QgsProcessing.SourceType.TypeVectorPolygon,
                optional=True,
                createByDefault=False,
            )
        )

    def polygons(self, source, crs, context) -> tuple[list[str], QgsRectangle]:
        """The AOI's non-empty polygons as WKT in ``crs`` and their bounding box."""
        transform = QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext())
        wkts, box = [], QgsRectangle()
        box.setMinimal()
        for feature in source.getFeatures():
            geometry = feature.geometry()
            if geometry.isNull() or geometry.isEmpty():
                continue
            geometry.transform(transform)
            wkts.append(geometry.asWkt())
            box.combineExtentWith(geometry.boundingBox())
        if not wkts:
            raise QgsProcessingException(self.tr("The AOI layer holds no polygons: choose a layer with polygons."))
        return wkts, box

    def input_options(self, parameters, context):
        """The engine's ``InputOptions`` of the input parameters (0 = auto for the scales)."""
        from ....backend.inference.clouds import CloudOptions, parse_scl_classes
        from ....backend.inference.inspector import InputOptions

        s2_scale = self.parameterAsDouble(parameters, "S2_SCALE", context)
        s1_scale = self.parameterAsDouble(parameters, "S1_SCALE", context)
        return InputOptions(
            s2_offset=S2_OFFSETS[self.parameterAsEnum(parameters, "S2_OFFSET", context)],
            s2_scale=s2_scale or None,
            s2_order=self.parameterAsString(parameters, "S2_ORDER", context).strip() or None,
            s1_units=S1_UNITS[self.parameterAsEnum(parameters, "S1_UNITS", context)],
            s1_scale=s1_scale or None,
            s1_order=S1_ORDERS[self.parameterAsEnum(parameters, "S1_ORDER", context)],
            cloud=CloudOptions(
                CLOUD_KINDS[self.parameterAsEnum(parameters, "CLOUD_MASK_KIND", context)],
                parse_scl_classes(self.parameterAsString(parameters, "SCL_CLASSES", context)),
                self.parameterAsDouble(parameters, "CLOUD_THRESHOLD", context),
            ),
        )

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        from ...deps import onnxruntime_available

        if not onnxruntime_available():
            raise QgsProcessingException(self.tr("onnxruntime is missing: install it from the MoSAiC dock."))
        from ....backend.errors import MosaicError
        from ....backend.inference.run_info import model_run_info
        from ... import classify
        from ...layers import style_tiles
        from ...qgis_reader import finest_layer

        s2_layers = self.parameterAsLayerList(parameters, "S2", context)
        s1_layers = self.parameterAsLayerList(parameters, "S1", context)
        outputs = {}
        for key, product in RASTER_OUTPUTS.items():
            path = self.parameterAsOutputLayer(parameters, key, context)
            if path:
                outputs[product] = Path(path)
        tiles = self.parameterAsOutputLayer(parameters, "OUTPUT_TILES", context)
        if tiles:
            outputs["tiles"] = Path(tiles)
        for product, path in outputs.items():
            wanted = ".gpkg" if product == "tiles" else ".tif"
            if path.suffix.lower() != wanted:
                raise QgsProcessingException(self.tr("Save {0} as a {1} file.").format(product, wanted))
        provider = self.providers[self.parameterAsEnum(parameters, "EXECUTION_PROVIDER", context)]
        request = classify.ClassifyRequest(
            model_path=self.parameterAsFile(parameters, "MODEL", context),
            s2=s2_layers,
            s1=s1_layers,
            outputs=outputs,
            stride=self.parameterAsInt(parameters, "STRIDE", context) or None,
            batch_size=self.parameterAsInt(parameters, "BATCH_SIZE", context),
            execution_provider=provider,
            cloud=self.parameterAsRasterLayer(parameters, "CLOUD_MASK", context)
            if parameters.get("CLOUD_MASK")
            else None,
            cloud_fraction=self.parameterAsDouble(parameters, "CLOUD_FRACTION", context),
        )
        try:
            request.input_options = self.input_options(parameters, context)
            model = classify.load_model(request)
            meta = model.metadata
            for note in model_run_info(model).notes():  # precision, device, provider fallback, int8 copy
                feedback.pushInfo(note)
            if s2_layers or s1_layers:
                reference = finest_layer(s2_layers or s1_layers)  # the grid's layer: S1's in a run of S1 alone
                if parameters.get("EXTENT"):
                    request.extent = self.parameterAsExtent(parameters, "EXTENT", context, reference.crs())
                aoi = self.parameterAsSource(parameters, "AOI", context) if parameters.get("AOI") else None
                if aoi is not None:
                    request.polygons_wkt, box = self.polygons(aoi, reference.crs(), context)
                    request.extent = box if request.extent is None else box.intersect(request.extent)
            reader = classify.prepare(request, meta)
            for topic, text in reader.plan.applied.items():
                feedback.pushInfo(f"{topic}: {text}")
            feedback.pushInfo(
                self.tr("{0} × {1} px grid, {2} classes, stride {3} px").format(
                    reader.grid.width, reader.grid.height, meta.n_classes, request.stride or meta.patch_size_px
                )
            )

            def progress(p) -> None:
                feedback.setProgress(100.0 * p.done / max(p.total, 1))

            result = classify.execute(request, model, reader, progress, feedback.isCanceled, reader.plan.tags())
        except MosaicError as exc:
            raise QgsProcessingException(str(exc)) from None
        if "tiles" in result.outputs:
            style_tiles(
                QgsVectorLayer(f"{result.outputs['tiles']}|layername=tiles", "tiles", "ogr"),
                meta.class_names,
                meta.class_colors,
            )
        feedback.pushInfo(
            self.tr("{0} tiles classified, {1} skipped (nodata), {2:.1f} s").format(
                result.summary.tiles_run, result.summary.tiles_skipped, result.summary.seconds
            )
        )
        names = {v: k for k, v in RASTER_OUTPUTS.items()} | {"tiles": "OUTPUT_TILES"}
        return {names[product]: str(path) for product, path in result.outputs.items()}

"""One classification run over QGIS layers: QGIS window reader → inference engine → GDAL/OGR sinks.

The dock's background task and the ``mosaic:classify`` Processing algorithm both call :func:`prepare` (main
thread: the engine's input inspector identifies the layers' bands, radiometry, units and grid, as for
``mosaic predict``; the reader clones providers) and :func:`execute` (any thread; the front ends pass
``reader.plan.tags()`` as ``tags`` so the outputs record what was applied). The engine itself
(:mod:`mosaic.backend.inference`) is imported lazily, because it needs onnxruntime.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qgis.core import (
    QgsCoordinateTransform,
    QgsCsException,
    QgsGeometry,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QCoreApplication

from ..backend.errors import InputError
from ..backend.inference.clouds import DEFAULT_CLOUD_FRACTION
from ..backend.inference.modalities import RunInputs
from .band_mapping import BandSource, raster_info
from .qgis_reader import QgisWindowReader, TargetGrid, crop_grid, finest_layer, planned_grid, read_sample

if TYPE_CHECKING:
    from ..backend.inference.inspector import InputOptions


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicClassify", text)


@dataclass
class ClassifyRequest:
    """What to classify and where the outputs go (``outputs``: product → path; a product left out is not written).

    ``s2``/``s1``: the input layers; the engine's band resolver finds each model band among them, unless
    ``s2_bands``/``s1_bands`` give a band mapping made by hand (one source per model band, in model order). Leave
    one modality empty (``[]`` and None) for a one-modality run with the model's S2-only or S1-only head
    (:meth:`inputs`; :func:`~mosaic.backend.inference.modalities.one_modality_heads` says which a model has).
    ``input_options``: the user's :class:`~mosaic.backend.inference.inspector.InputOptions` (None: all auto).
    """

    model_path: str
    s2: list[QgsRasterLayer]
    s1: list[QgsRasterLayer]
    outputs: dict[str, Path]
    extent: QgsRectangle | None = None  #: in the CRS of the finest S2 layer; None = whole layer
    polygons_wkt: list[str] | None = None  #: only inside these polygons (same CRS); None = the whole extent
    stride: int | None = None
    batch_size: int = 8
    execution_provider: str | None = None
    threads: int | None = None
    s2_bands: list[BandSource] | None = None
    s1_bands: list[BandSource] | None = None
    input_options: InputOptions | None = None
    #: the optional cloud layer (an SCL layer or an S2 stack with an SCL band, a binary mask, a cloud probability)
    cloud: QgsRasterLayer | None = None
    cloud_fraction: float = DEFAULT_CLOUD_FRACTION  #: S2-blind fraction above which a tile goes to the S1-only head

    def inputs(self) -> RunInputs:
        """The modalities of the run: S2 and S1, or one of them alone (``s1``/``s1_bands`` empty: S2 alone, every
        tile from the model's S2-only head; ``s2``/``s2_bands`` empty: S1 alone); refuses neither."""
        return RunInputs(bool(self.s2 or self.s2_bands), bool(self.s1 or self.s1_bands))


@dataclass
class ClassifyResult:
    outputs: dict[str, Path]
    class_names: tuple[str, ...]
    class_colors: tuple[str, ...]
    summary: object = None
    grid: TargetGrid | None = None
    extra: dict = field(default_factory=dict)


def default_outputs(folder: Path, write_tiles: bool = True) -> dict[str, Path]:
    """The catalogue's file names inside ``folder`` (product → path), the tiles only with ``write_tiles``."""
    from ..backend.inference.outputs import FILE_NAMES

    return {k: Path(folder) / v for k, v in FILE_NAMES.items() if write_tiles or k != "tiles"}


def load_model(request: ClassifyRequest):
    """The engine's :class:`OnnxModel` for the request (raises ``ModelError`` with one sentence)."""
    from ..backend.inference import load_model as engine_load

    providers = [request.execution_provider] if request.execution_provider else None
    return engine_load(request.model_path, threads=request.threads, providers=providers)


def prepare(request: ClassifyRequest, metadata, hint: Callable[[str, str], str] | None = None) -> QgisWindowReader:
    """Identify the inputs with the engine's input inspector and build the reader (call in the main thread).

    Raises :class:`InputError` (one sentence, options worded by ``hint(option, value)``; default: Processing's)
    before anything is written. The reader's ``plan`` says what was applied (``plan.applied``, ``plan.tags()``).
    """
    from ..backend.inference.clouds import require_cloud_use
    from ..backend.inference.inspector import InputOptions, inspect_inputs
    from ..backend.inference.modalities import run_head
    from .input_options import processing_hint

    s2_layers, s2_infos, s2_sample, s2_picks = _inputs("S2", request.s2, request.s2_bands, metadata.s2.bands)
    s1_layers, s1_infos, s1_sample, s1_picks = _inputs("S1", request.s1, request.s1_bands, metadata.s1.bands)
    inputs = request.inputs()
    run_head(metadata, inputs, Path(request.model_path).name)  # a one-modality run needs that modality's head
    cloud_info = cloud_sample = None
    if request.cloud is not None:
        require_cloud_use(metadata.heads, inputs, Path(request.model_path).name)
        cloud_info = raster_info(request.cloud)

        def cloud_sample(band: int):
            return read_sample(request.cloud, band, cloud_info.bands[band - 1].nodata)

    plan = inspect_inputs(
        s2_infos,
        s1_infos,
        metadata,
        request.input_options or InputOptions(),
        s2_sample,
        s1_sample,
        hint or processing_hint,
        s2_picks,
        s1_picks,
        cloud_info,
        cloud_sample,
    )
    s2 = [BandSource(s2_layers[p.raster], p.index) for p in plan.s2_picks]
    s1 = [BandSource(s1_layers[p.raster], p.index) for p in plan.s1_picks]
    finest = finest_layer([s.layer for s in s2 or s1])  # S1's grid in a run of S1 alone
    full = planned_grid(finest, plan.grid)
    extent, polygons = request.extent, request.polygons_wkt
    if full.crs != finest.crs():  # resampled in a UTM zone: the extent and polygons follow
        transform = QgsCoordinateTransform(finest.crs(), full.crs, QgsProject.instance())
        try:
            extent = transform.transformBoundingBox(extent) if extent is not None else None
            polygons = [_transformed(wkt, transform) for wkt in polygons] if polygons else polygons
        except QgsCsException as exc:
            raise InputError(f"the chosen extent cannot be transformed to {full.crs.authid()} ({exc}).") from None
    grid = crop_grid(full, extent, finest.name())
    cloud = None
    if plan.cloud is not None:
        _check_overlap(request.cloud, grid, "cloud mask")
        cloud = BandSource(request.cloud, plan.cloud.band)
    return QgisWindowReader(s2, s1, plan, metadata.upsampling, grid, polygons, cloud)


def _check_overlap(layer: QgsRasterLayer, grid: TargetGrid, what: str) -> None:
    """Refuse ``layer`` when its extent, in the grid's CRS, does not overlap the processed extent."""
    try:
        transform = QgsCoordinateTransform(layer.crs(), grid.crs, QgsProject.instance())
        box = transform.transformBoundingBox(layer.extent())
    except QgsCsException as exc:
        raise InputError(
            f"{layer.name()} cannot be transformed to {grid.crs.authid()} ({exc}); check its CRS."
        ) from None
    if not box.intersects(grid.extent):
        raise InputError(f"{what} {layer.name()} does not overlap the S2 extent; check the inputs.")


def _inputs(modality: str, given: list[QgsRasterLayer], mapped: list[BandSource] | None, bands: tuple[str, ...]):
    """``(layers, RasterInfo per layer, sampler, hand-made picks or None)`` of one modality for the inspector."""
    from ..backend.inference.band_resolver import BandPick

    layers = list({lyr.id(): lyr for lyr in [*given, *(s.layer for s in mapped or [])]}.values())
    picks = None
    if mapped:
        if len(mapped) != len(bands) or None in mapped:
            found = len([s for s in mapped if s is not None])
            raise InputError(
                tr("the model needs {0} {1} bands ({2}) but {3} were mapped; map every band.").format(
                    len(bands), modality, ", ".join(bands), found
                )
            )
        index = {lyr.id(): i for i, lyr in enumerate(layers)}
        picks = [BandPick(b, index[s.layer.id()], s.band, "order") for b, s in zip(bands, mapped)]
    infos = [raster_info(lyr) for lyr in layers]

    def sample(r: int, band: int):
        return read_sample(layers[r], band, infos[r].bands[band - 1].nodata)

    return layers, infos, sample, picks


def _transformed(wkt: str, transform: QgsCoordinateTransform) -> str:
    geometry = QgsGeometry.fromWkt(wkt)
    geometry.transform(transform)
    return geometry.asWkt()


def _sinks(request: ClassifyRequest, metadata, grid: TargetGrid, stride: int, tags: Mapping[str, str] | None) -> dict:
    """One GDAL/OGR sink per requested product, writing what the engine's output catalogue describes."""
    from ..backend.inference import output_geotransform
    from ..backend.inference.outputs import output_catalogue
    from .sinks import RasterFileSink, TileVectorSink

    catalogue = output_catalogue(metadata, request.model_path, tags)
    out_gt = output_geotransform(grid.geotransform, stride)
    out_w, out_h = math.ceil(grid.width / stride), math.ceil(grid.height / stride)
    wkt = grid.crs.toWkt()
    sinks = {}
    for key, path in request.outputs.items():
        product = catalogue.product(key)
        if key == catalogue.tiles.key:
            sinks[key] = TileVectorSink(path, product, grid.geotransform, wkt)
        else:
            sinks[key] = RasterFileSink(path, product, out_gt, wkt, out_w, out_h, catalogue.tags)
    return sinks


def execute(
    request: ClassifyRequest,
    model,
    reader: QgisWindowReader,
    progress: Callable | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    tags: Mapping[str, str] | None = None,
) -> ClassifyResult:
    """Run the engine; commit every output on success, discard every partial file otherwise.

    ``tags`` are written into every raster's dataset-level metadata, after the model's file name
    (:func:`~mosaic.backend.inference.outputs.output_tags`).
    """
    from ..backend.inference import run_inference

    metadata = model.metadata
    stride = request.stride or metadata.patch_size_px
    sinks = {}
    try:
        sinks = _sinks(request, metadata, reader.grid, stride, tags)
        summary = run_inference(
            model,
            reader,
            list(sinks.values()),
            stride=stride,
            batch_size=request.batch_size,
            progress=progress,
            is_cancelled=is_cancelled,
            cloud=reader.cloud,
            cloud_fraction=request.cloud_fraction,
            modalities=reader.modalities,
        )
        for sink in sinks.values():  # every file complete (rasters as COGs) before the first is renamed into place
            sink.finish()
        outputs = {product: sink.commit() for product, sink in sinks.items()}
    except BaseException:
        for sink in sinks.values():
            sink.discard()
        raise
    finally:
        reader.close()
    return ClassifyResult(outputs, metadata.class_names, metadata.class_colors, summary, reader.grid)

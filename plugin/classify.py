"""One classification run over QGIS layers: QGIS window reader → inference engine → GDAL/OGR sinks.

The dock's background task and the ``mosaic:classify`` Processing algorithm both call :func:`prepare` (main
thread: resolves layers, clones providers) and :func:`execute` (any thread). The engine itself
(:mod:`mosaic.backend.inference`) is imported lazily, because it needs onnxruntime.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qgis.core import QgsRectangle
from qgis.PyQt.QtCore import QCoreApplication

from ..backend.errors import InputError
from .band_mapping import BandSource
from .qgis_reader import QgisWindowReader, TargetGrid, finest_layer, grid_of_layer, read_block


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicClassify", text)


@dataclass
class ClassifyRequest:
    """What to classify and where the outputs go (``outputs``: product → path; a product left out is not written)."""

    model_path: str
    s2: list[BandSource]
    s1: list[BandSource]
    outputs: dict[str, Path]
    extent: QgsRectangle | None = None  #: in the CRS of the finest S2 layer; None = whole layer
    polygons_wkt: list[str] | None = None  #: only inside these polygons (same CRS); None = the whole extent
    stride: int | None = None
    batch_size: int = 8
    execution_provider: str | None = None
    threads: int | None = None
    s1_units: str = "auto"  #: "auto" refuses S1 that looks like linear power, "linear" converts it, "db" as is


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


def prepare(request: ClassifyRequest, metadata) -> QgisWindowReader:
    """Check the band mapping against the model and build the reader (call in the main thread)."""
    for name, sources, spec in (("S2", request.s2, metadata.s2), ("S1", request.s1, metadata.s1)):
        if len(sources) != len(spec.bands):
            raise InputError(
                f"the model needs {len(spec.bands)} {name} bands ({', '.join(spec.bands)}) but {len(sources)} "
                f"were mapped; map every band."
            )
    if request.s1_units == "auto":
        refuse_linear_s1(request.s1)
    grid = grid_of_layer(finest_layer(request.s2), request.extent)
    return QgisWindowReader(
        request.s2, request.s1, metadata.s2, metadata.s1, metadata.upsampling, grid, request.polygons_wkt,
        s1_linear=request.s1_units == "linear",
    )  # fmt: skip


def refuse_linear_s1(sources: list[BandSource], size: int = 256) -> None:
    """Stop when an S1 layer band looks like linear power, on a decimated read of the whole layer."""
    from ..backend.inference.s1_units import refuse_linear

    hint = tr('to convert it (10·log10) tick "S1 is linear power" in the dock, or set S1 units to linear power in '
              "Processing.")  # fmt: skip
    for source in sources:
        width, height = min(source.layer.width(), size), min(source.layer.height(), size)
        sample = read_block(source.layer.dataProvider(), source.band, source.layer.extent(), width, height)
        refuse_linear(sample, tr("S1 layer {0}").format(source.layer.name()), hint)


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
        )
        outputs = {product: sink.commit() for product, sink in sinks.items()}
    except BaseException:
        for sink in sinks.values():
            sink.discard()
        raise
    finally:
        reader.close()
    return ClassifyResult(outputs, metadata.class_names, metadata.class_colors, summary, reader.grid)

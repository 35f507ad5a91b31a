"""The tiled inference engine shared by the QGIS plugin and ``mosaic predict`` (numpy + onnxruntime only).

Imports nothing but the standard library, numpy, onnxruntime and :mod:`mosaic.backend.errors`: QGIS imports
it. The two front ends differ only in their window reader (QGIS providers vs rasterio) and their sinks
(QGIS/GDAL layers vs files); everything else lives here.

Model and metadata
------------------
``model = load_model(path, threads=None, providers=None)`` → :class:`OnnxModel`. Opens the ONNX file with
onnxruntime, reads ``metadata_props["mosaic"]`` (JSON), validates it against
``resources/schema/model_metadata.v<N>.json`` with the strict built-in validator (no ``jsonschema`` needed) and
raises :class:`~mosaic.backend.errors.ModelError` (one sentence) for a damaged file, missing/invalid
metadata, or a newer ``schema_version`` ("update the MoSAiC plugin"). ``providers`` are onnxruntime execution
provider names (e.g. ``["CUDAExecutionProvider"]``; CPU is always appended); ``threads`` sets
``intra_op_num_threads``. ``read_metadata(path)`` returns the :class:`ModelMetadata` alone.

:class:`ModelMetadata` fields (frozen dataclass): ``schema_version``, ``class_names`` (canonical order),
``class_colors`` (``#rrggbb``), ``thresholds`` (per class), ``thresholds_tuned`` (False → 0.5 defaults),
``s2`` and ``s1`` (:class:`ModalitySpec`: ``bands`` ordered names such as ``"B02"``/``"VV"``, ``units``,
``dtype``, ``nodata``, ``gsd_m`` per band, ``mean``/``std`` per band, ``normalised_in_graph``),
``patch_size_px``, ``gsd_m``, ``upsampling`` (``"nearest"``/``"bilinear"``: how 20/60 m bands were brought to
10 m in training, so readers must do the same), ``strategy``, ``training`` and ``metrics`` (dicts), ``raw``
(the validated JSON dict).

``model.predict(s2, s1)`` → ``float32 [N, n_classes]`` probabilities of the fused head for physical inputs
``s2 [N, C_s2, P, P]`` (reflectance × 10000) and ``s1 [N, C_s1, P, P]`` (dB), normalising first when the
graph does not (``ModalitySpec.normalised_in_graph`` False: ``x' = (x - mean) / std`` per band).

Heads (schema v3): ``metadata.heads`` is ``("fused",)`` or ``("fused", "s1", "s2")`` (S1-only and S2-only
classifiers on each modality's pooled encoder feature); ``metadata.thresholds_for(head)`` and
``metadata.metrics_for(head)`` give each head's thresholds and recorded metrics. ``model.predict_heads(s2, s1)`` →
``{head: float32 [N, n_classes]}`` from one onnxruntime run; the ``s1`` head ignores ``s2`` entirely.

Reader protocol (:class:`WindowReader`)
---------------------------------------
The reader presents both modalities on ONE target grid: the S2 10 m grid of the processed extent,
``width`` × ``height`` pixels. It upsamples 20/60 m bands (``metadata.upsampling``) and resamples S1 onto
that grid itself. ``read(window)`` gets an in-bounds :class:`Window` (``row_off, col_off, height, width`` in
target pixels; the engine never asks outside ``[0, height) × [0, width)``) and returns
``(s2, s1)`` float32 arrays ``[C, h, w]`` in the model's band order and physical units, with **NaN where
there is no data** (the reader maps each file's nodata, e.g. S2 ``0``, to NaN). With ``prefetch=True`` in
:func:`run_inference` the reader is called from one background thread that reads the next block while
onnxruntime runs (off by default: on 2 cores it was slower, see the README's benchmark; only for thread-safe
readers).

Tile grid (:class:`TileGrid`)
-----------------------------
``TileGrid(width, height, patch, stride)`` with ``1 <= stride <= patch``. Tile ``(r, c)`` covers target pixels
rows ``[r·s, r·s + P)`` × cols ``[c·s, c·s + P)``; there are ``n = max(1, ceil((W − P) / s) + 1)`` tiles per axis,
so every pixel is covered. Edge policy: **padding** — tiles stay on the stride lattice (never shifted), and
the part of an edge tile beyond the raster is read as nodata (NaN). The output grid has the same origin as
the target grid and cell size ``s`` (the stride), ``ceil(W / s)`` × ``ceil(H / s)`` cells; the last row/column
of cells may extend past the raster by less than one stride.

Tiles whose nodata fraction (pixels where any band of either modality is NaN or ±inf, padding included)
exceeds ``max_nodata_fraction`` (default 0.5) are skipped and marked nodata. In kept tiles, those pixels are
filled with the band's normalisation mean (0 after normalisation) before the model runs. When every tile is
skipped, the run raises :class:`~mosaic.backend.errors.InputError` instead of writing an all-nodata result.

Averaging (stride < patch): the probability of output cell ``k`` for class ``j`` is the overlap-weighted
mean over the kept tiles ``t`` that cover it, ``P[k, j] = Σ_t a(t, k) · p_t[j] / Σ_t a(t, k)``, where
``a(t, k)`` is the number of pixels of cell ``k`` inside tile ``t`` (``= s²`` when the stride divides the
patch size, i.e. a plain mean). Cells no kept tile covers, and cells without one pixel where S2 or S1 has data
(whatever the tiles around them say), are nodata (NaN).

Run
---
``run_inference(model, reader, sinks, stride=None, batch_size=16, max_nodata_fraction=0.5,
progress=None, is_cancelled=None, prefetch=False, cloud=None, cloud_fraction=0.3)`` → :class:`RunSummary`
(``tiles_total``, ``tiles_run``, ``tiles_skipped``, ``seconds``, ``model_seconds``). ``stride`` defaults to the
patch size. Each tile goes to one head (``engine.choose_head``): with a ``cloud`` reader (``read(window)`` → bool,
True = cloudy; models with an S1-only head only) tiles whose cloudy-or-S2-nodata fraction exceeds
``cloud_fraction`` go to the S1-only head; otherwise the fused head under the nodata rule above, and tiles that
lack one modality go to the other modality's head when the model has it.
Tiles are read one tile row at a time in blocks of at most ``batch_size`` tiles, run in batches, and the
probabilities are accumulated in a rolling buffer of ``ceil(P / s) + ceil(batch_size / tiles per row) + 3``
output rows (a sparse raster runs partial batches rather than holding more rows): memory does not grow with the
raster's size. Finished output rows are flushed to every sink as soon as no later tile touches them.

- ``progress(p: Progress)`` is called after every batch: ``p.done``, ``p.total`` (tiles, skipped included),
  ``p.elapsed_s``, ``p.eta_s`` (``elapsed / done · (total − done)``, None before the first batch).
- ``is_cancelled() -> bool`` is polled between batches; when it returns True the run stops and raises
  :class:`InferenceCancelledError` (a ``MosaicError``). Sinks must then discard their outputs.

Sink protocol (:class:`OutputSink`)
-----------------------------------
``write_block(block: OutputBlock)``: ``block.row_off``, ``block.col_off`` (output cells), ``block.probabilities``
``float32 [n_classes, h, w]`` (NaN = nodata) and ``block.source`` ``uint8 [h, w]`` (the head that decided each
cell: 1 fused, 2 S1 only, 3 S2 only, 4 mixed, 0 none). Blocks arrive in row order, full output width, each row once.
``write_tiles(tiles: list[TileResult])``: the kept tiles of one batch, each with ``row``, ``col`` (tile indices),
``window`` (target pixels; may extend past the raster at the edges), ``probabilities`` ``float32
[n_classes]`` and ``head`` (``fused``, ``s1`` or ``s2``). Derived products are computed with the shared helpers,
never re-implemented in a sink:
``top_class(p)`` (uint32 class index), ``label_bitmask(p, thresholds)`` (uint32, bit c set when
``p[c] >= thresholds[c]``), both :data:`LABEL_NODATA` (``2**32 − 1``) where nodata, and ``confidence(p)``
(max probability, NaN = nodata).

Outputs (:mod:`.outputs`)
-------------------------
``output_catalogue(metadata, model_path=None, tags=None)`` describes every file both front ends write, once:
per raster product its file name, dtype, nodata, band descriptions, ``values(block)`` and ``.qml`` style; the
``tiles.gpkg`` layer's fields and ``record(tile)``; and the dataset-level tags of every raster
(``MOSAIC_MODEL`` = the model's file name, then the caller's ``tags``). Sinks write only what it describes.

Geo helpers and styles
----------------------
``output_geotransform(gt, stride)``: GDAL geotransform of the output grid from the target grid's
(``(x0, s·dx, rx, y0, ry, s·dy)``). ``tile_polygon(window, gt)``: the tile's corner coordinates.
``labels_qml(names, colors)``, ``confidence_qml()``, ``probabilities_qml(names)``: QGIS style (.qml) text.
``recognise_band(filename, bands)``: the band name in a file name such as ``..._B02.tif``, ``B8A.tif``,
``..._VV.tif`` (also ``B2.tif`` → ``B02``), or None.
"""

from __future__ import annotations

from .bandnames import recognise_band
from .engine import (
    InferenceCancelledError,
    OutputBlock,
    OutputSink,
    Progress,
    RunSummary,
    TileResult,
    WindowReader,
    run_inference,
)
from .metadata import SCHEMA_VERSION, ModalitySpec, ModelMetadata, parse_metadata, schema_path
from .model import OnnxModel, load_model, read_metadata
from .products import LABEL_NODATA, confidence, label_bitmask, top_class
from .styles import confidence_qml, labels_qml, probabilities_qml
from .tiling import TileGrid, Window, output_geotransform, tile_polygon

__all__ = [
    "LABEL_NODATA",
    "SCHEMA_VERSION",
    "InferenceCancelledError",
    "ModalitySpec",
    "ModelMetadata",
    "OnnxModel",
    "OutputBlock",
    "OutputSink",
    "Progress",
    "RunSummary",
    "TileGrid",
    "TileResult",
    "Window",
    "WindowReader",
    "confidence",
    "confidence_qml",
    "label_bitmask",
    "labels_qml",
    "load_model",
    "output_geotransform",
    "parse_metadata",
    "probabilities_qml",
    "read_metadata",
    "recognise_band",
    "run_inference",
    "schema_path",
    "tile_polygon",
    "top_class",
]

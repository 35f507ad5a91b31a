"""The output catalogue: every file a classification run writes, described once for ``mosaic predict`` and the plugin.

Both front ends write exactly what :func:`output_catalogue` describes and nothing else; they differ only in the
library that writes (rasterio/pyogrio headless, GDAL/OGR in QGIS).

Rasters (Cloud-Optimised GeoTIFFs with :meth:`RasterProduct.cog_options`, one cell per stride on the output grid;
``p`` = probabilities):

- ``probabilities.tif``: float32, nodata NaN; one band per class ``p[c]``, band description = class name.
- ``labels.tif``: uint32, nodata ``2**32 − 1``; band 1 "top class index" ``argmax_c p[c]``, band 2 the multi-label
  bitmask ``Σ_c 2^c · [p[c] >= t_c]`` (``t_c`` = the threshold of class ``c`` of the head that decided the cell;
  the fused head's for mixed cells), band 3 "source": the head that decided the cell (1 fused, 2 S1 only,
  3 S2 only, 4 mixed: averaged over tiles of different heads). Its own paletted style is
  ``labels_source.qml`` beside the file (:meth:`RasterProduct.styles`).
- ``confidence.tif``: float32, nodata NaN; band 1 "max class probability" ``max_c p[c]``.

Each raster is written row block by row block into a striped work GeoTIFF (:data:`GEOTIFF_OPTIONS`) and, once
complete, copied with GDAL's COG driver: 512 px internal tiles, DEFLATE, and overviews (each half the size of the
one before, until one fits a tile; none for a raster of one tile) resampled as the product's data allow: ``AVERAGE``
of the probabilities and confidence, ``MODE`` (the most frequent value) of the labels, nodata cells left out.

Each raster carries its QGIS style (``.qml`` beside it, text from :mod:`.styles`) and the dataset-level metadata
of :func:`output_tags` (GDAL default domain): ``MOSAIC_MODEL`` (the model's file name) and the caller's tags.

``tiles.gpkg`` (GeoPackage 1.2, :data:`GEOPACKAGE_OPTIONS`), layer ``tiles``: one polygon (``geom``) per tile run,
with the fields of :attr:`TilesProduct.fields`: ``row``, ``col`` (tile indices, Integer), ``top_class`` (name of
the most probable class), ``labels`` (names of the classes at or above their threshold, ``"; "``-joined, in class
order), ``confidence`` (max probability, Real), ``source`` (the head that gave the probabilities: ``fused``, ``s1`` or
``s2``) and one Real field per class holding its probability, named after the class.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import PurePath

import numpy as np

from .engine import OutputBlock, TileResult
from .metadata import ModelMetadata
from .products import LABEL_NODATA, MIXED_SOURCE, SOURCE_CODES, confidence, label_bitmask, source_band, top_class
from .styles import confidence_qml, labels_qml, probabilities_qml, source_qml

#: product key → file name, in the order the products are written
FILE_NAMES = {
    "probabilities": "probabilities.tif",
    "labels": "labels.tif",
    "confidence": "confidence.tif",
    "tiles": "tiles.gpkg",
}
#: GTiff creation options of the work file a raster is written into row block by row block (GDAL spelling; rasterio
#: takes them as keyword arguments): one strip per output row of each band, so every row is compressed once, when
#: the engine flushes it, whatever GDAL's block cache holds (a tiled work file needs its blocks cached until they
#: are complete: with the 64-byte cache ``mosaic predict`` had until 2026-12-06 a whole S2 tile's probabilities at
#: stride 30 took 6.7 s and 241 MiB tiled, 0.2 s and 9 MiB in strips; docs/benchmarks.md)
GEOTIFF_OPTIONS = {"COMPRESS": "DEFLATE", "TILED": "NO", "BLOCKYSIZE": "1", "INTERLEAVE": "BAND", "BIGTIFF": "IF_SAFER"}
#: COG driver creation options of every delivered raster, less the product's OVERVIEW_RESAMPLING: 512 px tiles,
#: DEFLATE after the predictor of the dtype (2, horizontal differences, for integers; 3 for floats), overviews
#: halving the size until one fits a tile
COG_OPTIONS = {
    "COMPRESS": "DEFLATE",
    "PREDICTOR": "YES",
    "BLOCKSIZE": "512",
    "OVERVIEWS": "AUTO",
    "BIGTIFF": "IF_SAFER",
}
#: GeoPackage dataset creation options: version 1.2 (user_version 10200), which the GDAL of every supported QGIS
#: (3.22 on Debian 12: GDAL 3.6) reads without a warning; newer GDAL's default (1.4, e.g. pyogrio's GDAL 3.12)
#: makes GDAL 3.6 warn "may only be partially supported"
GEOPACKAGE_OPTIONS = {"VERSION": "1.2"}
TILES_LAYER = "tiles"
TOP_CLASS_FIELD = "top_class"  #: the tiles field a categorized style keys on
CONFIDENCE_FIELD = "confidence"
SOURCE_FIELD = "source"  #: the tiles field naming the head that decided the tile
SOURCE_BAND = 3  #: the band of labels.tif that says which head decided each cell
SOURCE_STYLE = "_source"  #: its paletted style is ``<stem>_source.qml`` beside labels.tif (``labels_source.qml``)
LABELS_SEPARATOR = "; "
MODEL_TAG = "MOSAIC_MODEL"
#: fields of every tile record before the per-class probabilities: name → kind ("int", "str" or "float")
_FIXED_FIELDS = (
    ("row", "int"),
    ("col", "int"),
    (TOP_CLASS_FIELD, "str"),
    ("labels", "str"),
    (CONFIDENCE_FIELD, "float"),
    (SOURCE_FIELD, "str"),
)
#: column names the GeoPackage uses (feature id, geometry) and geopandas' geometry column
_RESERVED = ("fid", "geom", "geometry")
_TAG_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def style_file(raster: PurePath, suffix: str = "") -> PurePath:
    """The style beside ``raster``: ``<stem><suffix>.qml`` (``labels.qml``; ``labels_source.qml`` with
    :data:`SOURCE_STYLE`)."""
    return raster.with_name(f"{raster.stem}{suffix}.qml")


@dataclass(frozen=True)
class RasterProduct:
    """One GeoTIFF output: ``values(block)`` gives its bands ``[len(band_descriptions), h, w]`` in ``dtype``;
    ``overview_resampling`` (GDAL's name) makes its overviews."""

    key: str
    file_name: str
    dtype: str  #: numpy dtype name
    nodata: float
    band_descriptions: tuple[str, ...]
    values: Callable[[OutputBlock], np.ndarray]
    style_qml: str
    overview_resampling: str
    extra_styles: tuple[tuple[str, str], ...] = ()  #: (suffix of the file's stem, .qml text) of further styles

    def cog_options(self) -> dict[str, str]:
        """The COG driver's creation options of this product (GDAL spelling)."""
        return {**COG_OPTIONS, "OVERVIEW_RESAMPLING": self.overview_resampling}

    def styles(self, path: PurePath) -> list[tuple[PurePath, str]]:
        """``(style file, .qml text)`` to write beside the raster at ``path``: ``<stem>.qml`` (QGIS loads it with the
        file), then ``<stem><suffix>.qml`` of each extra style (``labels_source.qml``)."""
        return [
            (style_file(path), self.style_qml),
            *((style_file(path, suffix), qml) for suffix, qml in self.extra_styles),
        ]


@dataclass(frozen=True)
class TilesProduct:
    """The GeoPackage of tile polygons: ``fields`` (name, kind) in order; ``record(tile)`` their values."""

    key: str
    file_name: str
    layer: str
    fields: tuple[tuple[str, str], ...]
    record: Callable[[TileResult], dict[str, int | str | float]]


@dataclass(frozen=True)
class OutputCatalogue:
    """Every output of one run: the rasters, the tiles, and the metadata tags written into every raster."""

    rasters: tuple[RasterProduct, ...]
    tiles: TilesProduct
    tags: dict[str, str]

    def product(self, key: str) -> RasterProduct | TilesProduct:
        """The product named ``key`` (``probabilities``, ``labels``, ``confidence`` or ``tiles``)."""
        return self.tiles if key == self.tiles.key else next(r for r in self.rasters if r.key == key)


def output_tags(model_path: str | PurePath | None = None, tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """Dataset-level metadata of every raster: ``MOSAIC_MODEL`` = the model's file name (when given), then ``tags``.

    Keys are GDAL metadata keys (letters, digits, ``_``; not starting with a digit); ``tags`` may not redefine
    ``MOSAIC_MODEL``. Raises ``ValueError`` otherwise (a programming error, not a user's).
    """
    out = {MODEL_TAG: PurePath(model_path).name} if model_path is not None else {}
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not _TAG_KEY.fullmatch(key) or key == MODEL_TAG:
            raise ValueError(f"invalid output tag key {key!r}: letters, digits and _ only, and not {MODEL_TAG}")
        if not isinstance(value, str):
            raise ValueError(f"output tag {key} must be a string, not {type(value).__name__}")
        out[key] = value
    return out


def probability_fields(class_names: Sequence[str]) -> tuple[str, ...]:
    """The tiles field of each class's probability: its name, unless that clashes (SQLite names ignore case) with
    an earlier field or a GeoPackage column, in which case `` #c`` is appended until it does not."""
    taken = {name.casefold() for name, _ in _FIXED_FIELDS} | set(_RESERVED)
    fields = []
    for c, name in enumerate(class_names):
        field = name
        while field.casefold() in taken:
            field = f"{field} #{c}"
        taken.add(field.casefold())
        fields.append(field)
    return tuple(fields)


def _labels_values(block: OutputBlock, meta: ModelMetadata) -> np.ndarray:
    """Top class, bitmask (thresholds of the head that decided each cell) and source of ``block``."""
    p = block.probabilities
    bits = label_bitmask(p, meta.thresholds_for("fused"))
    for head in meta.heads[1:]:  # the per-modality heads (the engine routes tiles only to heads the model has)
        cells = block.source == SOURCE_CODES[head]
        if cells.any():
            bits[cells] = label_bitmask(p, meta.thresholds_for(head))[cells]
    return np.stack([top_class(p), bits, source_band(p, block.source)])


def _tile_record(tile: TileResult, meta: ModelMetadata, columns: tuple[str, ...]) -> dict[str, int | str | float]:
    p = np.asarray(tile.probabilities, dtype=np.float32)
    cell = p[:, None, None]
    bits = int(label_bitmask(cell, meta.thresholds_for(tile.head))[0, 0])
    record: dict[str, int | str | float] = {
        "row": int(tile.row),
        "col": int(tile.col),
        TOP_CLASS_FIELD: meta.class_names[int(top_class(cell)[0, 0])],
        "labels": LABELS_SEPARATOR.join(n for c, n in enumerate(meta.class_names) if bits >> c & 1),
        CONFIDENCE_FIELD: float(confidence(cell)[0, 0]),
        SOURCE_FIELD: tile.head,
    }
    record.update({column: float(v) for column, v in zip(columns, p, strict=True)})
    return record


def _source_legend() -> str:
    return ", ".join(f"{code} {head}" for head, code in SOURCE_CODES.items()) + f", {MIXED_SOURCE} mixed"


def output_catalogue(
    meta: ModelMetadata, model_path: str | PurePath | None = None, tags: Mapping[str, str] | None = None
) -> OutputCatalogue:
    """The outputs of a run of the model described by ``meta`` (see the module docstring for the table)."""
    names = meta.class_names
    rasters = (
        RasterProduct(
            "probabilities",
            FILE_NAMES["probabilities"],
            "float32",
            float("nan"),
            tuple(names),
            lambda b: b.probabilities.astype(np.float32, copy=False),
            probabilities_qml(names),
            "AVERAGE",
        ),
        RasterProduct(
            "labels",
            FILE_NAMES["labels"],
            "uint32",
            float(LABEL_NODATA),
            (
                "top class index",
                "multi-label bitmask (bit c set: class c at or above its threshold)",
                f"source (head that decided the cell: {_source_legend()})",
            ),
            partial(_labels_values, meta=meta),
            labels_qml(names, meta.class_colors),
            "MODE",
            ((SOURCE_STYLE, source_qml(SOURCE_BAND)),),
        ),
        RasterProduct(
            "confidence",
            FILE_NAMES["confidence"],
            "float32",
            float("nan"),
            ("max class probability",),
            lambda b: confidence(b.probabilities)[None],
            confidence_qml(),
            "AVERAGE",
        ),
    )
    columns = probability_fields(names)
    tiles = TilesProduct(
        "tiles",
        FILE_NAMES["tiles"],
        TILES_LAYER,
        (*_FIXED_FIELDS, *((c, "float") for c in columns)),
        partial(_tile_record, meta=meta, columns=columns),
    )
    return OutputCatalogue(rasters, tiles, output_tags(model_path, tags))

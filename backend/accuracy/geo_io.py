"""What the accuracy code reads and writes, and the I/O protocol both front ends implement.

:class:`GeoIO` is implemented with rasterio/pyogrio/shapely for the command line (:mod:`.rasterio_io`) and with
GDAL/OGR inside QGIS (``mosaic.plugin.accuracy_io``); everything else works on the plain containers here.
Grids are north-up (GDAL geotransform ``(x0, dx, 0, y0, 0, dy)``, ``dy < 0``); rotated rasters are refused by the
readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import InputError

SQUARE_METRES_PER_HECTARE = 10_000.0
#: GeoPackage 1.2, as the run's tiles.gpkg (``inference.outputs.GEOPACKAGE_OPTIONS``, not imported here: the engine's
#: package needs onnxruntime, and the accuracy code runs in QGIS without it), read by every supported QGIS's GDAL
GEOPACKAGE_OPTIONS = {"VERSION": "1.2"}


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: GDAL geotransform, size, CRS (WKT) and the CRS's linear unit in metres (None for a
    geographic CRS)."""

    transform: tuple[float, ...]
    width: int
    height: int
    crs_wkt: str
    metres_per_unit: float | None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax)."""
        x0, dx, _, y0, _, dy = self.transform
        xs, ys = (x0, x0 + dx * self.width), (y0, y0 + dy * self.height)
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def cell_hectares(self) -> float | None:
        """Area of one cell in hectares (None in a geographic CRS)."""
        if self.metres_per_unit is None:
            return None
        _, dx, _, _, _, dy = self.transform
        return abs(dx * dy) * self.metres_per_unit**2 / SQUARE_METRES_PER_HECTARE

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre coordinates of cells ``(rows, cols)``."""
        x0, dx, _, y0, _, dy = self.transform
        return x0 + (np.asarray(cols) + 0.5) * dx, y0 + (np.asarray(rows) + 0.5) * dy

    def boxes(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``[n, 4]`` (xmin, ymin, xmax, ymax) of cells ``(rows, cols)``."""
        x0, dx, _, y0, _, dy = self.transform
        xa, ya = x0 + np.asarray(cols) * dx, y0 + np.asarray(rows) * dy
        xb, yb = xa + dx, ya + dy
        return np.stack([np.minimum(xa, xb), np.minimum(ya, yb), np.maximum(xa, xb), np.maximum(ya, yb)], axis=1)

    def locate(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells holding points ``(xs, ys)``; −1 for both outside the grid."""
        x0, dx, _, y0, _, dy = self.transform
        cols = np.floor((np.asarray(xs, dtype=float) - x0) / dx).astype(np.int64)
        rows = np.floor((np.asarray(ys, dtype=float) - y0) / dy).astype(np.int64)
        outside = (cols < 0) | (cols >= self.width) | (rows < 0) | (rows >= self.height)
        return np.where(outside, -1, rows), np.where(outside, -1, cols)

    def window(self, bounds: tuple[float, float, float, float]) -> tuple[int, int, int, int] | None:
        """``(col_off, row_off, width, height)`` of the pixels that intersect ``bounds``, None when none does."""
        x0, dx, _, y0, _, dy = self.transform
        xmin, ymin, xmax, ymax = bounds
        eps = 1e-9  # a bound on a pixel edge, give or take rounding, adds no pixel
        col0, col1 = max(0, math.floor((xmin - x0) / dx + eps)), min(self.width, math.ceil((xmax - x0) / dx - eps))
        row0, row1 = max(0, math.floor((ymax - y0) / dy + eps)), min(self.height, math.ceil((ymin - y0) / dy - eps))
        if col1 <= col0 or row1 <= row0:
            return None
        return col0, row0, col1 - col0, row1 - row0

    def sub_grid(self, col_off: int, row_off: int, width: int, height: int) -> Grid:
        """The grid of a window of this one."""
        x0, dx, rx, y0, ry, dy = self.transform
        return Grid(
            (x0 + col_off * dx, dx, rx, y0 + row_off * dy, ry, dy), width, height, self.crs_wkt, self.metres_per_unit
        )


@dataclass(frozen=True)
class MapRaster:
    """A run's outputs (see ``mosaic.backend.predict.prediction``): ``labels.tif`` band 1 (top class index) and band
    2 (multi-label bitmask, bit ``c`` = class ``c``), ``valid`` where they have data, and ``probabilities.tif``
    (``[K, H, W]``, band descriptions = the class names)."""

    grid: Grid
    class_names: tuple[str, ...]
    top: np.ndarray
    bits: np.ndarray
    valid: np.ndarray
    probabilities: np.ndarray

    def presence(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``[n, K]`` bool: class ``k`` at or above its threshold in cells ``(rows, cols)``."""
        bits = self.bits[rows, cols].astype(np.uint64)
        return (bits[:, None] >> np.arange(len(self.class_names), dtype=np.uint64)) & np.uint64(1) == 1


@dataclass(frozen=True)
class RasterData:
    """Band 1 of a raster over a window, with its nodata mask and grid."""

    values: np.ndarray
    valid: np.ndarray
    grid: Grid


@dataclass(frozen=True)
class VectorTable:
    """The attributes of a vector layer's features, in feature order, and its CRS (WKT)."""

    fields: tuple[str, ...]
    records: list[dict]
    crs_wkt: str


@dataclass(frozen=True)
class LayerData:
    """A GeoPackage layer to write or read: ``fields`` (name, kind: ``int``, ``float`` or ``str``), one record per
    feature, and either cell boxes ``[n, 4]`` with a CRS (polygon layer) or no geometry (attribute table)."""

    name: str
    fields: tuple[tuple[str, str], ...]
    records: list[dict]
    boxes: np.ndarray | None = None
    crs_wkt: str | None = None


class GeoIO(Protocol):
    """The reading and writing the accuracy code needs; every method raises ``InputError``/``OutputError`` with one
    sentence for a file it cannot use."""

    def read_map(self, labels: str, probabilities: str) -> MapRaster:
        """A run's ``labels.tif`` and ``probabilities.tif`` (same grid)."""

    def raster_grid(self, path: str) -> Grid:
        """The grid of a raster file."""

    def read_raster(self, path: str, window: tuple[int, int, int, int]) -> RasterData:
        """Band 1 of ``path`` over ``window`` (col_off, row_off, width, height); valid = GDAL's mask (nodata)."""

    def read_vector(self, path: str, layer: str | None = None) -> VectorTable:
        """The attributes of ``layer`` (None: the first) of ``path``."""

    def feature_index(self, path: str, layer: str | None, grid: Grid) -> np.ndarray:
        """``int32 [H, W]``: the index (feature order) of the feature covering each cell's centre, −1 where none."""

    def overlaps(self, path: str, layer: str | None, boxes: np.ndarray) -> list[list[tuple[int, float]]]:
        """For each box: (feature index, area of the feature inside the box) for every feature that intersects it;
        point features count 1."""

    def write_geopackage(self, path: str, layers: Sequence[LayerData]) -> None:
        """A new GeoPackage with ``layers``."""

    def read_layer(self, path: str, layer: str) -> LayerData:
        """A layer of a GeoPackage (boxes = each feature's envelope; field kinds not read back)."""

    def layer_names(self, path: str) -> list[str]:
        """The layers of a vector file."""

    def same_crs(self, a: str, b: str) -> bool:
        """Whether two CRS (WKT) are the same."""

    def crs_name(self, wkt: str) -> str:
        """A short name of a CRS for messages: ``EPSG:32633`` where it has one."""


def check_crs(io: GeoIO, what: str, crs_wkt: str, map_crs_wkt: str) -> None:
    """Refuse ``what`` (a file) in another CRS than the map: areas and cells are compared in the map's CRS."""
    if not io.same_crs(crs_wkt, map_crs_wkt):
        raise InputError(
            f"{what} is in {io.crs_name(crs_wkt)} but the map is in {io.crs_name(map_crs_wkt)}: reproject it to the "
            "map's CRS first (QGIS: Reproject Layer or Warp; GDAL: ogr2ogr -t_srs or gdalwarp -t_srs)."
        )


def read_raster_over(
    io: GeoIO, path: str, bounds: tuple[float, float, float, float], crs_wkt: str, what: str, field_option: str
):
    """Band 1 of the raster ``path`` (``what`` in messages) over ``bounds`` given in the CRS ``crs_wkt``; refuses a
    vector file (it needs its ``field_option``), another CRS and no overlap."""
    try:
        grid = io.raster_grid(path)
    except InputError:
        try:
            io.layer_names(path)
        except InputError:
            raise  # neither: the raster's own message
        raise InputError(f"{what} is a vector file: name the field of its classes with {field_option}.") from None
    check_crs(io, what, grid.crs_wkt, crs_wkt)
    window = grid.window(bounds)
    if window is None:
        raise InputError(f"{what} does not overlap the map; check its extent.")
    return io.read_raster(path, window)

"""The tile grid over the target (S2 10 m) grid, and the output grid (cell = stride) it averages onto.

Tile ``(r, c)`` covers target pixels rows ``[r·s, r·s + P)`` and cols ``[c·s, c·s + P)``; per axis there are
``n = max(1, ceil((L − P) / s) + 1)`` tiles for a raster side ``L``, so every pixel is covered. Edge tiles are
never shifted: what lies beyond the raster is padding (read as nodata). Output cell ``k`` covers target pixels
``[k·s, (k+1)·s)``; there are ``ceil(L / s)`` cells per axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels: rows ``[row_off, row_off + height)``, cols ``[col_off, col_off + width)``."""

    row_off: int
    col_off: int
    height: int
    width: int

    def clip(self, height: int, width: int) -> Window:
        """The part of this window inside a ``height`` × ``width`` raster (may be empty)."""
        r0, c0 = max(self.row_off, 0), max(self.col_off, 0)
        r1, c1 = min(self.row_off + self.height, height), min(self.col_off + self.width, width)
        return Window(r0, c0, max(r1 - r0, 0), max(c1 - c0, 0))


@dataclass(frozen=True)
class TileGrid:
    """Tiles of ``patch`` px every ``stride`` px over a ``width`` × ``height`` target grid."""

    width: int
    height: int
    patch: int
    stride: int

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise InputError(f"the processed extent is empty ({self.width} × {self.height} px); check the AOI.")
        if not 1 <= self.stride <= self.patch:
            raise InputError(f"stride must be between 1 and the patch size {self.patch} px, not {self.stride}.")

    @staticmethod
    def _tiles(length: int, patch: int, stride: int) -> int:
        return max(1, math.ceil((length - patch) / stride) + 1)

    @property
    def n_rows(self) -> int:
        """Tile rows."""
        return self._tiles(self.height, self.patch, self.stride)

    @property
    def n_cols(self) -> int:
        """Tile columns."""
        return self._tiles(self.width, self.patch, self.stride)

    @property
    def n_tiles(self) -> int:
        return self.n_rows * self.n_cols

    @property
    def out_height(self) -> int:
        """Output rows (cells of ``stride`` px)."""
        return math.ceil(self.height / self.stride)

    @property
    def out_width(self) -> int:
        """Output columns (cells of ``stride`` px)."""
        return math.ceil(self.width / self.stride)

    @property
    def cells_per_tile(self) -> int:
        """Output cells a tile touches per axis: ``ceil(P / s)``."""
        return math.ceil(self.patch / self.stride)

    def cell_weights(self) -> np.ndarray:
        """``a[d]``: pixels along one axis of a tile's ``d``-th cell inside the tile, ``min(P, (d+1)·s) − d·s``."""
        d = np.arange(self.cells_per_tile)
        return (np.minimum(self.patch, (d + 1) * self.stride) - d * self.stride).astype(np.float64)

    def window(self, row: int, col: int) -> Window:
        """Target-pixel window of tile ``(row, col)`` (may extend past the raster at the edges)."""
        return Window(row * self.stride, col * self.stride, self.patch, self.patch)


def output_geotransform(geotransform: Sequence[float], stride: int) -> tuple[float, ...]:
    """GDAL geotransform of the output grid: same origin as the target grid, pixel size × ``stride``."""
    x0, dx, rx, y0, ry, dy = geotransform
    return (x0, dx * stride, rx * stride, y0, ry * stride, dy * stride)


def tile_polygon(window: Window, geotransform: Sequence[float]) -> list[tuple[float, float]]:
    """Closed ring (5 corner coordinates) of ``window`` on the grid with GDAL ``geotransform``."""
    x0, dx, rx, y0, ry, dy = geotransform
    corners = [
        (window.col_off, window.row_off),
        (window.col_off + window.width, window.row_off),
        (window.col_off + window.width, window.row_off + window.height),
        (window.col_off, window.row_off + window.height),
    ]
    ring = [(x0 + c * dx + r * rx, y0 + c * ry + r * dy) for c, r in corners]
    return [*ring, ring[0]]

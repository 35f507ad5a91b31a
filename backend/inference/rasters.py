"""What a front end tells the input inspector about one input raster (a file, or a QGIS layer).

The inspector (:mod:`.inspector`) decides from these facts alone, so ``mosaic predict`` (rasterio), ``mosaic
prepare`` and the plugin (QGIS layers) identify inputs with the same rules. A front end fills one
:class:`RasterInfo` per input and gives a :data:`Sampler` for decimated reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: the inspector's samples: each band of the whole raster decimated (nearest) to at most this many pixels a side
SAMPLE_PX = 256
#: ``sampler(raster, band)`` → a decimated read (≤ SAMPLE_PX × SAMPLE_PX, nearest) of band ``band`` (1-based) of raster
#: ``raster`` (index into the list given to the inspector): float64 raw stored values, the declared nodata as NaN
Sampler = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class BandInfo:
    """One band: its description, declared nodata (None: none declared) and GDAL scale/offset
    (``value = stored × scale + offset``; 1 and 0 when none is declared)."""

    description: str = ""
    nodata: float | None = None
    scale: float = 1.0
    offset: float = 0.0

    @property
    def scaled(self) -> bool:
        """True when a GDAL scale or offset is declared."""
        return self.scale != 1.0 or self.offset != 0.0


@dataclass(frozen=True)
class RasterInfo:
    """One input raster.

    ``path``: the file (may be a GDAL ``/vsizip/`` path; ``""`` when there is none); ``name``: what the user sees
    (the QGIS layer name or the file name); ``dtype``: numpy name of the stored type (``uint16``, ``float32``…);
    ``crs``: a short human name (``EPSG:32633``); ``pixel_size_m``: ground size of one pixel ``(x, y)`` in metres
    at the raster's centre (None when the CRS has no known relation to the Earth, e.g. an engineering CRS);
    ``metres``: True when the CRS's linear unit is the metre; ``centre_lonlat``: the centre in WGS 84 degrees
    (None when unknown); ``tags``: dataset metadata (GDAL default domain).
    """

    path: str
    name: str
    bands: tuple[BandInfo, ...]
    dtype: str
    crs: str
    pixel_size_m: tuple[float, float] | None
    metres: bool = True
    centre_lonlat: tuple[float, float] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.bands)

    @property
    def is_integer(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.integer)

    def texts(self, band: int) -> list[str]:
        """Texts that may name band ``band`` (1-based), most specific first: the description, and for a
        single-band raster its file name and its name."""
        texts = [self.bands[band - 1].description]
        if self.count == 1:
            texts += [Path(self.path.replace("\\", "/")).name if self.path else "", self.name]
        return [t for t in texts if t]


def ground_pixel_m(dx: float, dy: float, lat: float) -> tuple[float, float]:
    """Ground size in metres of a ``dx`` × ``dy`` degree pixel at latitude ``lat`` (spherical approximation:
    ``x = dx · 111 320 · cos φ``, ``y = dy · 110 574``; good to ~0.5 % for this purpose)."""
    return abs(dx) * 111_320.0 * float(np.cos(np.radians(lat))), abs(dy) * 110_574.0

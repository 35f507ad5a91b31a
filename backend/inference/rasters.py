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
#: rasters larger than this on a side are sampled in :data:`SAMPLE_GRID` × :data:`SAMPLE_GRID` windows instead: a
#: decimated read decodes every block of the file (its cost grows with the raster), the windows a fixed few
WHOLE_SAMPLE_MAX_PX = 4 * SAMPLE_PX
SAMPLE_GRID = 6
#: ``sampler(raster, band)`` → the inspector's sample (:func:`sample_windows`) of band ``band`` (1-based) of raster
#: ``raster`` (index into the list given to the inspector): float64 raw stored values, the declared nodata as NaN
Sampler = Callable[[int, int], np.ndarray]


def sample_windows(width: int, height: int) -> list[tuple[int, int, int, int]] | None:
    """Where the inspector samples a ``width`` × ``height`` raster: None → the whole raster decimated (nearest) to at
    most :data:`SAMPLE_PX` a side (rasters up to :data:`WHOLE_SAMPLE_MAX_PX` a side); else :data:`SAMPLE_GRID` ²
    ``(col, row, w, h)`` windows of ``SAMPLE_PX // SAMPLE_GRID`` px a side (less on a thin axis) read at full
    resolution: about as many pixels, read at a fixed cost whatever the raster's size. Window ``i`` sits at the
    Halton point ``(h₂(i + 1), h₃(i + 1))`` of the raster (bases 2 and 3): spread over all of it, and never in step
    with a periodic pattern the way a regular grid can be. Both front ends read these same windows."""
    if width <= WHOLE_SAMPLE_MAX_PX and height <= WHOLE_SAMPLE_MAX_PX:
        return None
    k = SAMPLE_GRID
    w, h = min(SAMPLE_PX // k, width // k), min(SAMPLE_PX // k, height // k)
    return [(int(_halton(i + 1, 2) * (width - w)), int(_halton(i + 1, 3) * (height - h)), w, h) for i in range(k * k)]


def _halton(index: int, base: int) -> float:
    """The ``index``-th element of the van der Corput sequence in ``base`` (in [0, 1))."""
    value, scale = 0.0, 1.0
    while index:
        scale /= base
        index, digit = divmod(index, base)
        value += digit * scale
    return value


def tiled_sample(windows: list[np.ndarray]) -> np.ndarray:
    """The :data:`SAMPLE_GRID` ² window reads of :func:`sample_windows` (row-major) as one 2-D array, in place."""
    k = SAMPLE_GRID
    return np.block([[windows[j * k + i] for i in range(k)] for j in range(k)])


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
    (None when unknown); ``tags``: dataset metadata (GDAL default domain); ``scale``: the projection's scale
    factor ``(k_x, k_y)`` at the centre, CRS metres per ground metre along each axis (Web Mercator at 48° N:
    1.49; None for geographic CRSs or when unknown, read as 1).
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
    scale: tuple[float, float] | None = None

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


WGS84_A = 6_378_137.0  #: semi-major axis (m)
WGS84_E2 = 6.694_379_990_14e-3  #: first eccentricity squared


def ground_distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance in metres between two nearby WGS 84 points ``(lon, lat)`` (a pixel or a few apart): with the radii
    of curvature at the mean latitude φ, ``M = a(1 − e²)/W³`` along the meridian and ``N = a/W`` across it
    (``W = √(1 − e² sin²φ)``), ``d = √((M·Δφ)² + (N·cos φ·Δλ)²)`` (Δ in radians; exact to ~1e-6 over 100 m)."""
    lat = np.radians((a[1] + b[1]) / 2.0)
    w = np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    m, n = WGS84_A * (1.0 - WGS84_E2) / w**3, WGS84_A / w
    dlon = (b[0] - a[0] + 180.0) % 360.0 - 180.0
    return float(np.hypot(m * np.radians(b[1] - a[1]), n * np.cos(lat) * np.radians(dlon)))


def projected_pixel_m(
    dx: float, dy: float, unit_m: float, lonlat: tuple[tuple[float, float], ...]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(ground pixel (x, y) in m, scale (k_x, k_y))`` of a ``dx`` × ``dy`` pixel of a projected CRS whose unit
    is ``unit_m`` metres, from the WGS 84 ``(lon, lat)`` of the pixel's centre, of the point one pixel east and of
    the point one pixel south: ``x = d(centre, east)``, ``k_x = |dx|·unit_m / x`` (likewise ``y``). The scale is
    the projection's at the scene, from its own transformation (Web Mercator at 48° N: 1.49 on both axes)."""
    centre, east, south = lonlat
    x, y = ground_distance_m(centre, east), ground_distance_m(centre, south)
    return (x, y), (abs(dx) * unit_m / x, abs(dy) * unit_m / y)

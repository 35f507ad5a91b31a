"""Ground resolution and pixel shape of the S2 input against the model's grid.

The model saw square ``gsd_m`` pixels (10 m: a 120 px patch is 1.2 km). The finest S2 input's ground pixel — its
size on the Earth at the scene's centre, from the CRS's own scale there (:func:`~.rasters.projected_pixel_m`), not
its unit — is compared with it: within :data:`TOLERANCE` on both axes the input grid is used as it is; otherwise
the input is resampled onto a square ``gsd_m`` grid — in the input's CRS when that is in metres and its scale
factor at the scene is within :data:`TOLERANCE` of 1 on both axes (UTM, national conformal and equal-area grids),
else in the UTM zone of the scene's centre (degrees; Web Mercator, whose metres are 1.49 ground metres at 48° N;
any projection distorted there) — and inputs coarser than :data:`MAX_FACTOR` × ``gsd_m`` are refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError
from .rasters import RasterInfo

TOLERANCE = 0.05  #: relative difference of the ground pixel size accepted as the model's
MAX_FACTOR = 6  #: coarser S2 input than this many model pixels is refused (60 m for a 10 m model)


@dataclass(frozen=True)
class GridPlan:
    """``resample``: False → the finest S2 raster's own grid; True → a square ``pixel_m`` grid in the S2 CRS
    (``epsg`` None) or in ``EPSG:epsg`` (a UTM zone). ``source_m``: the finest S2 input's ground pixel (x, y)."""

    resample: bool
    pixel_m: float
    source_m: tuple[float, float]
    epsg: int | None = None
    modality: str = "S2"  #: the modality whose finest raster decides the grid (S1 in a run of S1 alone)
    scale: tuple[float, float] | None = None  #: the input CRS's scale factor at the scene, when far from 1

    def describe(self) -> str:
        x, y = self.source_m
        size = f"{x:.3g} m" if abs(x - y) <= TOLERANCE * max(x, y) else f"{x:.3g} × {y:.3g} m"
        if not self.resample:
            return f"{self.modality} grid used as it is ({size} pixels)"
        where = f"EPSG:{self.epsg}" if self.epsg else "its CRS"
        why = ""
        if self.scale is not None:
            kx, ky = self.scale
            factor = f"{kx:.3g}" if abs(kx - ky) <= TOLERANCE * max(kx, ky) else f"{kx:.3g} × {ky:.3g}"
            why = f" (its CRS's scale factor at the scene is {factor}: its metres are not ground metres)"
        return f"{self.modality} resampled from {size} pixels to {self.pixel_m:g} m in {where}{why}"


def near_one(scale: tuple[float, float] | None) -> bool:
    """True when a CRS's scale factor ``(k_x, k_y)`` is within :data:`TOLERANCE` of 1 on both axes (None: unknown,
    taken as 1)."""
    return scale is None or all(abs(k - 1.0) <= TOLERANCE for k in scale)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone holding ``(lon, lat)``: 326zz north, 327zz south."""
    zone = min(max(math.floor((lon + 180.0) / 6.0) + 1, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


def plan_grid(rasters: Sequence[RasterInfo], gsd_m: float, modality: str = "S2") -> GridPlan:
    """The grid to read the ``modality`` (S2; S1 in a run of S1 alone) ``rasters`` on (the finest one decides);
    refuses what cannot be used."""
    for r in rasters:
        if r.pixel_size_m is None:
            raise InputError(
                f"{r.name} is in {r.crs or 'no CRS'}, which has no known relation to the Earth (an "
                "engineering or local CRS); assign the raster's real CRS first."
            )
    finest = min(rasters, key=lambda r: r.pixel_size_m[0] * r.pixel_size_m[1])
    x, y = finest.pixel_size_m
    if abs(x / gsd_m - 1) <= TOLERANCE and abs(y / gsd_m - 1) <= TOLERANCE:
        return GridPlan(False, gsd_m, (x, y), modality=modality)
    if max(x, y) > MAX_FACTOR * gsd_m:
        raise InputError(
            f"the finest {modality} band of {finest.name} has {x:.3g} × {y:.3g} m pixels; the model needs "
            f"{gsd_m:g} m and cannot use data coarser than {MAX_FACTOR * gsd_m:g} m."
        )
    if finest.metres and near_one(finest.scale):
        return GridPlan(True, gsd_m, (x, y), modality=modality)
    if finest.centre_lonlat is None:
        raise InputError(
            f"{finest.name} ({finest.crs}) has {x:.3g} × {y:.3g} m pixels and cannot be placed on the "
            f"Earth to resample it; reproject it to {gsd_m:g} m in a UTM CRS first."
        )
    distorted = finest.scale if finest.metres else None  # metres that are not ground metres: say why
    return GridPlan(True, gsd_m, (x, y), utm_epsg(*finest.centre_lonlat), modality, distorted)

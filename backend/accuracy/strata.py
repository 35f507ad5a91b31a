"""Strata of a map's cells: its top class, the presence of one class, or the values of a user's stratum layer.

Cells without data (the labels' nodata, or outside the user's layer) are outside the population: never sampled, no
area. Strata are named for the analyst (class names; ``"<class>: present"`` / ``"<class>: absent"``; the layer's
values as text) and keep only those that hold cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .geo_io import MapRaster

STRATA_KINDS = ("top-class", "presence", "layer")
ABSENT, PRESENT = "absent", "present"  #: the two states of a class in a multi-label map


@dataclass(frozen=True)
class Strata:
    """``codes[row, col]`` the stratum of each cell (−1 outside the population), ``names[h]`` stratum ``h``."""

    codes: np.ndarray
    names: tuple[str, ...]

    def cells(self) -> np.ndarray:
        """Cells per stratum."""
        return np.bincount(self.codes[self.codes >= 0], minlength=len(self.names))


def _kept(codes: np.ndarray, names: Sequence[str]) -> Strata:
    """Only the strata that hold cells, in ``names`` order."""
    counts = np.bincount(codes[codes >= 0], minlength=len(names))
    keep = np.flatnonzero(counts)
    recode = np.full(len(names) + 1, -1, dtype=np.int64)
    recode[keep] = np.arange(len(keep))
    return Strata(recode[codes], tuple(names[k] for k in keep))


def top_class_strata(raster: MapRaster) -> Strata:
    """One stratum per top class (Olofsson et al. 2014: strata = map classes)."""
    codes = np.where(raster.valid, raster.top.astype(np.int64), -1)
    return _kept(codes, raster.class_names)


def presence_strata(raster: MapRaster, class_name: str) -> Strata:
    """Two strata: cells where ``class_name`` is present in the multi-label map, and cells where it is absent."""
    if class_name not in raster.class_names:
        raise InputError(
            f"the map has no class {class_name!r} to stratify by; its classes: {', '.join(raster.class_names)}."
        )
    k = raster.class_names.index(class_name)
    present = (raster.bits.astype(np.uint64) >> np.uint64(k)) & np.uint64(1) == 1
    codes = np.where(raster.valid, np.where(present, 1, 0), -1)
    return _kept(codes, (f"{class_name}: {ABSENT}", f"{class_name}: {PRESENT}"))


def layer_strata(raster: MapRaster, values: np.ndarray, inside: np.ndarray) -> Strata:
    """Strata from a user's layer: ``values[row, col]`` at each cell's centre (text or numbers), ``inside`` where the
    layer has a value."""
    cells = raster.valid & inside
    if not cells.any():
        raise InputError("the stratum layer covers no cell of the map that has data; check its extent and CRS.")
    names, codes = np.unique(np.asarray(values)[cells], return_inverse=True)
    out = np.full(raster.valid.shape, -1, dtype=np.int64)
    out[cells] = codes
    return Strata(out, tuple(_label(v) for v in names))


def _label(value) -> str:
    """A stratum value as text: integers without ``.0``."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)

"""Agreement of the top-class map with another map (e.g. CORINE Land Cover): a cross-tabulation by area.

This is **agreement, not accuracy**: the other map has its own errors, and its classes, date and minimum mapping unit
differ from ours, so disagreement is not all our map's error (Olofsson et al. 2014 warn against using a map as
reference). Estimated accuracy needs a labelled sample (:mod:`.top_class`).

Both maps are compared on the finer of the two grids (same CRS): every pixel of the finer grid is looked up in the
other map at its centre and counts with its area. Pixels without data in either map, and reference values the
class mapping ignores, are left out. ``area[i, j]``: area mapped ``i`` by our map and ``j`` by the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .estimates import json_number, safe_ratio
from .geo_io import SQUARE_METRES_PER_HECTARE, MapRaster, RasterData
from .reference import ClassMapping


@dataclass(frozen=True)
class Agreement:
    """The cross-tabulation by area (rows: our map, columns: the reference map) over ``classes``."""

    classes: tuple[str, ...]
    area: np.ndarray
    unit: str
    reference_name: str

    @property
    def overall(self) -> float:
        """Share of the compared area where both maps give the same class."""
        return float(np.trace(self.area) / self.area.sum()) if self.area.sum() > 0 else float("nan")

    def per_class(self) -> list[dict]:
        """Per class: area in our map, in the reference, in both, and the agreeing share of each map's area."""
        diagonal, ours, theirs = np.diag(self.area), self.area.sum(axis=1), self.area.sum(axis=0)
        return [
            {
                "class": name,
                "map_area": float(ours[k]),
                "reference_area": float(theirs[k]),
                "agreement_area": float(diagonal[k]),
                "share_of_map_area": float(safe_ratio(diagonal[k], ours[k])),
                "share_of_reference_area": float(safe_ratio(diagonal[k], theirs[k])),
            }
            for k, name in enumerate(self.classes)
        ]

    def to_json(self) -> dict:
        """``{"kind", "reference", "unit", "overall_agreement", "classes": {name: per_class fields}}`` (NaN: null)."""
        return {
            "kind": "agreement between two maps, not accuracy",
            "reference": self.reference_name,
            "unit": self.unit,
            "overall_agreement": json_number(self.overall),
            "classes": {row.pop("class"): {k: json_number(v) for k, v in row.items()} for row in self.per_class()},
        }


def _pixel_area(transform: tuple[float, ...]) -> float:
    return abs(transform[1] * transform[5])


def cross_tabulate(raster: MapRaster, reference: RasterData, mapping: ClassMapping, reference_name: str) -> Agreement:
    """The area cross-tabulation of ``raster``'s top class against ``reference`` (same CRS; see the module)."""
    ours, theirs = raster.grid, reference.grid
    values = np.unique(reference.values[reference.valid])
    codes_of_values = mapping.classes_of(values.tolist(), raster.class_names)
    if _pixel_area(theirs.transform) <= _pixel_area(ours.transform):
        fine, weight = theirs, _pixel_area(theirs.transform)
        rows, cols = np.indices((fine.height, fine.width))
        r, c = ours.locate(*fine.centres(rows, cols))
        ref_rows, ref_cols, map_rows, map_cols = rows, cols, r, c
    else:
        fine, weight = ours, _pixel_area(ours.transform)
        rows, cols = np.indices((fine.height, fine.width))
        r, c = theirs.locate(*fine.centres(rows, cols))
        ref_rows, ref_cols, map_rows, map_cols = r, c, rows, cols
    inside = (map_rows >= 0) & (ref_rows >= 0)
    map_rows, map_cols, ref_rows, ref_cols = map_rows[inside], map_cols[inside], ref_rows[inside], ref_cols[inside]
    ok = raster.valid[map_rows, map_cols] & reference.valid[ref_rows, ref_cols]
    map_codes = raster.top[map_rows[ok], map_cols[ok]].astype(np.int64)
    ref_codes = codes_of_values[np.searchsorted(values, reference.values[ref_rows[ok], ref_cols[ok]])]
    keep = ref_codes >= 0
    k = len(raster.class_names)
    area = np.zeros((k, k))
    np.add.at(area, (map_codes[keep], ref_codes[keep]), 1.0)
    metres = ours.metres_per_unit
    if metres is None:
        area *= weight / _pixel_area(ours.transform)
        unit = "cells"
    else:
        area *= weight * metres**2 / SQUARE_METRES_PER_HECTARE
        unit = "ha"
    involved = np.flatnonzero(area.sum(axis=0) + area.sum(axis=1) > 0)
    return Agreement(
        tuple(raster.class_names[i] for i in involved), area[np.ix_(involved, involved)], unit, reference_name
    )

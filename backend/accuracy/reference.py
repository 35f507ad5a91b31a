"""Reference labels for the sample units from a reference raster or vector, through a class mapping.

A unit's cell gets:

- from a **raster** (e.g. CORINE Land Cover): the pixels whose centres lie in the cell (the pixel under the cell's
  centre when the raster is coarser); reference class = the mapped class covering most of them (ties: the first
  class of the map), classes present = every mapped class among them;
- from **points or polygons**: the features that intersect the cell; reference class = the class of ``field``
  covering most of the cell (points count one each); classes present = the classes of ``labels_field``
  (``";"``-joined names, as BigEarthNet's and ``tiles.gpkg``'s ``labels``) of those features, or else their
  ``field`` classes.

Values reach the map's classes through a :class:`ClassMapping`: ``corine`` (the project's CORINE level-3 code →
BigEarthNet 19-class table, :func:`mosaic.backend.data.classes.clc_to_ben19`), a CSV ``value,class`` (an empty
class ignores that value), or none (the values are the map's class names). Pixels and features with ignored values
(CORINE's unlabelled codes), empty values or nodata add nothing. A value missing from the mapping is refused.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.classes import clc_to_ben19
from ..errors import InputError
from .geo_io import RasterData, VectorTable

CORINE = "corine"
_SPLIT = re.compile(r"\s*;\s*")


@dataclass(frozen=True)
class ClassMapping:
    """Reference value (as text) → map class name, or None to ignore the value; ``name`` for messages."""

    table: dict[str, str | None] | None
    name: str

    def classes_of(self, values: Sequence, class_names: tuple[str, ...]) -> np.ndarray:
        """Class codes of ``values`` (−1: ignored or None); refuses a value the mapping or the map does not know."""
        index = {n: k for k, n in enumerate(class_names)}
        lookup: dict[str, int] = {}
        out = np.empty(len(values), dtype=np.int64)
        for i, value in enumerate(values):
            if value is None:
                out[i] = -1
                continue
            key = value_text(value)
            if key not in lookup:
                lookup[key] = self._code(key, index, class_names)
            out[i] = lookup[key]
        return out

    def _code(self, key: str, index: dict[str, int], class_names: tuple[str, ...]) -> int:
        name = key if self.table is None else self.table.get(key, KeyError)
        if name is KeyError:
            raise InputError(
                f"reference value {key!r} is not in the class mapping {self.name}: add it (or map it "
                "to nothing to ignore it)."
            )
        if name is None or name == "":
            return -1
        if name not in index:
            shown = ", ".join(class_names[:6]) + ("…" if len(class_names) > 6 else "")
            raise InputError(
                f"reference class {name!r} is not a class of the map ({shown}): correct the reference "
                "or map it to a map class with a class mapping."
            )
        return index[name]


def value_text(value) -> str:
    """A reference value as the mapping's key: integers (also 211.0) without decimals, text stripped."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def class_mapping(spec: str | None) -> ClassMapping:
    """``None`` (values are class names), ``corine``, or a CSV file ``value,class``."""
    if spec is None:
        return ClassMapping(None, "of class names")
    if spec.casefold() == CORINE:
        return ClassMapping({str(code): name for code, name in clc_to_ben19().items()}, "corine (CLC level 3 → 19)")
    path = Path(spec)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read the class mapping {spec}: {exc}") from None
    if not rows or not {"value", "class"} <= set(rows[0]):
        raise InputError(f"the class mapping {path.name} needs the columns value,class (one row per reference value).")
    return ClassMapping({value_text(r["value"]): (r["class"] or "").strip() or None for r in rows}, path.name)


@dataclass(frozen=True)
class UnitReferences:
    """Per unit: the reference class code (−1: the reference says nothing there) and the classes present."""

    top: np.ndarray
    presence: np.ndarray


def _majority(codes: np.ndarray, weights: np.ndarray, n_classes: int) -> int:
    keep = codes >= 0
    if not keep.any():
        return -1
    return int(np.argmax(np.bincount(codes[keep], weights=weights[keep], minlength=n_classes)))


def from_raster(
    data: RasterData, boxes: np.ndarray, mapping: ClassMapping, class_names: tuple[str, ...]
) -> UnitReferences:
    """Reference classes of the cells ``boxes`` from a reference raster (see the module docstring)."""
    valid_values = np.unique(data.values[data.valid])
    codes_of = dict(zip(valid_values.tolist(), mapping.classes_of(valid_values.tolist(), class_names).tolist()))
    grid, k = data.grid, len(class_names)
    x0, dx, _, y0, _, dy = grid.transform
    cols, rows = np.arange(grid.width), np.arange(grid.height)
    cx, cy = x0 + (cols + 0.5) * dx, y0 + (rows + 0.5) * dy  # pixel centres
    top = np.full(len(boxes), -1, dtype=np.int64)
    presence = np.zeros((len(boxes), k), dtype=bool)
    for u, (xmin, ymin, xmax, ymax) in enumerate(boxes):
        cs, rs = cols[(cx >= xmin) & (cx < xmax)], rows[(cy > ymin) & (cy <= ymax)]
        if len(cs) == 0 or len(rs) == 0:
            r, c = grid.locate(np.array([(xmin + xmax) / 2]), np.array([(ymin + ymax) / 2]))
            rs, cs = r[r >= 0], c[c >= 0]
        window = np.ix_(rs, cs)
        values = data.values[window][data.valid[window]]
        codes = np.array([codes_of[v] for v in values.tolist()], dtype=np.int64)
        top[u] = _majority(codes, np.ones(len(codes)), k)
        presence[u, codes[codes >= 0]] = True
    return UnitReferences(top, presence)


def from_vector(
    table: VectorTable,
    overlaps: list[list[tuple[int, float]]],
    field: str | None,
    labels_field: str | None,
    mapping: ClassMapping,
    class_names: tuple[str, ...],
) -> UnitReferences:
    """Reference classes of the units from the features overlapping them (``overlaps`` from ``GeoIO.overlaps``)."""
    for name in filter(None, (field, labels_field)):
        if name not in table.fields:
            raise InputError(f"the reference has no field {name!r}; its fields: {', '.join(table.fields)}.")
    k = len(class_names)
    feature_class = mapping.classes_of([r[field] for r in table.records], class_names) if field else None
    top = np.full(len(overlaps), -1, dtype=np.int64)
    presence = np.zeros((len(overlaps), k), dtype=bool)
    for u, found in enumerate(overlaps):
        index = np.array([i for i, _ in found], dtype=np.int64)
        weights = np.array([w for _, w in found], dtype=float)
        if feature_class is not None:
            top[u] = _majority(feature_class[index], weights, k)
        if labels_field:
            for i in index:
                names = [n for n in _SPLIT.split(table.records[i][labels_field] or "") if n]
                codes = mapping.classes_of(names, class_names)
                presence[u, codes[codes >= 0]] = True
        elif feature_class is not None:
            codes = feature_class[index]
            presence[u, codes[codes >= 0]] = True
    return UnitReferences(top, presence)

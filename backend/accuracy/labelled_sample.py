"""A labelled sample in class codes, checked before anything is estimated (the refusals of ``mosaic assess``).

Wherever the sample comes from (the plain CSV tables, the GeoPackage of ``mosaic sample``), it becomes one
:class:`LabelledSample`; :func:`labelled_sample` encodes the names and refuses, in one sentence each:

- a stratum of the sample without an area, and a stratum with area but fewer than 2 sample units (its variance
  ``s²_h`` has divisor ``n_h − 1``);
- a reference class the map does not know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

MIN_UNITS_PER_STRATUM = 2  #: a stratum's sample variance needs two units


@dataclass(frozen=True)
class LabelledSample:
    """Sample units ``u`` with their stratum, map and reference classes as codes.

    ``classes`` are the map's classes (codes index them), ``strata`` names the strata with their areas
    ``stratum_areas`` (in ``area_unit``). ``reference`` is None when no unit has a top-class reference;
    ``mapped_presence``/``reference_presence`` (bool ``[n, K]``) are the multi-label map and reference, and
    ``probabilities`` (``[n, K]``) the map's class probabilities, where the sample has them. ``boxes`` are the units'
    cells (x0, y0, x1, y1) in the CRS ``crs_wkt`` where known.
    """

    classes: tuple[str, ...]
    strata_names: tuple[str, ...]
    stratum_areas: np.ndarray
    area_unit: str
    unit_ids: tuple[str, ...]
    strata: np.ndarray
    mapped: np.ndarray | None
    reference: np.ndarray | None
    mapped_presence: np.ndarray | None = None
    reference_presence: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    boxes: np.ndarray | None = None
    crs_wkt: str | None = None

    @property
    def size(self) -> int:
        return len(self.unit_ids)

    def units_per_stratum(self) -> np.ndarray:
        return np.bincount(self.strata, minlength=len(self.strata_names))


def labelled_sample(
    classes: Sequence[str],
    areas: Mapping[str, float],
    area_unit: str,
    unit_ids: Sequence[str],
    strata: Sequence[str],
    mapped: Sequence[str] | None,
    reference: Sequence[str | None] | None,
    *,
    areas_source: str,
    reference_presence: np.ndarray | None = None,
    **extra,
) -> LabelledSample:
    """Encode and check a sample given by names (see the module docstring for the refusals).

    ``areas`` maps every stratum to its area (``areas_source`` names where they came from, for the messages);
    ``extra`` passes ``mapped_presence``, ``probabilities``, ``boxes`` and ``crs_wkt`` through.
    """
    classes = tuple(classes)
    strata_names = _strata_with_areas(strata, areas, areas_source)
    codes = np.array([strata_names.index(s) for s in strata], dtype=np.int64)
    stratum_areas = np.array([float(areas[s]) for s in strata_names])
    _check_units_per_stratum(strata_names, stratum_areas, codes, areas_source)
    return LabelledSample(
        classes=classes,
        strata_names=strata_names,
        stratum_areas=stratum_areas,
        area_unit=area_unit,
        unit_ids=tuple(unit_ids),
        strata=codes,
        mapped=None if mapped is None else _encode(mapped, classes, unit_ids, "map class"),
        reference=None if reference is None else _encode(reference, classes, unit_ids, "reference class"),
        reference_presence=reference_presence,
        **extra,
    )


def _strata_with_areas(strata: Sequence[str], areas: Mapping[str, float], areas_source: str) -> tuple[str, ...]:
    """The strata with an area, in the areas' order; refuses a sampled stratum without one."""
    for name in dict.fromkeys(strata):
        if name not in areas:
            n = sum(1 for s in strata if s == name)
            raise InputError(
                f"no area for stratum {name!r} ({n} sample units) in {areas_source}: every stratum of the sample "
                f"needs its mapped area; add a row '{name},<area>'."
            )
    return tuple(areas)


def _check_units_per_stratum(names: tuple[str, ...], areas: np.ndarray, codes: np.ndarray, areas_source: str) -> None:
    counts = np.bincount(codes, minlength=len(names))
    for name, area, n in zip(names, areas, counts):
        if area > 0 and n < MIN_UNITS_PER_STRATUM:
            raise InputError(
                f"stratum {name!r} has {n} sample unit{'' if n == 1 else 's'} but an area in {areas_source}; a stratum "
                f"needs at least {MIN_UNITS_PER_STRATUM} units for a variance: label more units in it, or merge it "
                "with another stratum (and add their areas)."
            )


def _encode(values: Sequence[str | None], classes: tuple[str, ...], unit_ids: Sequence[str], what: str) -> np.ndarray:
    index = {name: k for k, name in enumerate(classes)}
    codes = np.empty(len(values), dtype=np.int64)
    for u, value in enumerate(values):
        if value not in index:
            raise InputError(
                f"{what} {value!r} of sample unit {unit_ids[u]} is not a class of the map ({_listing(classes)}): "
                "correct the label, or map it to a map class with a class mapping."
            )
        codes[u] = index[value]
    return codes


def _listing(names: tuple[str, ...], at_most: int = 6) -> str:
    shown = ", ".join(names[:at_most])
    return shown if len(names) <= at_most else f"{shown}, … ({len(names)} classes)"

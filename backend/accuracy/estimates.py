"""The results of a stratified accuracy assessment, and ``assessment.json``'s shape.

Every interval is the 95 % normal interval ``estimate ± 1.96 · SE`` (``ci95`` is its half-width). The published
examples print ``1.96 · SE``: Olofsson et al. (2014) give deforestation as 235,086 ± 68,418 pixels, which is
1.96 × 34,907.22; ``qnorm(0.975) = 1.959964`` would give 68,417. Undefined estimates (a user's accuracy of a class
nobody mapped, a producer's accuracy of a class absent from the reference) are NaN, written as JSON ``null``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.96  #: the normal quantile of every 95 % interval, as the papers print it


@dataclass(frozen=True)
class Estimate:
    """A population estimate and its standard error (NaN where undefined)."""

    estimate: float
    se: float

    @property
    def ci95(self) -> float:
        """Half-width of the 95 % confidence interval: ``1.96 · SE``."""
        return Z95 * self.se

    def scaled(self, factor: float) -> Estimate:
        """The estimate of ``factor`` times the quantity (an area from an area proportion)."""
        return Estimate(self.estimate * factor, self.se * factor)


@dataclass(frozen=True)
class Assessment:
    """Accuracy and area of one map (classes in ``classes`` order; rows of the matrices are map classes, columns
    reference classes).

    ``proportions[i, j]`` is the estimated proportion of the area mapped ``i`` whose reference class is ``j``
    (Olofsson's p̂_ij); ``counts[i, j]`` the sample units mapped ``i`` with reference ``j``; ``total_area`` in
    ``area_unit`` is the area the strata cover.
    """

    estimator: str
    classes: tuple[str, ...]
    overall: Estimate
    users: tuple[Estimate, ...]
    producers: tuple[Estimate, ...]
    area_proportions: tuple[Estimate, ...]
    proportions: np.ndarray
    counts: np.ndarray
    total_area: float
    area_unit: str

    def area(self, k: int) -> Estimate:
        """Estimated area of reference class ``k`` in ``area_unit``: ``total_area · p̂_.k``."""
        return self.area_proportions[k].scaled(self.total_area)

    def to_json(self) -> dict:
        """``assessment.json``: ``{"overall_accuracy": {estimate, se}, "classes": {name: {users_accuracy,
        producers_accuracy, area_proportion (+ ci95), area (+ ci95, unit)}}}``, nothing else."""
        return {
            "overall_accuracy": _pair(self.overall),
            "classes": {
                name: {
                    "users_accuracy": _pair(self.users[k]),
                    "producers_accuracy": _pair(self.producers[k]),
                    "area_proportion": {
                        **_pair(self.area_proportions[k]),
                        "ci95": json_number(self.area_proportions[k].ci95),
                    },
                    "area": {**_pair(self.area(k)), "ci95": json_number(self.area(k).ci95), "unit": self.area_unit},
                }
                for k, name in enumerate(self.classes)
            },
        }


def json_number(value: float) -> float | None:
    """A number for JSON: None (``null``) where NaN or infinite."""
    return None if not math.isfinite(value) else float(value)


def _pair(e: Estimate) -> dict:
    return {"estimate": json_number(e.estimate), "se": json_number(e.se)}


def safe_ratio(numerator, denominator):
    """``numerator / denominator`` elementwise, NaN where the denominator is 0 (no warning)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out

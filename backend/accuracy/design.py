"""Sample size and its allocation to strata (Olofsson et al. 2014, section 5.1; FAO 2016).

Total sample size for a target standard error ``S(Ô)`` of overall accuracy (Olofsson et al. 2014, eq. 13, after
Cochran 1977 eq. 5.25), with ``W_i`` the strata's area shares, ``U_i`` their anticipated user's accuracies,
``S_i = √(U_i (1 − U_i))`` and ``N`` the number of cells::

    n = (Σ_i W_i S_i)² / (S(Ô)² + (1/N) Σ_i W_i S_i²)

(the paper's example: W = .02, .015, .32, .645, U = .7, .6, .9, .95, S(Ô) = .01 gives n = 641, rounded up).

Allocation of ``n`` (every method gives each stratum at least :data:`MIN_UNITS` units, the least a variance needs,
and at most its number of cells; the sizes add up to ``n``):

- ``proportional``: ``n_h ∝ W_h`` (largest remainders, so the sizes add up to ``n``);
- ``equal``: ``n / H`` per stratum;
- ``compromise`` (the good practice): a stratum whose proportional share is below ``minimum`` gets ``minimum``; the
  others share the rest in proportion to their areas, repeated until none is below or only the largest are left to
  take the rest (Olofsson et al. 2014 compare 50, 75 and 100 per rare class; the FAO tool's default is 100).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError

ALLOCATIONS = ("compromise", "proportional", "equal")
MIN_UNITS = 2  #: a stratum's variance needs two units
DEFAULT_MINIMUM = 50  #: compromise allocation: units per rare stratum (Olofsson et al. 2014 use 50–100)
DEFAULT_TARGET_SE = 0.01  #: target standard error of overall accuracy (Olofsson et al. 2014; FAO default)
DEFAULT_EXPECTED_ACCURACY = 0.9  #: anticipated user's accuracy of every stratum (FAO default for common classes)


def sample_size(weights: Sequence[float], expected_accuracy: Sequence[float], target_se: float, cells: int) -> int:
    """Eq. 13: the sample size that gives ``target_se`` for overall accuracy (rounded up, at most ``cells``)."""
    if not 0 < target_se < 1:
        raise InputError(f"the target standard error of overall accuracy must be between 0 and 1, not {target_se}.")
    w = np.asarray(weights, dtype=float)
    u = np.asarray(expected_accuracy, dtype=float)
    if np.any((u <= 0) | (u >= 1)):
        raise InputError("an expected user's accuracy must be between 0 and 1 (exclusive).")
    s = np.sqrt(u * (1 - u))
    n = float(np.sum(w * s)) ** 2 / (target_se**2 + float(np.sum(w * s**2)) / cells)
    return min(cells, math.ceil(n - 1e-9))


def allocate(cells: Sequence[int], n: int, method: str, minimum: int = DEFAULT_MINIMUM) -> np.ndarray:
    """Units per stratum for a total of ``n`` (see the module docstring); ``cells[h]`` is stratum ``h``'s size."""
    cells = np.asarray(cells, dtype=np.int64)
    if method not in ALLOCATIONS:
        raise InputError(f"unknown allocation {method!r}; choose one of {', '.join(ALLOCATIONS)}.")
    if n > cells.sum():
        raise InputError(f"a sample of {n} units is more than the {cells.sum()} cells with data.")
    if method == "equal":
        wanted = _largest_remainders(np.where(cells > 0, 1.0, 0.0), n)
    elif method == "proportional":
        wanted = _largest_remainders(cells.astype(float), n)
    else:
        wanted = _compromise(cells, n, minimum)
    return _fit(wanted, cells, n)


def _largest_remainders(shares: np.ndarray, n: int) -> np.ndarray:
    """Integers proportional to ``shares`` adding up to ``n`` (Hamilton's method)."""
    if shares.sum() == 0:
        return np.zeros(len(shares), dtype=np.int64)
    exact = shares / shares.sum() * n
    out = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - out), kind="stable")
    out[order[: n - out.sum()]] += 1
    return out


def _compromise(cells: np.ndarray, n: int, minimum: int) -> np.ndarray:
    fixed = np.zeros(len(cells), dtype=bool)
    while True:
        rest = n - np.minimum(cells[fixed], minimum).sum()
        free = ~fixed & (cells > 0)
        shares = _largest_remainders(np.where(free, cells, 0).astype(float), max(rest, 0))
        rare = free & (shares < minimum)
        if not rare.any() or np.array_equal(rare, free):  # the last free strata take the rest, however small
            return np.where(fixed, np.minimum(cells, minimum), shares)
        fixed |= rare


def _fit(wanted: np.ndarray, cells: np.ndarray, n: int) -> np.ndarray:
    """``wanted`` raised to :data:`MIN_UNITS` and capped at each stratum's cells, still adding up to ``n``: the units
    the raise adds come from the largest allocations, those a full stratum cannot take go to the others in
    proportion to their areas."""
    floor = np.minimum(MIN_UNITS, cells)
    out = np.minimum(np.maximum(wanted, floor), cells)
    while out.sum() > n and np.any(out > floor):
        out[np.argmax(np.where(out > floor, out, -1))] -= 1
    while out.sum() < n:
        room = cells - out
        extra = _largest_remainders(np.where(room > 0, cells, 0).astype(float), n - out.sum())
        out = np.minimum(out + extra, cells)
    return out

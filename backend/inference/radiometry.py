"""Converting stored input values to the model's physical units, window by window, in every front end.

One :class:`Conversion` per model band: ``x = stored × gain + bias``; then, for S1 given as linear power or
amplitude, ``x = log_factor · log10(x)`` (10 for power, 20 for amplitude; ``x ≤ 0`` → NaN); stored values equal
to a ``fill`` value and results outside ``valid`` (physically impossible) become NaN (nodata).

Model units: S2 ``reflectance × Q_m − A_m`` (Q_m = 10000, A_m = 0 for every BigEarthNet model: the pre-04.00
convention), S1 ``σ⁰`` in dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: physically possible surface reflectance (L2A BOA can dip slightly below 0; clouds stay below ~1.6)
REFLECTANCE_RANGE = (-0.1, 2.0)
#: physically possible σ⁰ in dB (noise floor ~ −50 dB; corner reflectors stay below ~+35 dB)
DB_RANGE = (-60.0, 40.0)


@dataclass(frozen=True)
class Conversion:
    """``stored → model units`` for one band (see the module docstring)."""

    gain: float = 1.0
    bias: float = 0.0
    log_factor: float = 0.0  #: 0: none; 10: power → dB; 20: amplitude → dB
    fill: tuple[float, ...] = ()
    valid: tuple[float, float] = (-math.inf, math.inf)

    def apply(self, stored: np.ndarray) -> np.ndarray:
        """float32 model values of ``stored`` (any shape; NaN stays NaN); ``stored`` is left as it is."""
        return self.apply_inplace(np.array(stored, dtype=np.float32))

    def apply_inplace(self, x: np.ndarray) -> np.ndarray:
        """:meth:`apply` on a float32 array ``x``, overwriting it (one pass per step, no copies); returns ``x``."""
        bad = None
        for value in set(self.fill):
            hit = x == value
            bad = hit if bad is None else np.logical_or(bad, hit, out=bad)
        if self.gain != 1.0:
            x *= np.float32(self.gain)
        if self.bias != 0.0:
            x += np.float32(self.bias)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.log_factor:
                positive = x > 0
                np.log10(x, out=x, where=positive)
                x *= np.float32(self.log_factor)
                np.copyto(x, np.float32(np.nan), where=~positive)
            inside = (x >= self.valid[0]) & (x <= self.valid[1])  # False for NaN
        outside = np.logical_not(inside, out=inside)
        np.copyto(x, np.float32(np.nan), where=outside if bad is None else np.logical_or(bad, outside, out=bad))
        return x

    @property
    def identity(self) -> bool:
        return self.gain == 1.0 and self.bias == 0.0 and not self.log_factor


def convert(stack: np.ndarray, conversions: list[Conversion]) -> np.ndarray:
    """``[C, h, w]`` stored values → float32 model values, band ``c`` with ``conversions[c]``; a float32 ``stack`` is
    converted in place (and returned), anything else into a new float32 array."""
    x = stack if stack.dtype == np.float32 and stack.flags.writeable else np.array(stack, dtype=np.float32)
    for c, band in zip(conversions, x):
        c.apply_inplace(band)
    return x


def finite(values: np.ndarray) -> np.ndarray:
    """The finite values of ``values``, flattened, float64."""
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def percentile(values: np.ndarray, q: float) -> float | None:
    """``q``-th percentile of the finite values, or None when there are none."""
    v = finite(values)
    return float(np.percentile(v, q)) if v.size else None


def frequent_fill(stored: np.ndarray, impossible: np.ndarray, min_share: float = 0.001) -> float | None:
    """The most frequent stored value among the ``impossible`` ones when it makes at least ``min_share`` of the
    finite sample (an untagged fill value such as −9999), else None."""
    v = np.asarray(stored, dtype=np.float64)
    ok = np.isfinite(v)
    bad = v[ok & impossible]
    if bad.size == 0:
        return None
    values, counts = np.unique(bad, return_counts=True)
    k = int(np.argmax(counts))
    return float(values[k]) if counts[k] >= min_share * max(int(ok.sum()), 1) else None

"""Sentinel-1 backscatter units: the models take dB; some processors write linear power (or amplitude) instead.

``σ⁰_dB = 10 · log10(σ⁰_linear)``. Land backscatter is about −25…+5 dB, i.e. about 0.003…3 in linear power.
A sample **looks linear** when under 1 % of its finite values are negative and its median is in ``[0, 1]``:
linear power is never negative, while dB data of a real scene is mostly negative (a median at or above 0 dB
with no negative values would mean a surface brighter than 0 dB almost everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the largest share of negative values a linear-power sample may hold (speckle filters can undershoot)
MAX_NEGATIVE_SHARE = 0.01


@dataclass(frozen=True)
class UnitsCheck:
    """Statistics of a sample of finite values: ``median`` and the share of ``negative`` values."""

    median: float
    negative: float

    @property
    def looks_linear(self) -> bool:
        return self.negative < MAX_NEGATIVE_SHARE and 0.0 <= self.median <= 1.0

    def describe(self) -> str:
        return f"median {self.median:.3g}, {self.negative:.0%} negative values"


def check_units(sample: np.ndarray) -> UnitsCheck | None:
    """Statistics of the finite values of ``sample`` (any shape); None when it holds none."""
    values = np.asarray(sample, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    return UnitsCheck(float(np.median(values)), float((values < 0).mean()))

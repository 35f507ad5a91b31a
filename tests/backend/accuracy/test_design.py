"""Sample size (Olofsson et al. 2014 eq. 13) and allocation, on the paper's example."""

from __future__ import annotations

import numpy as np
import pytest

from mosaic.backend.accuracy.design import allocate, sample_size
from mosaic.backend.errors import InputError

from .conftest import OLOFSSON_PIXELS

WEIGHTS = (0.020, 0.015, 0.320, 0.645)
EXPECTED = (0.70, 0.60, 0.90, 0.95)  # the paper's anticipated user's accuracies


def test_sample_size_of_the_paper():
    # Σ W_i S_i = 0.2530881; (0.2530881 / 0.01)² = 640.54 → 641 (the full form with N = 10⁷ gives 640.49)
    assert sample_size(WEIGHTS, EXPECTED, 0.01, 10_000_000) == 641
    # a small map: 0.2530881² / (0.01² + 0.0672375 / 500) = 273.2 → 274, below the 500 cells
    assert sample_size(WEIGHTS, EXPECTED, 0.01, 500) == 274
    assert sample_size([1.0], [0.9], 0.05, 112) == 28  # 0.09 / (0.05² + 0.09 / 112) = 27.2


@pytest.mark.parametrize(
    ("method", "minimum", "expected"),
    [
        ("proportional", 0, (13, 10, 205, 413)),  # 12.82, 9.615, 205.12, 413.445 by largest remainders
        ("equal", 0, (161, 160, 160, 160)),
        ("compromise", 100, (100, 100, 146, 295)),  # the paper's allocations with 100, 75 and 50 per change class
        ("compromise", 75, (75, 75, 163, 328)),
        ("compromise", 50, (50, 50, 179, 362)),
    ],
)
def test_allocations_of_the_paper(method, minimum, expected):
    units = allocate(OLOFSSON_PIXELS, 641, method, minimum)
    assert tuple(units.tolist()) == expected and units.sum() == 641


def test_every_stratum_gets_two_units_and_none_more_than_its_cells():
    units = allocate([1_000_000, 50, 3, 1], 100, "proportional")
    assert units.tolist() == [95, 2, 2, 1]  # 2 at least (capped at the cells), taken from the largest
    assert allocate([1_000_000, 50, 3, 1], 100, "compromise", 50).tolist() == [46, 50, 3, 1]


def test_refusals():
    with pytest.raises(InputError, match="more than the 10 cells with data"):
        allocate([4, 6], 11, "equal")
    with pytest.raises(InputError, match="target standard error of overall accuracy must be between 0 and 1"):
        sample_size([1.0], [0.9], 0.0, 10)
    with pytest.raises(InputError, match="unknown allocation 'optimal'"):
        allocate(np.array([5, 5]), 4, "optimal")

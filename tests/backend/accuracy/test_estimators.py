"""The estimators against each other and against scikit-learn, on the published data and on random samples."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from mosaic.backend.accuracy.multilabel import average_precision
from mosaic.backend.accuracy.olofsson import olofsson
from mosaic.backend.accuracy.stehman import stehman

from .conftest import OLOFSSON_COUNTS, OLOFSSON_PIXELS


def units_of(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mapped, reference = np.nonzero(counts)
    repeat = counts[mapped, reference]
    return np.repeat(mapped, repeat), np.repeat(reference, repeat)


def assert_same(a, b):
    for x, y in [(a.overall, b.overall), *zip(a.users, b.users), *zip(a.producers, b.producers)]:
        assert x.estimate == pytest.approx(y.estimate, abs=1e-12, nan_ok=True)
        assert x.se == pytest.approx(y.se, abs=1e-12, nan_ok=True)
    for x, y in zip(a.area_proportions, b.area_proportions):
        assert (x.estimate, x.se) == pytest.approx((y.estimate, y.se), abs=1e-12)
    np.testing.assert_allclose(a.proportions, b.proportions, atol=1e-12)
    np.testing.assert_array_equal(a.counts, b.counts)


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_stehman_reduces_to_olofsson_when_strata_are_the_map_classes(seed):
    """Stehman (2014) says so; eq. 7 (PA) and eq. 28 (ratio) agree to rounding (the paper's data, then random)."""
    if seed is None:
        counts, areas = np.array(OLOFSSON_COUNTS), np.array(OLOFSSON_PIXELS, dtype=float)
    else:
        rng = np.random.default_rng(seed)
        counts = rng.integers(0, 30, size=(5, 5)) + np.diag(rng.integers(5, 60, size=5))
        areas = rng.uniform(1, 1000, size=5)
    names = tuple("abcde"[: len(counts)])
    mapped, reference = units_of(counts)
    assert_same(olofsson(names, counts, areas, "px"), stehman(names, mapped, areas, mapped, reference, "px"))


def test_weighted_average_precision_is_scikit_learns():
    rng = np.random.default_rng(7)
    scores = np.round(rng.uniform(size=300), 2)  # ties included
    truth = rng.uniform(size=300) < scores
    weights = rng.uniform(0.1, 3, size=300)
    assert average_precision(scores, truth, weights) == pytest.approx(
        average_precision_score(truth, scores, sample_weight=weights), abs=1e-12
    )
    assert average_precision(scores, truth, np.ones(300)) == pytest.approx(average_precision_score(truth, scores))
    assert np.isnan(average_precision(scores, np.zeros(300, dtype=bool), weights))

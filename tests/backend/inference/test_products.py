"""Top class, multi-label bitmask and confidence from probabilities, NaN = nodata."""

from __future__ import annotations

import numpy as np

from mosaic.backend.inference import LABEL_NODATA, confidence, label_bitmask, top_class


def _probs() -> np.ndarray:
    p = np.array([[0.9, 0.2, np.nan], [0.6, 0.7, np.nan], [0.1, 0.75, np.nan]], dtype=np.float32)
    return p[:, None, :]  # [3 classes, 1, 3 cells]


def test_top_class_is_the_argmax_and_nodata_is_marked():
    assert top_class(_probs()).tolist() == [[0, 2, int(LABEL_NODATA)]]


def test_bitmask_sets_bit_c_for_classes_at_or_above_their_threshold():
    # cell 0: class 0 (0.9 >= 0.5), class 1 (0.6 >= 0.6) -> 0b011; cell 1: class 1 (0.7), class 2 (0.75 >= 0.7) -> 0b110
    assert label_bitmask(_probs(), [0.5, 0.6, 0.7]).tolist() == [[3, 6, int(LABEL_NODATA)]]
    assert label_bitmask(_probs(), [0.95, 0.95, 0.95]).tolist() == [[0, 0, int(LABEL_NODATA)]]


def test_bitmask_of_31_classes_all_on_differs_from_nodata():
    p = np.ones((31, 1, 1), dtype=np.float32)
    assert label_bitmask(p, [0.5] * 31)[0, 0] == 2**31 - 1 != LABEL_NODATA


def test_confidence_is_the_max_probability():
    c = confidence(_probs())
    np.testing.assert_array_equal(c[0, :2], np.array([0.9, 0.75], dtype=np.float32))
    assert np.isnan(c[0, 2]) and c.dtype == np.float32

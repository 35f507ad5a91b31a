"""Stored values → model units: gain/bias, log for linear S1, fill and impossible values as NaN."""

from __future__ import annotations

import numpy as np

from mosaic.backend.inference.radiometry import DB_RANGE, REFLECTANCE_RANGE, Conversion, frequent_fill


def test_s2_offset_removal_and_the_reflectance_range():
    conv = Conversion(1.0, -1000.0, 0.0, (0.0,), tuple(r * 10000 for r in REFLECTANCE_RANGE))
    out = conv.apply(np.array([0, 1, 1144, 21000, 30000], dtype=np.uint16))
    np.testing.assert_array_equal(out, np.array([np.nan, -999, 144, 20000, np.nan], dtype=np.float32))


def test_s1_power_amplitude_and_scaled_integers_to_db():
    power = Conversion(1.0, 0.0, 10.0, (0.0,), DB_RANGE).apply(np.array([0.1, 0.0, -1.0, 1e-9]))
    np.testing.assert_allclose(power, [-10.0, np.nan, np.nan, np.nan])  # 1e-9 is −90 dB: below the noise floor
    amplitude = Conversion(1.0, 0.0, 20.0, (), DB_RANGE).apply(np.array([np.sqrt(0.1)]))
    np.testing.assert_allclose(amplitude, [-10.0], atol=1e-5)
    scaled = Conversion(0.01, 0.0, 0.0, (-32768.0,), DB_RANGE).apply(np.array([-1234, -32768], dtype=np.int16))
    np.testing.assert_allclose(scaled, [-12.34, np.nan], atol=1e-5)


def test_frequent_fill_needs_a_real_share():
    values = np.array([-9999.0] * 5 + list(range(1, 996)))
    impossible = values < 0
    assert frequent_fill(values, impossible) == -9999.0
    assert frequent_fill(values, impossible, min_share=0.01) is None
    assert frequent_fill(values, np.zeros_like(impossible)) is None

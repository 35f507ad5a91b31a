"""S1 units check and dB conversion on the real T33UUP and SSL4EO S1 rasters."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from mosaic.backend.inference.radiometry import Conversion
from mosaic.backend.inference.s1_units import check_units


def _read(path) -> np.ndarray:
    with rasterio.open(path) as src:
        a = src.read(1).astype(np.float32)
        if src.nodata is not None and not np.isnan(src.nodata):
            a[a == src.nodata] = np.nan
        return a


def test_real_db_rasters_do_not_look_linear(t33uup_mosaic, shared_data):
    files = [*t33uup_mosaic.glob("S1_*.tif"), *(shared_data / "ssl4eo-s12-sample" / "s1").glob("*/*/V?.tif")]
    assert len(files) >= 4
    for path in files:
        check = check_units(_read(path))
        assert check.median < -5 and check.negative > 0.9, path.name
        assert not check.looks_linear


def test_the_same_rasters_in_linear_power_look_linear(t33uup_mosaic, t33uup_s1_linear):
    for db_path, linear_path in zip(sorted(t33uup_mosaic.glob("S1_*.tif")), t33uup_s1_linear):
        check = check_units(_read(linear_path))
        assert check.looks_linear and check.negative == 0 and 0.001 < check.median < 0.5  # VV ≈ -10 dB, VH ≈ -17 dB
        db = _read(db_path)
        back = Conversion(log_factor=10.0).apply(_read(linear_path))
        np.testing.assert_allclose(back, db, atol=1e-4)  # the round trip gives the dB back
        assert check.median == pytest.approx(10 ** (np.nanmedian(db) / 10), rel=1e-4)


def test_all_nodata_sample_has_no_verdict():
    assert check_units(np.full((4, 4), np.nan)) is None

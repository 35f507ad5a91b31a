"""Band names recognised from file names of the real data sets' layouts."""

from __future__ import annotations

import pytest

from mosaic.backend.data.bands import S1_BANDS, S2_BANDS_ALL
from mosaic.backend.inference import recognise_band

BANDS = S2_BANDS_ALL + S1_BANDS


@pytest.mark.parametrize(
    ("name", "band"),
    [
        ("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_mosaic_c37-38_r87-90_B02.tif", "B02"),
        ("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57_B8A.tif", "B8A"),
        ("B8A.tif", "B8A"),
        ("B2.tif", "B02"),
        ("B12.TIF", "B12"),
        ("b08.tiff", "B08"),
        ("S1_IW_GRDH_1SDV_2017061x_33UUP_mosaic_c37-38_r87-90_VV.tif", "VV"),
        ("VH.tif", "VH"),
        ("T33UUP_20170613T101031_B11_20m.jp2", "B11"),
        ("metadata.json", None),
        ("B10.tif", None),  # cirrus band: not a model band
        ("S2_RGB.tif", None),
    ],
)
def test_recognise_band(name, band):
    assert recognise_band(name, BANDS) == band


def test_only_the_model_bands_are_recognised():
    assert recognise_band("x_B01.tif", ("B02", "B03")) is None

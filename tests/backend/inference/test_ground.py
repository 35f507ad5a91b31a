"""Ground resolution and pixel shape: use the grid, resample it, or refuse."""

from __future__ import annotations

import pytest

from mosaic.backend.errors import InputError
from mosaic.backend.inference.ground import plan_grid, utm_epsg
from mosaic.backend.inference.rasters import BandInfo, RasterInfo, ground_pixel_m


def _raster(pixel_m, metres=True, centre=(12.9, 47.8), crs="EPSG:32633") -> RasterInfo:
    return RasterInfo("/x.tif", "x.tif", (BandInfo(),), "uint16", crs, pixel_m, metres, centre)


def test_utm_zones():
    assert utm_epsg(12.9, 47.8) == 32633 and utm_epsg(-3.7, 40.4) == 32630 and utm_epsg(151.2, -33.9) == 32756
    assert utm_epsg(180.0, 0.0) == 32660 and utm_epsg(-180.0, -1.0) == 32701


def test_degree_pixels_on_the_ground():
    x, y = ground_pixel_m(0.0001, 0.0001, 47.8)
    assert x == pytest.approx(7.48, abs=0.01) and y == pytest.approx(11.06, abs=0.01)


def test_plans():
    assert not plan_grid([_raster((10.0, 10.0)), _raster((20.0, 20.0))], 10.0).resample
    assert not plan_grid([_raster((9.73, 9.73), metres=False)], 10.0).resample  # SSL4EO's ~10 m degrees
    twenty = plan_grid([_raster((20.0, 20.0))], 10.0)
    assert (
        twenty.resample
        and twenty.epsg is None
        and twenty.describe() == "S2 resampled from 20 m pixels to 10 m in its CRS"
    )
    degrees = plan_grid([_raster((7.48, 11.06), metres=False, crs="EPSG:4326")], 10.0)
    assert degrees.resample and degrees.epsg == 32633


@pytest.mark.parametrize(
    ("raster", "match"),
    [
        (_raster(None, crs="LOCAL_CS"), "no known relation to the Earth"),
        (_raster((100.0, 100.0)), "cannot use data coarser than 60 m"),
        (_raster((7.5, 11.0), metres=False, centre=None), "cannot be placed on the Earth"),
    ],
)
def test_refusals(raster, match):
    with pytest.raises(InputError, match=match):
        plan_grid([raster], 10.0)

"""Ground resolution and pixel shape: use the grid, resample it, or refuse."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mosaic.backend.errors import InputError
from mosaic.backend.inference.ground import plan_grid, utm_epsg
from mosaic.backend.inference.rasters import BandInfo, RasterInfo, ground_pixel_m, projected_pixel_m


def _raster(pixel_m, metres=True, centre=(12.9, 47.8), crs="EPSG:32633", scale=None) -> RasterInfo:
    return RasterInfo("/x.tif", "x.tif", (BandInfo(),), "uint16", crs, pixel_m, metres, centre, {}, scale)


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


@pytest.mark.parametrize("epsg", [3857, 3395, 3995, 31287, 32633, 32632, 27700])
def test_the_scale_of_conformal_projections_is_pyprojs(epsg):
    """``projected_pixel_m`` measures a pixel's ground size from the CRS's own transformation; for conformal
    projections its scale is the same in every direction: pyproj's ``Proj.get_factors`` at the mosaic's centre.
    Web Mercator projects WGS 84 coordinates as if on a sphere of radius ``a`` (``x = aλ``, ``y = a ln tan(π/4 +
    φ/2)``), and pyproj's factors are that sphere's (``1 / cos φ``: 1.4880 at 47.8° N). On the ellipsoid's ground,
    with ``W = √(1 − e² sin²φ)``, ``N = a / W`` and ``M = a(1 − e²) / W³``, it is not conformal: ``k_x = a / (N cos φ) =
    W / cos φ`` (1.4852) and ``k_y = a / (M cos φ) = W³ / ((1 − e²) cos φ)`` (1.4898)."""
    from pyproj import Proj, Transformer

    lon, lat = 12.939, 47.774
    to_crs, to_wgs84 = (Transformer.from_crs(a, b, always_xy=True) for a, b in ((4326, epsg), (epsg, 4326)))
    x, y = to_crs.transform(lon, lat)
    points = tuple(to_wgs84.transform(px, py) for px, py in ((x, y), (x + 10.0, y), (x, y - 10.0)))
    (gx, gy), (kx, ky) = projected_pixel_m(10.0, 10.0, 1.0, points)
    factors = Proj(f"EPSG:{epsg}").get_factors(*points[0])
    if epsg == 3857:
        e2, phi = 6.69437999014e-3, np.radians(points[0][1])
        w = np.sqrt(1.0 - e2 * np.sin(phi) ** 2)
        assert factors.parallel_scale == pytest.approx(1 / np.cos(phi))
        factors = SimpleNamespace(parallel_scale=w / np.cos(phi), meridional_scale=w**3 / ((1 - e2) * np.cos(phi)))
    assert kx == pytest.approx(factors.parallel_scale, rel=2e-4) and ky == pytest.approx(
        factors.meridional_scale, rel=2e-4
    )
    assert gx == pytest.approx(10.0 / kx) and gy == pytest.approx(10.0 / ky)


def test_metres_that_are_not_ground_metres_are_resampled_in_the_utm_zone():
    mercator = plan_grid([_raster((6.72, 6.72), crs="EPSG:3857", scale=(1.488, 1.488))], 10.0)
    assert mercator.resample and mercator.epsg == 32633
    assert mercator.describe() == (
        "S2 resampled from 6.72 m pixels to 10 m in EPSG:32633 (its CRS's scale factor at the scene is 1.49: its "
        "metres are not ground metres)"
    )
    # 15 Web Mercator metres are 10.1 m on the ground: the grid is used as it is
    assert not plan_grid([_raster((10.08, 10.08), crs="EPSG:3857", scale=(1.488, 1.488))], 10.0).resample
    # 20 m in a conformal CRS of scale 0.9997 there: resampled in its own CRS, as ever
    austria = plan_grid([_raster((20.0, 20.0), crs="EPSG:31287", scale=(0.9997, 0.9997))], 10.0)
    assert austria.resample and austria.epsg is None
    # S1 alone decides its own grid, and says so
    assert plan_grid([_raster((10.0, 10.0))], 10.0, "S1").describe() == "S1 grid used as it is (10 m pixels)"

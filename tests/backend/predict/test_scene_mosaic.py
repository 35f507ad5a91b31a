"""The mosaic of many scenes' outputs: grid, drawing order, nodata, a scene in another CRS, relative VRT paths."""

from __future__ import annotations

import shutil
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import transform as transform_points
from shapely.geometry import box

from mosaic.backend.inference import read_metadata
from mosaic.backend.inference.outputs import output_catalogue
from mosaic.backend.predict.scene_mosaic import build_mosaic

UTM33 = CRS.from_epsg(32633)


def _confidence(folder, values: np.ndarray, transform, crs=UTM33) -> None:
    """A scene folder: its confidence raster and style, and one tile polygon per cell in tiles.gpkg."""
    folder.mkdir(parents=True)
    cells = [(r, c) for r in range(values.shape[0]) for c in range(values.shape[1])]
    polygons = [box(*(transform * (c, r + 1)), *(transform * (c + 1, r))) for r, c in cells]
    gpd.GeoDataFrame(
        {"row": [r for r, _ in cells], "col": [c for _, c in cells], "confidence": values.ravel().astype(float)},
        geometry=polygons,
        crs=crs,
    ).to_file(folder / "tiles.gpkg", layer="tiles", engine="pyogrio")
    profile = {
        "driver": "GTiff",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": "float32",
        "nodata": np.nan,
        "crs": crs,
        "transform": transform,
    }
    with rasterio.open(folder / "confidence.tif", "w", **profile) as ds:
        ds.write(values.astype(np.float32), 1)
        ds.set_band_description(1, "max class probability")
    (folder / "confidence.qml").write_text("<qgis/>", encoding="utf-8")


@pytest.fixture(scope="module")
def confidence_catalogue(onnx_model_path):
    """The model's output catalogue reduced to the confidence raster (and the tiles)."""
    catalogue = output_catalogue(read_metadata(onnx_model_path))
    return replace(catalogue, rasters=tuple(p for p in catalogue.rasters if p.file_name == "confidence.tif"))


def test_later_scenes_win_except_on_nodata_and_other_crs_is_warped(confidence_catalogue, tmp_path):
    from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

    out = tmp_path / "out"
    a = np.array([[0.1, 0.2, 0.3], [0.4, np.nan, 0.6]])
    b = np.array([[0.7, np.nan], [0.8, 0.9]])
    _confidence(out / "a", a, from_origin(344400, 5295600, 1200, 1200))
    _confidence(out / "b", b, from_origin(345600, 5294400, 1200, 1200))  # one cell right and down of a
    lon, lat = transform_points(UTM33, "EPSG:4326", [360000], [5280000])
    c = np.array([[0.25, 0.5], [0.75, 1.0]])
    _confidence(out / "c", c, from_origin(lon[0], lat[0], 0.016, 0.011), crs=CRS.from_epsg(4326))
    written = build_mosaic(out, [out / "a", out / "b", out / "c"], confidence_catalogue)
    assert sorted(p.name for p in written) == ["confidence.qml", "confidence.tif", "confidence.vrt", "tiles.gpkg"]

    tiles = gpd.read_file(out / "mosaic" / "tiles.gpkg", layer="tiles")
    assert tiles.crs == UTM33 and list(tiles.scene) == ["a"] * 6 + ["b"] * 4 + ["c"] * 4
    np.testing.assert_array_equal(tiles.confidence, np.concatenate([a.ravel(), b.ravel(), c.ravel()]))
    assert tiles.geometry[0].bounds == (344400, 5294400, 345600, 5295600)  # a's first cell, as written
    c_cells = gpd.read_file(out / "c" / "tiles.gpkg", layer="tiles").to_crs(UTM33)
    assert tiles.geometry[10:].reset_index(drop=True).geom_equals_exact(c_cells.geometry, tolerance=1e-6).all()
    assert 359000 < tiles.geometry[10].bounds[0] < 361000  # c's cells, from EPSG:4326, near its UTM origin

    cog = out / "mosaic" / "confidence.tif"
    assert validate(str(cog), full_check=True)[:2] == ([], [])
    with rasterio.open(cog) as m:
        assert m.crs == UTM33 and m.transform.a == 1200 and (m.transform.c, m.transform.f) == (344400, 5295600)
        assert m.descriptions == ("max class probability",)
        mosaic = m.read(1)
        # a, then b drawn over it (b's nodata cell shows a), a's nodata cell where b is absent stays nodata
        np.testing.assert_array_equal(
            mosaic[:3, :3], np.array([[0.1, 0.2, 0.3], [0.4, 0.7, 0.6], [np.nan, 0.8, 0.9]], dtype=np.float32)
        )
        assert m.bounds.right >= 360000 and m.bounds.bottom <= 5280000 - 2 * 1200  # c is inside
        cells = mosaic[~np.isnan(mosaic)]
        assert set(cells.tolist()) - set(np.float32([*a.ravel(), *b.ravel()]).tolist()) == set(np.float32(c.ravel()))

    moved = tmp_path / "moved"
    shutil.move(out, moved)  # the VRTs refer to the scenes by relative paths
    with rasterio.open(moved / "mosaic" / "confidence.vrt") as v:
        np.testing.assert_array_equal(v.read(1), mosaic)

"""The QGIS window reader's two pixel sources (GDAL straight from the file, the QGIS provider) on real band files."""

from __future__ import annotations

import numpy as np
import pytest
from qgis.core import QgsRasterLayer

from mosaic.backend.inference import Window
from mosaic.plugin.qgis_reader import BandReader, GdalPixels, ProviderPixels, grid_of_layer

from .processing_case import band_files


@pytest.fixture()
def layers(t33uup_layers) -> dict[str, QgsRasterLayer]:
    """The 14 band files as layers of the project (it owns them: Python-owned layers outliving QGIS crash)."""
    return t33uup_layers


@pytest.mark.parametrize("band", ["B02", "B05", "B01", "VV"])  # 10 m, 20 m, 60 m S2 (uint16), S1 dB (float32 NaN)
def test_gdal_and_provider_pixels_are_identical(layers, band):
    layer = layers[band]
    gdal_px, provider_px = GdalPixels.open(layer, 1), ProviderPixels(layer, 1)
    assert gdal_px is not None
    assert (gdal_px.cols, gdal_px.rows) == (provider_px.cols, provider_px.rows) == (layer.width(), layer.height())
    assert gdal_px.extent == provider_px.extent
    for col, row, width, height in [(0, 0, layer.width(), layer.height()), (3, 5, 7, 11), (layer.width() - 2, 1, 2, 4)]:
        a, b = gdal_px.read(col, row, width, height), provider_px.read(col, row, width, height)
        assert a.shape == (height, width) and a.dtype == np.float64
        np.testing.assert_array_equal(a, b)  # NaN in the same places, every value the same


def test_s1_nodata_cell_reads_as_nan_from_both(layers):
    """The mosaic's empty cell (c37 r87, top-left 120 × 120 px at 10 m) is NaN nodata in the S1 files."""
    layer = layers["VV"]
    for pixels in (GdalPixels.open(layer, 1), ProviderPixels(layer, 1)):
        block = pixels.read(0, 0, 120, 120)
        assert np.isnan(block).all()
        assert np.isfinite(pixels.read(120, 0, 120, 120)).all()


def test_a_layer_with_open_options_is_read_through_its_provider(layers, t33uup_mosaic, tmp_path):
    """GDAL straight from the file would ignore the layer's open options: such layers keep the provider."""
    path = band_files(t33uup_mosaic)["B02"]
    with_options = QgsRasterLayer(f"{path}|option:NUM_THREADS=1", "B02 options", "gdal")
    assert with_options.isValid()
    assert GdalPixels.open(with_options, 1) is None
    grid = grid_of_layer(layers["B02"])
    reader = BandReader(with_options, 1, grid, "nearest", 0.0, tmp_path)
    assert isinstance(reader.pixels, ProviderPixels)
    window = Window(0, 0, grid.height, grid.width)
    plain = BandReader(layers["B02"], 1, grid, "nearest", 0.0, tmp_path)
    assert isinstance(plain.pixels, GdalPixels)
    np.testing.assert_array_equal(reader.read(window), plain.read(window))
    assert GdalPixels.open(layers["B02"], 2) is None  # no such band in the file


@pytest.mark.parametrize("band", ["B05", "VV"])
def test_band_reader_on_either_source_reads_the_same_target_window(layers, band, tmp_path, monkeypatch):
    """Through the whole reader (index sampling of a 20 m band onto the 10 m grid, nodata → NaN), a window that
    sticks out of the layer reads the same from GDAL and from the provider, NaN outside."""
    grid = grid_of_layer(layers["B02"])
    window = Window(row_off=100, col_off=grid.width - 50, height=60, width=80)  # 30 columns beyond the right edge
    direct = BandReader(layers[band], 1, grid, "nearest", 0.0, tmp_path).read(window)
    monkeypatch.setattr(GdalPixels, "open", classmethod(lambda cls, layer, band: None))
    via_provider = BandReader(layers[band], 1, grid, "nearest", 0.0, tmp_path)
    assert isinstance(via_provider.pixels, ProviderPixels)
    np.testing.assert_array_equal(direct, via_provider.read(window))
    assert np.isnan(direct[:, 50:]).all() and np.isfinite(direct[:, :50]).all()
    if band == "B05":  # nearest 20 m → 10 m: each native pixel fills 2 × 2 target pixels
        np.testing.assert_array_equal(direct[0:60:2, 0:50:2], direct[1:60:2, 1:50:2])


@pytest.mark.parametrize("band", ["B02", "B05", "VV"])  # decimated rows (480 → 256), whole, Float32 NaN nodata
def test_inspector_sample_is_mosaic_predicts(layers, t33uup_mosaic, band):
    """The input inspector sees the same decimated pixels from the layer as from the file in `mosaic predict`."""
    import rasterio

    from mosaic.backend.inputs.files import read_sample as rasterio_sample
    from mosaic.plugin.qgis_reader import read_sample

    with rasterio.open(band_files(t33uup_mosaic)[band]) as ds:
        expected = rasterio_sample(ds, 1, ds.nodata)
    got = read_sample(layers[band], 1, layers[band].dataProvider().sourceNoDataValue(1))
    assert got.shape == expected.shape == (min(layers[band].height(), 256), min(layers[band].width(), 256))
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got).any()  # the empty cell 37_87


@pytest.mark.parametrize("band", ["B02", "VV"])
def test_a_large_layers_sample_is_mosaic_predicts_fixed_windows(t33uup_mosaic, tmp_path, band):
    """A layer over 1024 px a side (the mosaic repeated 6 × 6: 1440 × 2880 px) is sampled in the same 6 × 6 fixed
    windows of 42 px as `mosaic predict` samples the file: a cost that does not grow with the raster."""
    import rasterio

    from mosaic.backend.inputs.files import read_sample as rasterio_sample
    from mosaic.backend.predict.bench import repeat_vrt
    from mosaic.plugin.qgis_reader import read_sample

    vrt = repeat_vrt(band_files(t33uup_mosaic)[band], tmp_path / f"{band}.vrt", 6)
    with rasterio.open(vrt) as ds:
        expected = rasterio_sample(ds, 1, ds.nodata)
    layer = QgsRasterLayer(str(vrt), band, "gdal")
    got = read_sample(layer, 1, layer.dataProvider().sourceNoDataValue(1) if band == "B02" else None)
    assert got.shape == expected.shape == (252, 252)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("crs", "pixel", "epsg"), [("EPSG:32633", 20.0, None), ("EPSG:4326", 1e-4, 32633)])
def test_resampled_grid_is_mosaic_predicts(t33uup_mosaic, tmp_path, crs, pixel, epsg):
    """A 20 m S2 band, and one in EPSG:4326: the square 10 m grid the inspector plans, as `mosaic predict` builds it."""
    import rasterio
    from osgeo import gdal

    from mosaic.backend.inference.ground import GridPlan
    from mosaic.backend.predict.reader import RasterioReader
    from mosaic.plugin.qgis_reader import planned_grid

    path = tmp_path / "b02.tif"
    gdal.Warp(str(path), str(band_files(t33uup_mosaic)["B02"]), dstSRS=crs, xRes=pixel, yRes=pixel)
    plan = GridPlan(True, 10.0, (20.0, 20.0), epsg)
    grid = planned_grid(QgsRasterLayer(str(path), "b02", "gdal"), plan)
    with rasterio.open(path) as ds:
        crs_r, transform, width, height = RasterioReader._target(ds, type("Plan", (), {"grid": plan}))
    assert grid.crs.authid() == f"EPSG:{crs_r.to_epsg()}" == f"EPSG:{epsg or 32633}"
    assert (grid.width, grid.height) == (width, height)
    np.testing.assert_allclose(grid.geotransform, transform.to_gdal(), rtol=0, atol=1e-6 if epsg is None else 1.0)
    assert grid.dx == grid.dy == 10.0


def test_a_gdal_scale_is_undone_on_the_provider_route(t33uup_mosaic, tmp_path):
    """QGIS providers apply a band's GDAL scale/offset; the reader reads stored values on both routes (the input
    inspector's conversions apply the scale), as `mosaic predict` does."""
    from osgeo import gdal

    from mosaic.plugin.qgis_reader import read_sample

    path = tmp_path / "b02_scaled.tif"
    ds = gdal.Translate(str(path), str(band_files(t33uup_mosaic)["B02"]))
    ds.GetRasterBand(1).SetScale(0.0001)  # no offset: a QGIS block keeps nodata pixels unscaled, so a valid
    ds = None  # pixel scaled onto the nodata value (1000 · 0.0001 − 0.1 = 0) would read as nodata there
    plain = QgsRasterLayer(str(path), "scaled", "gdal")
    with_options = QgsRasterLayer(f"{path}|option:NUM_THREADS=1", "scaled options", "gdal")
    stored = GdalPixels.open(plain, 1).read(120, 0, 120, 240)
    via_provider = ProviderPixels(with_options, 1).read(120, 0, 120, 240)
    assert np.nanmax(stored) > 1000  # digital numbers, not reflectance
    np.testing.assert_allclose(via_provider, stored, rtol=1e-6, atol=0.01)
    np.testing.assert_allclose(read_sample(with_options, 1, 0.0), read_sample(plain, 1, 0.0), rtol=1e-6, atol=0.01)

"""``RasterioReader``: bands coarser than the 10 m grid are upsampled by nearest neighbour, on and off their lattice."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import rasterio

from mosaic.backend.inference import Window, load_model
from mosaic.backend.predict.reader import RasterioReader


@pytest.fixture(scope="module")
def mosaic_reader(t33uup_mosaic, onnx_model_path):
    meta = load_model(onnx_model_path).metadata
    s2, s1 = sorted(t33uup_mosaic.glob("S2A*.tif")), sorted(t33uup_mosaic.glob("S1_*.tif"))
    with RasterioReader(s2, s1, meta) as reader:
        yield reader, meta


def test_a_20_m_band_equals_its_pixels_repeated_2_by_2(mosaic_reader, t33uup_mosaic):
    reader, meta = mosaic_reader
    s2, _ = reader.read(Window(0, 0, reader.height, reader.width))
    band = meta.s2.bands.index("B05")
    with rasterio.open(next(t33uup_mosaic.glob("S2A*_B05.tif"))) as ds:
        native = ds.read(1).astype(np.float32)
    assert native.shape == (reader.height // 2, reader.width // 2)
    expected = np.repeat(np.repeat(native, 2, axis=0), 2, axis=1)
    expected[expected == 0] = np.nan  # L2A nodata
    np.testing.assert_array_equal(s2[band], expected)


@pytest.mark.parametrize("row, col, height, width", [(0, 0, 120, 120), (2, 4, 37, 51), (1, 3, 40, 60), (7, 0, 9, 1)])
def test_every_window_equals_the_same_pixels_of_the_whole_read(mosaic_reader, row, col, height, width):
    """Windows starting on the 20 m lattice (even) and off it (odd), of even and odd sizes."""
    reader, _ = mosaic_reader
    whole_s2, whole_s1 = reader.read(Window(0, 0, reader.height, reader.width))
    s2, s1 = reader.read(Window(row, col, height, width))
    np.testing.assert_array_equal(s2, whole_s2[:, row : row + height, col : col + width])
    np.testing.assert_array_equal(s1, whole_s1[:, row : row + height, col : col + width])


def test_blocks_read_once_are_served_from_gdal_s_cache(t33uup_mosaic, onnx_model_path, tmp_path):
    """A window crossing the 10 m bands' block rows (256 px) is read, the files are emptied, and the same window reads
    the same values: GDAL's block cache holds them (an integer GDAL_CACHEMAX of 64 was 64 bytes, so every such window
    was decoded from the file again)."""
    for f in [*t33uup_mosaic.glob("S2A*.tif"), *t33uup_mosaic.glob("S1_*.tif")]:
        shutil.copy(f, tmp_path / f.name)
    meta = load_model(onnx_model_path).metadata
    s2_files, s1_files = sorted(tmp_path.glob("S2A*.tif")), sorted(tmp_path.glob("S1_*.tif"))
    window = Window(200, 0, 120, 240)
    with RasterioReader(s2_files, s1_files, meta) as reader:
        s2, s1 = reader.read(window)
        for f in [*s2_files, *s1_files]:
            os.truncate(f, 0)
        again_s2, again_s1 = reader.read(window)
    assert np.isfinite(s2).sum() > 0.9 * s2.size
    np.testing.assert_array_equal(again_s2, s2)
    np.testing.assert_array_equal(again_s1, s1)

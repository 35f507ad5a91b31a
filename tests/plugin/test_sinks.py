"""The raster writers of both front ends (GDAL in the plugin, rasterio in ``mosaic predict``) deliver the same
Cloud-Optimised GeoTIFFs: valid COG, 512 px tiles, overviews resampled as the catalogue says (AVERAGE of the
probabilities, MODE of the labels, nodata left out), and a COG step that fails is one OutputError leaving nothing."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from osgeo import gdal, osr
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

from mosaic.backend.errors import OutputError
from mosaic.backend.inference import OutputBlock, read_metadata
from mosaic.backend.inference.outputs import output_catalogue
from mosaic.backend.predict.writer import GeoTiffSink, work_profile
from mosaic.plugin.sinks import RasterFileSink

HEIGHT, WIDTH = 1040, 520  #: cells; more than one 512 px tile high, so the COG has overviews (520, then 260 rows)
GEOTRANSFORM = (345600.0, 10.0, 0.0, 5295600.0, 0.0, -10.0)
TAGS = {"MOSAIC_MODEL": "resnet18_test.onnx"}


def _classes() -> np.ndarray:
    """Top class per cell: constant in each 2 × 2 block but for its bottom-right cell (the block's minority)."""
    r, c = np.mgrid[:HEIGHT, :WIDTH]
    majority = (r // 2 * 7 + c // 2 * 3) % 19
    return np.where((r % 2 == 1) & (c % 2 == 1), (majority + 1) % 19, majority)


def _probabilities() -> np.ndarray:
    """0.8 for the cell's class, 0.01 for the others; rows 0–3 nodata, and the top-left cell of each block in rows
    4–5 (blocks with 3 valid cells)."""
    p = np.full((19, HEIGHT, WIDTH), 0.01, dtype=np.float32)
    np.put_along_axis(p, _classes()[None], 0.8, axis=0)
    p[:, :4] = np.nan
    p[:, 4, ::2] = np.nan
    return p


def _source() -> np.ndarray:
    """The head of each cell, the same in each 2 × 2 block (as the classes): fused (1), but S1 only (2) in every third
    pair of rows and mixed (4) in every fifth pair of columns."""
    source = np.ones((HEIGHT // 2, WIDTH // 2), dtype=np.uint8)
    source[::3] = 2
    source[:, ::5] = 4
    return source.repeat(2, axis=0).repeat(2, axis=1)


def _blocks(p: np.ndarray, rows: int = 130) -> list[OutputBlock]:
    return [OutputBlock(r, 0, p[:, r : r + rows], _source()[r : r + rows]) for r in range(0, HEIGHT, rows)]


def _write_headless(path: Path, product, p: np.ndarray) -> Path:
    profile = work_profile(WIDTH, HEIGHT, "EPSG:32633", rasterio.Affine.from_gdal(*GEOTRANSFORM))
    sink = GeoTiffSink(path, product, profile, TAGS)
    for block in _blocks(p):
        sink.write_block(block)
    sink.finish()
    return path


def _wkt() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    return srs.ExportToWkt()


def _plugin_sink(path: Path, product, p: np.ndarray) -> RasterFileSink:
    sink = RasterFileSink(path, product, GEOTRANSFORM, _wkt(), WIDTH, HEIGHT, TAGS)
    for block in _blocks(p):
        sink.write_block(block)
    return sink


def _cog(path: Path) -> dict:
    """What a COG reader sees: validation, layout, tiles, and each band's full and overview values."""
    ds = gdal.Open(str(path))
    bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
    return {
        "validation": validate(str(path), full_check=True)[:2],
        "structure": ds.GetMetadata("IMAGE_STRUCTURE"),
        "blocks": {tuple(b.GetBlockSize()) for b in bands},
        "descriptions": [b.GetDescription() for b in bands],
        "tags": ds.GetMetadata(),
        "values": np.stack([b.ReadAsArray() for b in bands]),
        "overviews": [
            np.stack([b.GetOverview(o).ReadAsArray() for b in bands]) for o in range(bands[0].GetOverviewCount())
        ],
    }


@pytest.fixture(scope="module")
def catalogue(test_model):
    return output_catalogue(read_metadata(str(test_model)), test_model)  # its tags: TAGS


def _blocks_of_four(a: np.ndarray) -> np.ndarray:
    """``[bands, h, w]`` → ``[bands, h/2, w/2, 4]``: the cells of each 2 × 2 block."""
    blocks = a.reshape(a.shape[0], HEIGHT // 2, 2, WIDTH // 2, 2).transpose(0, 1, 3, 2, 4)
    return blocks.reshape(*blocks.shape[:3], 4)


def _overview_expected(key: str, values: np.ndarray) -> np.ndarray:
    """Level 1 of the field: labels, each block's majority (3 of 4, or 2 of 3 valid cells: the median once nodata,
    2^32 − 1, sorts last); probabilities and confidence, the mean of each block's valid cells."""
    blocks = _blocks_of_four(values)
    if key == "labels":
        return np.sort(blocks, axis=-1)[..., 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nodata blocks: the mean of nothing is NaN
        return np.nanmean(blocks, axis=-1)


def test_both_writers_deliver_the_same_cogs_with_overviews_of_the_data(catalogue, tmp_path):
    p = _probabilities()
    (tmp_path / "headless").mkdir()
    for product in catalogue.rasters:
        values = product.values(OutputBlock(0, 0, p, _source()))
        headless = _cog(_write_headless(tmp_path / "headless" / product.file_name, product, p))
        sink = _plugin_sink(tmp_path / "plugin" / product.file_name, product, p)
        sink.finish()
        plugin = _cog(sink.commit())

        assert headless["validation"] == ([], []), product.key
        assert headless["structure"]["LAYOUT"] == "COG" and headless["structure"]["COMPRESSION"] == "DEFLATE"
        assert headless["blocks"] == {(512, 512)}
        assert headless["descriptions"] == list(product.band_descriptions) and headless["tags"] == {
            **TAGS,
            "AREA_OR_POINT": "Area",
        }
        np.testing.assert_array_equal(headless["values"], values)
        assert [o.shape[1:] for o in headless["overviews"]] == [(520, 260), (260, 130)], product.key
        np.testing.assert_allclose(
            headless["overviews"][0], _overview_expected(product.key, values), rtol=1e-6, err_msg=product.key
        )
        for key in ("validation", "structure", "blocks", "descriptions", "tags"):
            assert plugin[key] == headless[key], (product.key, key)
        np.testing.assert_array_equal(plugin["values"], headless["values"])
        assert len(plugin["overviews"]) == len(headless["overviews"])
        for got, want in zip(plugin["overviews"], headless["overviews"], strict=True):
            np.testing.assert_array_equal(got, want, err_msg=product.key)
    names = [r.file_name for r in catalogue.rasters]
    assert sorted(f.name for f in (tmp_path / "headless").iterdir()) == sorted(names)  # no work file left
    styles = [str(Path(n).with_suffix(".qml")) for n in names] + ["labels_source.qml"]
    assert sorted(f.name for f in (tmp_path / "plugin").iterdir()) == sorted(names + styles)


def test_a_failed_cog_step_is_one_output_error_and_leaves_nothing(catalogue, tmp_path):
    product, p = catalogue.product("labels"), _probabilities()
    sink = _plugin_sink(tmp_path / "plugin" / product.file_name, product, p)
    sink.tmp.mkdir()  # where the COG goes: a folder, where GDAL cannot create a file
    with pytest.raises(OutputError, match=r"^cannot write .*labels.tif as a Cloud-Optimised GeoTIFF") as failure:
        sink.finish()
    assert "\n" not in str(failure.value)
    sink.tmp.rmdir()
    sink.discard()
    assert list((tmp_path / "plugin").iterdir()) == []

    (tmp_path / "headless" / "run" / product.file_name).mkdir(parents=True)  # the same in mosaic predict's folder
    with pytest.raises(OutputError, match=r"^writing labels.tif in .*headless failed") as failure:
        _write_headless(tmp_path / "headless" / "run" / product.file_name, product, p)
    assert "\n" not in str(failure.value)

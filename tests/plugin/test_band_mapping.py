"""The plugin's facts about QGIS layers equal ``mosaic predict``'s facts about the same files, and band detection
goes through the engine's one band resolver (real T33UUP band files)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from qgis.core import QgsProject, QgsRasterLayer

from mosaic.backend.data.bands import S2_BAND_SETS
from mosaic.backend.inputs.files import raster_info as rasterio_info
from mosaic.plugin.band_mapping import BandSource, detect_mapping, find_cloud_layer, names_cloud_mask, raster_info

from .processing_case import band_files

BANDS = S2_BAND_SETS["s2_10"]


def same_facts(layer: QgsRasterLayer, path) -> None:
    """Every fact of the layer's RasterInfo equals rasterio's for its file (the name is the layer's own)."""
    ours = raster_info(layer)
    with rasterio.open(path) as ds:
        theirs = rasterio_info(ds)
    assert ours.name == layer.name() and ours.path == str(path)
    assert (ours.dtype, ours.crs, ours.metres, dict(ours.tags)) == (
        theirs.dtype,
        theirs.crs,
        theirs.metres,
        dict(theirs.tags),
    )
    np.testing.assert_allclose(ours.pixel_size_m, theirs.pixel_size_m, rtol=1e-9)
    np.testing.assert_allclose(ours.centre_lonlat, theirs.centre_lonlat, atol=1e-9)
    assert len(ours.bands) == len(theirs.bands)
    for a, b in zip(ours.bands, theirs.bands):
        assert (a.description, a.scale, a.offset) == (b.description, b.scale, b.offset)
        assert a.nodata == b.nodata or (math.isnan(a.nodata) and math.isnan(b.nodata))


def layer_of(path) -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), path.stem, "gdal")
    assert layer.isValid(), path
    return layer


@pytest.mark.parametrize("band", ["B02", "B05", "VV"])  # UInt16 nodata 0 at 10 and 20 m, Float32 NaN nodata
def test_band_files_give_the_facts_mosaic_predict_reads(qgis_app, t33uup_mosaic, band):
    path = band_files(t33uup_mosaic)[band]
    same_facts(layer_of(path), path)


def test_a_described_scaled_stack_and_a_degree_grid(qgis_app, t33uup_mosaic, tmp_path):
    """Descriptions, GDAL scale/offset and metadata of a VRT stack; ground pixel size of an EPSG:4326 copy."""
    files = band_files(t33uup_mosaic)
    vrt = tmp_path / "stack.vrt"
    ds = gdal.BuildVRT(str(vrt), [str(files["B04"]), str(files["B08"])], separate=True)
    ds.GetRasterBand(1).SetDescription("red")
    ds.GetRasterBand(2).SetScale(0.0001)
    ds.GetRasterBand(2).SetOffset(-0.1)
    ds.SetMetadataItem("PROCESSING_BASELINE", "05.09")
    ds = None
    layer = layer_of(vrt)
    same_facts(layer, vrt)
    info = raster_info(layer)
    assert [b.description for b in info.bands] == ["red", ""] and info.bands[1].scaled
    assert info.tags["PROCESSING_BASELINE"] == "05.09"

    degrees = tmp_path / "b02_wgs84.tif"
    gdal.Warp(str(degrees), str(files["B02"]), dstSRS="EPSG:4326", xRes=1e-4, yRes=1e-4)
    same_facts(layer_of(degrees), degrees)
    info = raster_info(layer_of(degrees))
    assert not info.metres and info.crs == "EPSG:4326"
    assert info.pixel_size_m[0] == pytest.approx(7.48, abs=0.01) and info.pixel_size_m[1] == pytest.approx(11.06, 0.01)


def test_a_layer_with_open_options_gives_its_facts_through_the_provider(qgis_app, t33uup_mosaic):
    path = band_files(t33uup_mosaic)["B02"]
    with_options = QgsRasterLayer(f"{path}|option:NUM_THREADS=1", "B02 options", "gdal")
    ours, plain = raster_info(with_options), raster_info(layer_of(path))
    assert ours.bands == plain.bands and ours.dtype == "uint16" and ours.crs == plain.crs
    assert ours.pixel_size_m == plain.pixel_size_m and ours.path == str(path)


def test_a_stack_without_names_is_taken_in_the_model_order(qgis_app, t33uup_mosaic, tmp_path):
    files = band_files(t33uup_mosaic)
    gdal.BuildVRT(str(tmp_path / "s2.vrt"), [str(files[b]) for b in BANDS], separate=True).FlushCache()
    stack = layer_of(tmp_path / "s2.vrt")
    mapping = detect_mapping(BANDS, stack, [stack, *(layer_of(files[b]) for b in BANDS)])
    assert [mapping[b] for b in BANDS] == [BandSource(stack, i + 1) for i in range(10)]


def test_the_picked_folder_wins_and_a_twice_named_band_falls_back_to_search_order(
    t33uup_layers, t33uup_mosaic, tmp_path
):
    """A second B04 elsewhere: picking B02 resolves the mosaic's folder; picking the copy, the resolver refuses
    the twice-named B04 among all layers and detection keeps the first of each name (the picked one first)."""
    copy_path = tmp_path / band_files(t33uup_mosaic)["B04"].name
    shutil.copy(band_files(t33uup_mosaic)["B04"], copy_path)
    copy = layer_of(copy_path)
    QgsProject.instance().addMapLayer(copy)
    mapping = detect_mapping(BANDS, t33uup_layers["B02"])
    assert {b: (s.layer.id(), s.band) for b, s in mapping.items()} == {b: (t33uup_layers[b].id(), 1) for b in BANDS}
    mapping = detect_mapping(BANDS, copy)
    assert mapping["B04"] == BandSource(copy, 1)
    assert all(mapping[b] == BandSource(t33uup_layers[b], 1) for b in BANDS if b != "B04")
    s1 = detect_mapping(("VV", "VH"), t33uup_layers["VH"])
    assert s1 == {"VV": BandSource(t33uup_layers["VV"], 1), "VH": BandSource(t33uup_layers["VH"], 1)}


def test_the_cloud_layer_beside_the_s2_bands_is_found(qgis_app, t33uup_mosaic, t33uup_cloud_mask, tmp_path):
    """An S2 stack with a band described SCL is its own cloud layer; else a layer whose name says SCL."""
    files = band_files(t33uup_mosaic)
    stack = tmp_path / "S2_stack.tif"
    with rasterio.open(files["B02"]) as b02, rasterio.open(t33uup_cloud_mask) as mask:
        profile = b02.profile | {"count": 2, "nodata": None}
        with rasterio.open(stack, "w", **profile) as dst:
            dst.write(np.stack([b02.read(1), mask.read(1).astype(profile["dtype"]) * 9]))
            dst.descriptions = ("B02", "SCL")
    b02_layer, stack_layer, mask_layer = layer_of(files["B02"]), layer_of(stack), layer_of(t33uup_cloud_mask)
    assert find_cloud_layer(stack_layer, [b02_layer, mask_layer]) is stack_layer
    shutil.copy(t33uup_cloud_mask, tmp_path / "T33UUP_20170613T101031_SCL_20m.tif")
    scl_layer = layer_of(tmp_path / "T33UUP_20170613T101031_SCL_20m.tif")
    assert find_cloud_layer(b02_layer, [b02_layer, scl_layer]) is scl_layer
    assert find_cloud_layer(b02_layer, [b02_layer, mask_layer]) is mask_layer  # named cloud_mask.tif
    assert find_cloud_layer(None, [scl_layer]) is None
    assert find_cloud_layer(b02_layer, [b02_layer, layer_of(files["B03"])]) is None


def test_major_tom_cloud_mask_beside_the_bands_is_found(qgis_app, shared_data):
    """Major-TOM Core-S2L2A keeps its cloud mask as cloud_mask.tif beside B01.tif … B12.tif."""
    scene = next((shared_data / "major-tom-core-s2l2a").glob("*/*/S2*"))
    bands = [layer_of(scene / f"{band}.tif") for band in ("B02", "B03", "B04", "B08")]
    mask = layer_of(scene / "cloud_mask.tif")
    assert find_cloud_layer(bands[0], [*bands, mask]) is mask


@pytest.mark.parametrize(
    ("name", "is_mask"),
    [
        ("cloud_mask.tif", True),
        ("T33UUP_20240612_cloudmask.tif", True),
        ("S2A_cloud_probability.tif", True),
        ("MSK_CLDPRB_20m.jp2", True),
        ("scene_CLM.tif", True),
        ("s2cloudless_prob.tif", True),
        ("LC08_Fmask.tif", True),
        ("QA60", True),
        ("cloudy_day_B02.tif", False),
        ("CLMS_landcover.tif", False),
        ("B02.tif", False),
    ],
)
def test_cloud_mask_names(name, is_mask):
    assert names_cloud_mask(name) is is_mask

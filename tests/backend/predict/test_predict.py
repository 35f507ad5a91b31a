"""``mosaic predict`` on real rasters: the T33UUP mosaic against its original patches, input forms, SSL4EO
reprojection, and bad inputs through the real console command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject

from mosaic.backend.inference import LABEL_NODATA, Window, load_model
from mosaic.backend.predict.prediction import predict
from mosaic.backend.predict.reader import RasterioReader
from mosaic.backend.predict.request import PredictRequest

from .prediction_requests import predict_request

MOSAIC = str(Path(sys.executable).parent / "mosaic")
PATCHES = ("37_88", "37_89", "37_90", "38_87", "38_88", "38_89", "38_90")  # col_row of the 7 real patches


def _args(s2, s1, model, out, **kw) -> PredictRequest:
    return predict_request(s2, s1, model, out, **kw)


def _files(folder: Path, prefix: str) -> list[Path]:
    return sorted(folder.glob(f"{prefix}*.tif"))


@pytest.fixture(scope="module")
def mosaic_prediction(t33uup_mosaic, onnx_model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred")
    predict(_args(_files(t33uup_mosaic, "S2A"), _files(t33uup_mosaic, "S1_"), onnx_model_path, out))
    return out


def _patch_alone(ben_v2: Path, model, col_row: str) -> np.ndarray:
    """Probabilities of one original BigEarthNet patch read from its own folders (training reader route)."""
    import pandas as pd

    from mosaic.backend.data.readers import FolderReader, stack_bands

    meta = pd.concat(
        [
            pd.read_parquet(ben_v2 / f)
            for f in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
        ]
    )
    row = meta[meta.patch_id.str.endswith(f"T33UUP_{col_row}")].iloc[0]
    reader = FolderReader(ben_v2)
    s2 = stack_bands(reader.s2(row.patch_id, model.metadata.s2.bands), model.metadata.s2.bands)
    s1 = stack_bands(reader.s1(row.s1_name), model.metadata.s1.bands)
    return model.predict(s2[None], s1[None])[0]


def test_mosaic_cells_equal_the_original_patches_predicted_alone(
    mosaic_prediction, onnx_model_path, ben_v2, t33uup_mosaic
):
    model = load_model(onnx_model_path, threads=2)
    with rasterio.open(mosaic_prediction / "probabilities.tif") as ds:
        probs = ds.read()
        assert ds.descriptions == model.metadata.class_names
        assert np.isnan(ds.nodata)
        crs, transform = ds.crs, ds.transform
    with rasterio.open(_files(t33uup_mosaic, "S2A")[1]) as b02:  # B02, the 10 m grid
        assert crs == b02.crs
        assert transform == b02.transform * rasterio.Affine.scale(120)
    assert probs.shape == (19, 4, 2)
    for col_row in PATCHES:
        col, row = (int(v) for v in col_row.split("_"))
        cell = probs[:, row - 87, col - 37]  # the mosaic's top-left patch is 37_87
        np.testing.assert_allclose(cell, _patch_alone(ben_v2, model, col_row), atol=1e-4, rtol=0)
    assert np.isnan(probs[:, 0, 0]).all()  # 37_87 is not in the data: nodata

    with rasterio.open(mosaic_prediction / "labels.tif") as ds:
        labels = ds.read()
        assert ds.dtypes == ("uint32",) * 3 and ds.nodata == LABEL_NODATA
    valid = ~np.isnan(probs[0])
    np.testing.assert_array_equal(labels[0][valid], probs.argmax(axis=0)[valid])
    bits = (probs >= 0.5) * (2 ** np.arange(19))[:, None, None]
    np.testing.assert_array_equal(labels[1][valid], bits.sum(axis=0)[valid])
    assert labels[0, 0, 0] == labels[1, 0, 0] == labels[2, 0, 0] == LABEL_NODATA
    assert (labels[2][valid] == 1).all()  # a fused-only model without a cloud mask: every cell by the fused head
    with rasterio.open(mosaic_prediction / "confidence.tif") as ds:
        np.testing.assert_allclose(ds.read(1)[valid], probs.max(axis=0)[valid])


def test_tiles_layer_and_styles(mosaic_prediction, onnx_model_path):
    import xml.etree.ElementTree as ET

    import geopandas as gpd

    meta = load_model(onnx_model_path).metadata
    tiles = gpd.read_file(mosaic_prediction / "tiles.gpkg")
    assert len(tiles) == 7 and tiles.crs.to_epsg() == 32633
    assert (tiles.geometry.area == 1200 * 1200).all()
    first = tiles.sort_values(["row", "col"]).iloc[0]
    assert (first.row, first.col) == (0, 1) and first.geometry.bounds == (345600, 5294400, 346800, 5295600)
    with rasterio.open(mosaic_prediction / "probabilities.tif") as ds:
        np.testing.assert_allclose([first[n] for n in meta.class_names], ds.read()[:, 0, 1], atol=1e-6)
    palette = ET.parse(mosaic_prediction / "labels.qml").findall(".//paletteEntry")
    assert [(e.get("label"), e.get("color")) for e in palette] == list(zip(meta.class_names, meta.class_colors))
    ramp = ET.parse(mosaic_prediction / "confidence.qml").findall(".//colorrampshader/item")
    assert [float(i.get("value")) for i in ramp] == [0, 0.25, 0.5, 0.75, 1]
    assert (mosaic_prediction / "probabilities.qml").is_file()
    assert not list(mosaic_prediction.glob(".mosaic-partial-*"))


def test_rasters_are_cloud_optimised_geotiffs(mosaic_prediction):
    """GDAL's own COG validator; one 512 px tile holds the 2 × 4 cells, so no overviews are needed."""
    from osgeo import gdal
    from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

    for name in ("probabilities.tif", "labels.tif", "confidence.tif"):
        path = str(mosaic_prediction / name)
        assert validate(path, full_check=True)[:2] == ([], []), name
        ds = gdal.Open(path)
        structure = ds.GetMetadata("IMAGE_STRUCTURE")
        assert (structure["LAYOUT"], structure["COMPRESSION"]) == ("COG", "DEFLATE"), name
        band = ds.GetRasterBand(1)
        assert band.GetBlockSize() == [512, 512] and band.GetOverviewCount() == 0, name
    assert not list(mosaic_prediction.glob(".*"))  # no work file left


def test_tiles_geopackage_opens_without_a_warning_in_the_system_gdal(mosaic_prediction):
    """Debian 12's GDAL 3.6 (QGIS 3.22's) warns about GeoPackage 1.4, pyogrio's GDAL's default; 1.2 reads quietly."""
    import sqlite3

    from osgeo import gdal, ogr

    messages = []
    gdal.PushErrorHandler(lambda level, number, text: messages.append(text))
    try:
        ds = ogr.Open(str(mosaic_prediction / "tiles.gpkg"))
        assert ds.GetLayerByName("tiles").GetFeatureCount() == 7
        ds = None
    finally:
        gdal.PopErrorHandler()
    assert messages == []
    with sqlite3.connect(mosaic_prediction / "tiles.gpkg") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (10200,)  # GeoPackage 1.2


def test_stacked_rasters_give_the_same_result(mosaic_prediction, t33uup_mosaic, onnx_model_path, tmp_path):
    """One raster in model band order; one in reversed order whose band descriptions name the bands."""
    bands = load_model(onnx_model_path).metadata.s2.bands
    files = {b: next(t33uup_mosaic.glob(f"S2A*_{b}.tif")) for b in bands}
    with rasterio.open(files["B02"]) as ref:
        profile = ref.profile | {"count": len(bands), "dtype": "uint16", "nodata": 0}
        shape = (ref.height, ref.width)
    upsampled = {}
    for b in bands:
        with rasterio.open(files[b]) as src:  # GDAL's own nearest upsampling to 10 m
            upsampled[b] = src.read(1, out_shape=shape, resampling=Resampling.nearest)
    for name, order, described in (("model_order", bands, False), ("reversed", bands[::-1], True)):
        with rasterio.open(tmp_path / f"{name}.tif", "w", **profile) as dst:
            for i, b in enumerate(order, start=1):
                dst.write(upsampled[b], i)
                if described:
                    dst.set_band_description(i, b)
        predict(_args([tmp_path / f"{name}.tif"], [t33uup_mosaic], onnx_model_path, tmp_path / name))
        with (
            rasterio.open(mosaic_prediction / "probabilities.tif") as a,
            rasterio.open(tmp_path / name / "probabilities.tif") as b,
        ):
            np.testing.assert_allclose(a.read(), b.read(), atol=1e-5)


def test_cells_of_the_missing_patch_are_nodata_at_stride_30(t33uup_mosaic, onnx_model_path, tmp_path):
    """At stride 30 tiles with enough data overlap the empty top-left patch 37_87 (no S1, no S2): its 4 × 4 cells
    are nodata in every file; every other cell has a value."""
    predict(_args(_files(t33uup_mosaic, "S2A"), _files(t33uup_mosaic, "S1_"), onnx_model_path, tmp_path, stride=30))
    with rasterio.open(tmp_path / "probabilities.tif") as ds:
        probs = ds.read()
    with rasterio.open(tmp_path / "labels.tif") as ds:
        labels = ds.read()
    with rasterio.open(tmp_path / "confidence.tif") as ds:
        confidence = ds.read(1)
    empty = np.zeros((16, 8), dtype=bool)
    empty[:4, :4] = True
    assert np.isnan(probs[:, empty]).all() and np.isfinite(probs[:, ~empty]).all()
    assert (labels[:, empty] == LABEL_NODATA).all() and (labels[2, ~empty] == 1).all()
    assert np.isnan(confidence[empty]).all() and np.isfinite(confidence[~empty]).all()


@pytest.mark.parametrize("factor", [6, 12])
def test_the_inspectors_sample_of_a_large_raster_is_a_fixed_set_of_windows(t33uup_mosaic, tmp_path, factor):
    """Rasters over 1024 px a side are sampled in 36 windows of 42 px at Halton points, read at full resolution: the
    same 252 × 252 px however large the raster (a decimated read decodes every block)."""
    from mosaic.backend.inference.rasters import sample_windows
    from mosaic.backend.inputs.files import read_sample
    from mosaic.backend.predict.bench import repeat_vrt

    b02 = next(p for p in _files(t33uup_mosaic, "S2A") if p.stem.endswith("_B02"))
    with rasterio.open(repeat_vrt(b02, tmp_path / "B02.vrt", factor)) as ds:
        windows = sample_windows(ds.width, ds.height)
        sample = read_sample(ds, 1, ds.nodata)
        assert ds.shape == (480 * factor, 240 * factor) and len(windows) == 36 and sample.shape == (252, 252)
        col, row, w, h = windows[7]  # the 8th Halton point (1/16, 8/9), placed second in the second row
        assert (w, h) == (42, 42) and (col, row) == (int((240 * factor - 42) / 16), int((480 * factor - 42) * 8 / 9))
        np.testing.assert_array_equal(sample[42:84, 42:84], ds.read(1, window=rasterio.windows.Window(*windows[7])))
    assert np.isnan(sample).any() and np.isfinite(sample).mean() > 0.8  # the empty patch repeats; 0 is nodata
    assert sample_windows(1024, 1024) is None and sample_windows(240, 480) is None  # small: decimated as before


def test_stride_60_and_aoi(t33uup_mosaic, onnx_model_path, tmp_path):
    import geopandas as gpd

    aoi = gpd.read_file(t33uup_mosaic / "mosaic_patch_labels_EPSG32633.geojson")
    aoi = aoi[aoi.patch_id.str.endswith(("38_89", "38_90"))].to_crs(4326)  # AOI in another CRS
    aoi.to_file(tmp_path / "aoi.gpkg")
    out = tmp_path / "aoi_out"
    summary, _ = predict(
        _args(
            _files(t33uup_mosaic, "S2A"),
            _files(t33uup_mosaic, "S1_"),
            onnx_model_path,
            out,
            stride=60,
            aoi=str(tmp_path / "aoi.gpkg"),
        )
    )
    # the two patches' box is 345600..346800 × 5290800..5293200 (120 × 240 px); the round trip through
    # EPSG:4326 moves its edges by micro-pixels, which must not add a row or column of pixels
    with rasterio.open(out / "probabilities.tif") as ds:
        assert ds.res == (600, 600) and (ds.bounds.left, ds.bounds.top) == (345600, 5293200)
        assert ds.shape == (4, 2)
        assert not np.isnan(ds.read(1)).any()
    assert summary.tiles_run == 3  # rows at 0, 60, 120 px of the 240-px box; one column


def test_aoi_masks_outside_its_polygons(mosaic_prediction, t33uup_mosaic, onnx_model_path, tmp_path):
    """Two diagonal patches as the AOI: their 2 × 2-cell box is processed, the two cells outside are nodata."""
    import geopandas as gpd

    aoi = gpd.read_file(t33uup_mosaic / "mosaic_patch_labels_EPSG32633.geojson")
    aoi[aoi.patch_id.str.endswith(("37_88", "38_89"))].to_file(tmp_path / "aoi.gpkg")
    summary, _ = predict(
        _args(
            _files(t33uup_mosaic, "S2A"),
            _files(t33uup_mosaic, "S1_"),
            onnx_model_path,
            tmp_path / "out",
            aoi=str(tmp_path / "aoi.gpkg"),
        )
    )
    assert (summary.tiles_total, summary.tiles_run, summary.tiles_skipped) == (4, 2, 2)
    with (
        rasterio.open(tmp_path / "out" / "probabilities.tif") as ds,
        rasterio.open(mosaic_prediction / "probabilities.tif") as full,
    ):
        assert (ds.bounds.left, ds.bounds.top) == (344400, 5295600 - 1200)  # rows 88-89 of cols 37-38
        probs, whole = ds.read(), full.read()[:, 1:3, 0:2]
    np.testing.assert_allclose(probs[:, [0, 1], [0, 1]], whole[:, [0, 1], [0, 1]], atol=1e-6)
    assert np.isnan(probs[:, [0, 1], [1, 0]]).all()
    with rasterio.open(tmp_path / "out" / "labels.tif") as ds:
        assert ds.read(1)[0, 1] == ds.read(1)[1, 0] == LABEL_NODATA


def test_aoi_mask_takes_pixels_whose_centre_is_inside(t33uup_mosaic, onnx_model_path, tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point, Polygon

    x0, y0 = 344400 + 1000, 5295600 - 3000  # a triangle, in EPSG:4326 to exercise reprojection
    triangle = Polygon([(x0, y0), (x0 + 1000, y0), (x0, y0 + 700)])
    gpd.GeoDataFrame(geometry=[triangle], crs=32633).to_crs(4326).to_file(tmp_path / "aoi.gpkg")
    meta = load_model(onnx_model_path).metadata
    with RasterioReader(
        _files(t33uup_mosaic, "S2A"), _files(t33uup_mosaic, "S1_"), meta, aoi=tmp_path / "aoi.gpkg"
    ) as reader:
        window = Window(0, 0, reader.height, reader.width)
        mask = reader.aoi_mask(window)
        s2, s1 = reader.read(window)
        left, top = reader.transform.c, reader.transform.f
    back = gpd.GeoSeries([triangle], crs=32633).to_crs(4326).to_crs(32633).iloc[0]  # the reprojected shape
    centres = [
        [back.contains(Point(left + 10 * c + 5, top - 10 * r - 5)) for c in range(mask.shape[1])]
        for r in range(mask.shape[0])
    ]
    assert mask.sum() > 3000 and (mask == np.array(centres)).mean() > 0.998  # boundary pixels may round either way
    assert np.isnan(s2[:, ~mask]).all() and np.isnan(s1[:, ~mask]).all()
    assert not np.isnan(s2[:, mask]).any()


def test_aoi_without_polygons_is_refused(mosaic_inputs, onnx_model_path, tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    gpd.GeoDataFrame(geometry=[Point(345000, 5294000)], crs=32633).to_file(tmp_path / "points.gpkg")
    out = tmp_path / "out"
    proc = _run_cli(
        "--s2",
        *mosaic_inputs[0],
        "--s1",
        *mosaic_inputs[1],
        "--model",
        onnx_model_path,
        "--out",
        str(out),
        "--aoi",
        str(tmp_path / "points.gpkg"),
    )
    _assert_clean_failure(proc, out, "holds no polygons")


def test_ssl4eo_s1_is_warped_onto_the_s2_grid_like_rasterio_reproject(shared_data, onnx_model_path):
    root = shared_data / "ssl4eo-s12-sample"
    s2_dir = next((root / "s2a" / "0000200").iterdir())
    s1_dir = sorted((root / "s1" / "0000200").iterdir())[0]
    meta = load_model(onnx_model_path).metadata
    with RasterioReader([s2_dir], [s1_dir], meta) as reader:
        assert (reader.width, reader.height) == (264, 264) and reader.crs.to_epsg() == 4326
        s2, s1 = reader.read(Window(0, 0, 264, 264))
        with rasterio.open(s2_dir / "B2.tif") as b2:
            grid = {"dst_transform": b2.transform, "dst_crs": b2.crs}
            assert reader.transform == b2.transform
            np.testing.assert_array_equal(s2[0], b2.read(1).astype(np.float32))
        for i, band in enumerate(("VV", "VH")):
            with rasterio.open(s1_dir / f"{band}.tif") as src:
                expected = np.full((264, 264), np.nan, dtype=np.float32)
                reproject(
                    src.read(1),
                    expected,
                    src_transform=src.transform,
                    src_crs=src.crs,
                    src_nodata=np.nan,
                    dst_nodata=np.nan,
                    resampling=Resampling.bilinear,
                    **grid,
                )
            both = ~np.isnan(expected) & ~np.isnan(s1[i])
            assert both.mean() > 0.9
            np.testing.assert_allclose(s1[i][both], expected[both], atol=1e-3)
        with rasterio.open(s2_dir / "B5.tif") as src:  # 20 m band, grid offset by half a 10 m pixel
            expected = np.zeros((264, 264), dtype=np.uint16)
            reproject(rasterio.band(src, 1), expected, resampling=Resampling.nearest, **grid)
        expected = np.where(expected == 0, np.nan, expected.astype(np.float32))  # outside B05: S2 nodata 0
        np.testing.assert_array_equal(s2[meta.s2.bands.index("B05")], expected)
        assert np.isnan(expected).mean() < 0.01


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MOSAIC, "predict", *args, "--no-progress"], capture_output=True, text=True, timeout=120)


def _assert_clean_failure(proc: subprocess.CompletedProcess, out: Path, match: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("mosaic predict: error: ") and match in lines[0], proc.stderr
    assert not out.exists() or list(out.iterdir()) == []


@pytest.fixture(scope="module")
def mosaic_inputs(t33uup_mosaic) -> tuple[list[str], list[str]]:
    return [str(p) for p in _files(t33uup_mosaic, "S2A")], [str(p) for p in _files(t33uup_mosaic, "S1_")]


def test_cli_refuses_non_overlapping_s1_and_s2(mosaic_inputs, shared_data, onnx_model_path, tmp_path):
    s1 = sorted((shared_data / "ssl4eo-s12-sample" / "s1" / "0000200").iterdir())[0]
    out = tmp_path / "out"
    proc = _run_cli("--s2", *mosaic_inputs[0], "--s1", str(s1), "--model", onnx_model_path, "--out", str(out))
    _assert_clean_failure(proc, out, "does not overlap the S2 extent")


def test_cli_refuses_missing_bands(mosaic_inputs, onnx_model_path, tmp_path):
    s2 = [p for p in mosaic_inputs[0] if not p.endswith(("_B05.tif", "_B8A.tif"))]
    out = tmp_path / "out"
    proc = _run_cli("--s2", *s2, "--s1", *mosaic_inputs[1], "--model", onnx_model_path, "--out", str(out))
    _assert_clean_failure(proc, out, "S2 band(s) B05, B8A not found")


def test_cli_refuses_a_truncated_raster_and_leaves_nothing(mosaic_inputs, onnx_model_path, tmp_path):
    s2 = []
    for p in map(Path, mosaic_inputs[0]):
        copy = tmp_path / p.name
        shutil.copy(p, copy)
        s2.append(str(copy))
    b04 = next(p for p in s2 if p.endswith("_B04.tif"))
    data = Path(b04).read_bytes()
    Path(b04).write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    proc = _run_cli("--s2", *s2, "--s1", *mosaic_inputs[1], "--model", onnx_model_path, "--out", str(out))
    _assert_clean_failure(proc, out, "_B04.tif failed (")
    assert proc.stderr.strip().endswith("); the file may be truncated or damaged.")


def test_cli_refuses_a_damaged_model(mosaic_inputs, onnx_model_path, tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(Path(onnx_model_path).read_bytes()[:100_000])
    out = tmp_path / "out"
    proc = _run_cli("--s2", *mosaic_inputs[0], "--s1", *mosaic_inputs[1], "--model", str(bad), "--out", str(out))
    _assert_clean_failure(proc, out, "model.onnx is not a readable ONNX model")


def test_cli_does_not_overwrite_without_flag(mosaic_inputs, onnx_model_path, mosaic_prediction):
    before = (mosaic_prediction / "labels.tif").stat().st_mtime_ns
    proc = _run_cli(
        "--s2",
        *mosaic_inputs[0],
        "--s1",
        *mosaic_inputs[1],
        "--model",
        onnx_model_path,
        "--out",
        str(mosaic_prediction),
    )
    assert proc.returncode == 2 and "exists already; pass --overwrite" in proc.stderr
    assert (mosaic_prediction / "labels.tif").stat().st_mtime_ns == before


def test_cancelled_run_leaves_nothing_behind(mosaic_inputs, onnx_model_path, tmp_path):
    from mosaic.backend.inference import InferenceCancelledError, run_inference
    from mosaic.backend.predict.writer import PredictionOutputs

    model = load_model(onnx_model_path, threads=2)
    out = tmp_path / "out"
    calls = []
    with RasterioReader(*mosaic_inputs, model.metadata) as reader:
        outputs = PredictionOutputs(out, reader, model.metadata, 120)
        # 3 raster work files (.<name>.blocks.tif, copied to the COGs at commit) + 4 styles (labels_source.qml too;
        # the GeoPackage comes later)
        assert len(list(out.glob(".mosaic-partial-*/*"))) == 7
        with pytest.raises(InferenceCancelledError):
            try:
                run_inference(
                    model,
                    reader,
                    outputs.sinks,
                    batch_size=2,
                    is_cancelled=lambda: bool(calls.append(1)) or len(calls) > 1,
                )
            except BaseException:
                outputs.abort()
                raise
    assert not out.exists()  # the run created --out and removed it again with its partial outputs

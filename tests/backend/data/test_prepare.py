"""``mosaic prepare`` on real data: the T33UUP mosaic and the CORINE reference polygons of patch 26_57."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

from mosaic.backend.cli import main
from mosaic.backend.data.bigearthnet import BigEarthNetV2
from mosaic.backend.data.prepare import PrepareOptions, block_splits, cell_offsets, prepare_dataset
from mosaic.backend.data.readers import s1_patch_dir, s2_patch_dir
from mosaic.backend.errors import InputError, OutputError

TILE_UL = (300000.0, 5400000.0)  # 33UUP upper-left corner (SOURCE.md of the BigEarthNet v2 sample)
PATCH_26_57 = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"
S2_12 = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")


def _official_metadata(ben_v2: Path) -> pd.DataFrame:
    return pd.concat(
        [
            pd.read_parquet(ben_v2 / "metadata.parquet"),
            pd.read_parquet(ben_v2 / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"),
        ]
    ).set_index("patch_id")


def _reference_polygons(shared_data: Path) -> Path:
    """The CORINE reference-map polygons of patch 26_57 (field ``clc_code``)."""
    return next((shared_data / "bigearthnet-v2-rico-hdl" / "derived").glob("*_26_57_reference_map_polygons.geojson"))


def _mosaic_options(t33uup_mosaic: Path, output: Path, **kw) -> PrepareOptions:
    return PrepareOptions(
        s2=sorted(t33uup_mosaic.glob("S2A_*.tif")),
        s1=sorted(t33uup_mosaic.glob("S1_*.tif")),
        labels=t33uup_mosaic / "mosaic_patch_labels_EPSG32633.geojson",
        class_field="labels",
        label_separator="; ",
        output=output,
        block_size=1,
        **kw,
    )


@pytest.fixture(scope="module")
def mosaic_dataset(t33uup_mosaic, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "t33uup"
    report = prepare_dataset(_mosaic_options(t33uup_mosaic, out))
    return out, report


def _official_id(transform) -> str:
    col = round((transform.c - TILE_UL[0]) / 1200)
    row = round((TILE_UL[1] - transform.f) / 1200)
    return f"S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_{col}_{row}"


def test_mosaic_reproduces_official_labels_and_drops_empty_cell(mosaic_dataset, ben_v2):
    out, report = mosaic_dataset
    assert report.cells == 8 and report.kept == 7 and report.dropped == {"nodata": 1}
    meta = pd.read_parquet(out / "metadata.parquet")
    official = _official_metadata(ben_v2)
    found = set()
    for row in meta.itertuples():
        with rasterio.open(s2_patch_dir(out, row.patch_id) / f"{row.patch_id}_B02.tif") as src:
            oid = _official_id(src.transform)
        found.add(oid.rsplit("_", 2)[1] + "_" + oid.rsplit("_", 1)[1])
        assert sorted(row.labels) == sorted(official.loc[oid, "labels"]), oid
    assert found == {"37_88", "37_89", "37_90", "38_87", "38_88", "38_89", "38_90"}  # 37_87 (empty) dropped
    assert list(meta.columns) == [
        "patch_id",
        "labels",
        "split",
        "country",
        "s1_name",
        "s2v1_name",
        "contains_seasonal_snow",
        "contains_cloud_or_shadow",
    ]
    assert set(meta.split) <= {"train", "validation", "test"}


def test_mosaic_patches_equal_original_geotiffs(mosaic_dataset, ben_v2):
    out, _ = mosaic_dataset
    meta = pd.read_parquet(out / "metadata.parquet")
    official = _official_metadata(ben_v2)
    for row in meta.itertuples():
        with rasterio.open(s2_patch_dir(out, row.patch_id) / f"{row.patch_id}_B02.tif") as src:
            oid = _official_id(src.transform)
        for band in S2_12:
            with (
                rasterio.open(s2_patch_dir(out, row.patch_id) / f"{row.patch_id}_{band}.tif") as mine,
                rasterio.open(s2_patch_dir(ben_v2, oid) / f"{oid}_{band}.tif") as ref,
            ):
                assert mine.crs == ref.crs and mine.transform == ref.transform, (oid, band)
                assert mine.dtypes == ref.dtypes and mine.nodata == ref.nodata
                assert np.array_equal(mine.read(1), ref.read(1)), (oid, band)
        s1_ref = official.loc[oid, "s1_name"]
        for band in ("VV", "VH"):
            with (
                rasterio.open(s1_patch_dir(out, row.s1_name) / f"{row.s1_name}_{band}.tif") as mine,
                rasterio.open(s1_patch_dir(ben_v2, s1_ref) / f"{s1_ref}_{band}.tif") as ref,
            ):
                assert mine.transform == ref.transform and mine.crs == ref.crs
                assert np.array_equal(mine.read(1), ref.read(1)), (oid, band)


def test_prepared_dataset_trains_without_special_path(mosaic_dataset):
    out, _ = mosaic_dataset
    ds = BigEarthNetV2(out, "all", s2_bands="s2_12")
    sample = ds[0]
    assert len(ds) == 7 and sample["s2"].shape == (12, 120, 120) and float(sample["label"].sum()) >= 3


def test_corine_polygons_reproduce_patch_26_57_labels(shared_data, ben_v2, tmp_path):
    s2_dir = s2_patch_dir(ben_v2, PATCH_26_57)
    s1_name = "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_57"
    polygons = next(
        (shared_data / "bigearthnet-v2-rico-hdl" / "derived").glob("*_26_57_reference_map_polygons.geojson")
    )
    report = prepare_dataset(
        PrepareOptions(
            s2=sorted(s2_dir.glob("*.tif")),
            s1=sorted(s1_patch_dir(ben_v2, s1_name).glob("*.tif")),
            labels=polygons,
            class_field="clc_code",
            mapping="corine",
            output=tmp_path / "p2657",
        )
    )
    assert report.kept == 1
    meta = pd.read_parquet(tmp_path / "p2657" / "metadata.parquet")
    official = pd.read_parquet(ben_v2 / "metadata.parquet").set_index("patch_id")
    assert sorted(meta.labels[0]) == sorted(official.loc[PATCH_26_57, "labels"])
    assert sorted(meta.labels[0]) == ["Arable land", "Broad-leaved forest", "Mixed forest", "Pastures"]


def test_min_class_fraction_and_unlabelled_rules(shared_data, ben_v2, tmp_path):
    s2_dir = s2_patch_dir(ben_v2, PATCH_26_57)
    s1_dir = s1_patch_dir(ben_v2, "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_57")
    polygons = next(
        (shared_data / "bigearthnet-v2-rico-hdl" / "derived").glob("*_26_57_reference_map_polygons.geojson")
    )
    common = dict(
        s2=sorted(s2_dir.glob("*.tif")), s1=sorted(s1_dir.glob("*.tif")), labels=polygons, class_field="clc_code"
    )
    # Pastures covers 8.0 % and Mixed forest 14.2 % of the patch: a 10 % minimum drops Pastures only
    prepare_dataset(PrepareOptions(**common, mapping="corine", min_class_fraction=0.1, output=tmp_path / "a"))
    labels = sorted(pd.read_parquet(tmp_path / "a" / "metadata.parquet").labels[0])
    assert labels == ["Arable land", "Broad-leaved forest", "Mixed forest"]
    # mapping arable land (49 % of the area) to "unlabelled" leaves ≥ 25 % unlabelled: the patch is dropped
    table = tmp_path / "map.csv"
    table.write_text("code,class\n211,\n231,Pastures\n311,Broad-leaved forest\n313,Mixed forest\n")
    with pytest.raises(InputError, match=r"no patch kept .*unlabelled"):
        prepare_dataset(PrepareOptions(**common, mapping=str(table), output=tmp_path / "b"))
    assert not (tmp_path / "b").exists() and not (tmp_path / ".b.partial").exists()


def test_block_split_keeps_blocks_whole():
    offsets = cell_offsets(1200, 1200, 120, 60)  # overlapping patches (stride half a patch)
    splits = block_splits(offsets, 120, 240, (0.5, 0.25, 0.25), seed=0)
    boxes = {
        s: [shapely.box(c, r, c + 120, r + 120) for (r, c), sp in zip(offsets, splits) if sp == s]
        for s in ("train", "validation", "test")
    }
    assert all(boxes.values())
    for a in boxes:
        for b in boxes:
            if a < b:
                union_a, union_b = shapely.union_all(boxes[a]), shapely.union_all(boxes[b])
                assert union_a.intersection(union_b).area == 0, (a, b)  # no shared ground between splits
    assert splits == block_splits(offsets, 120, 240, (0.5, 0.25, 0.25), seed=0)


def _polygons(tmp_path: Path, geoms, values, field="cls", crs="EPSG:32633") -> Path:
    path = tmp_path / "labels.gpkg"
    gpd.GeoDataFrame({field: values}, geometry=geoms, crs=crs).to_file(path)
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_field", "no attribute 'cls'"),
        ("unmapped", "have no mapping: Tundra"),
        ("invalid", "invalid"),
        ("far_away", "does not overlap"),
        ("empty", "is empty"),
    ],
)
def test_bad_polygons_are_input_errors(t33uup_mosaic, tmp_path, case, message):
    inside = shapely.box(344500, 5291000, 346000, 5295000)
    bowtie = shapely.Polygon([(344500, 5291000), (346000, 5295000), (346000, 5291000), (344500, 5295000)])
    layers = {
        "missing_field": ([inside], ["Pastures"], "other"),
        "unmapped": ([inside], ["Tundra"], "cls"),
        "invalid": ([bowtie], ["Pastures"], "cls"),
        "far_away": ([shapely.box(0, 0, 10, 10)], ["Pastures"], "cls"),
        "empty": ([], [], "cls"),
    }
    geoms, values, field = layers[case]
    labels = _polygons(tmp_path, geoms, values, field)
    options = _mosaic_options(t33uup_mosaic, tmp_path / "out", max_unlabelled=1.0)
    options.labels, options.class_field, options.label_separator = labels, "cls", None
    with pytest.raises(InputError, match=message):
        prepare_dataset(options)
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def test_bad_rasters_are_input_errors(t33uup_mosaic, shared_data, tmp_path):
    options = _mosaic_options(t33uup_mosaic, tmp_path / "out")
    ssl4eo = shared_data / "ssl4eo-s12-sample" / "s1" / "0000200"
    options.s1 = sorted(ssl4eo.glob("*/V*.tif"))[:2]  # real S1 over Punjab: no overlap with Austria
    with pytest.raises(InputError, match="Sentinel-1 raster does not overlap"):
        prepare_dataset(options)
    options.s1 = [tmp_path / "missing_VV.tif", tmp_path / "missing_VH.tif"]
    with pytest.raises(InputError, match=r"S1 input .*missing_VV\.tif does not exist"):
        prepare_dataset(options)
    options = _mosaic_options(t33uup_mosaic, tmp_path / "out")
    options.s2 = [p for p in options.s2 if not p.name.endswith("_B04.tif")]
    with pytest.raises(InputError, match=r"^S2 band\(s\) B04 not found; name files like ..._B04.tif"):
        prepare_dataset(options)
    unnamed = tmp_path / "scene.tif"
    shutil.copy(next(p for p in _mosaic_options(t33uup_mosaic, tmp_path).s2 if p.name.endswith("_B04.tif")), unnamed)
    options.s2.append(unnamed)
    with pytest.raises(InputError, match=r"B04 not found \(no band name recognised in scene.tif\)"):
        prepare_dataset(options)
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def test_cli_prepare_refuses_existing_output_and_writes_report(t33uup_mosaic, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = [
        "prepare",
        "--s2",
        *map(str, sorted(t33uup_mosaic.glob("S2A_*.tif"))),
        "--s1",
        *map(str, sorted(t33uup_mosaic.glob("S1_*.tif"))),
        "--labels",
        str(t33uup_mosaic / "mosaic_patch_labels_EPSG32633.geojson"),
        "--class-field",
        "labels",
        "--label-separator",
        "; ",
        "--block-size",
        "1",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    assert json.loads((out / "prepare_report.json").read_text())["kept"] == 7
    assert main(argv) == 2
    assert "exists already" in capsys.readouterr().err
    with pytest.raises(OutputError):
        prepare_dataset(_mosaic_options(t33uup_mosaic, out))


def test_stacked_s2_and_s1_on_another_crs(t33uup_mosaic, ben_v2, tmp_path):
    """A 12-band stacked S2 raster (band names in the descriptions) and S1 reprojected to EPSG:4326."""
    from rasterio.warp import calculate_default_transform, reproject

    s2_files = sorted(t33uup_mosaic.glob("S2A_*.tif"))
    with rasterio.open(next(p for p in s2_files if p.name.endswith("_B02.tif"))) as ref:
        profile, shape = ref.profile, ref.shape
    stack = np.zeros((12, *shape), dtype=np.uint16)
    for i, band in enumerate(S2_12):
        with rasterio.open(next(p for p in s2_files if p.name.endswith(f"_{band}.tif"))) as src:
            f = shape[0] // src.height
            stack[i] = np.repeat(np.repeat(src.read(1), f, axis=0), f, axis=1)
    stacked = tmp_path / "s2_stack.tif"
    with rasterio.open(stacked, "w", **{**profile, "count": 12}) as dst:
        dst.write(stack)
        dst.descriptions = S2_12
    s1_files = sorted(t33uup_mosaic.glob("S1_*.tif"))  # VH, VV
    with rasterio.open(s1_files[1]) as vv, rasterio.open(s1_files[0]) as vh:
        transform, width, height = calculate_default_transform(vv.crs, "EPSG:4326", vv.width, vv.height, *vv.bounds)
        geo = np.full((2, height, width), np.nan, dtype=np.float32)
        for k, src in enumerate((vv, vh)):
            reproject(
                rasterio.band(src, 1),
                geo[k],
                dst_transform=transform,
                dst_crs="EPSG:4326",
                resampling=rasterio.enums.Resampling.bilinear,
                dst_nodata=np.nan,
            )
    s1_geo = tmp_path / "s1_wgs84.tif"
    with rasterio.open(
        s1_geo,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=2,
        dtype="float32",
        crs="EPSG:4326",
        transform=transform,
        nodata=np.nan,
    ) as dst:
        dst.write(geo)
    options = _mosaic_options(t33uup_mosaic, tmp_path / "out", max_nodata=0.05)
    options.s2, options.s1 = [stacked], [s1_geo]
    report = prepare_dataset(options)
    assert report.kept >= 5  # border patches may lose a few pixels to the double reprojection
    meta = pd.read_parquet(tmp_path / "out" / "metadata.parquet")
    official = _official_metadata(ben_v2)
    row = meta.iloc[0]
    with rasterio.open(s2_patch_dir(tmp_path / "out", row.patch_id) / f"{row.patch_id}_B05.tif") as mine:
        assert mine.shape == (120, 120) and mine.res == (10.0, 10.0)  # stacked input: every band at 10 m
        oid = _official_id(mine.transform)
        b05 = mine.read(1)
    with rasterio.open(s2_patch_dir(ben_v2, oid) / f"{oid}_B05.tif") as ref:
        assert np.array_equal(b05, np.repeat(np.repeat(ref.read(1), 2, axis=0), 2, axis=1))
    s1_ref = official.loc[oid, "s1_name"]
    with (
        rasterio.open(s1_patch_dir(tmp_path / "out", row.s1_name) / f"{row.s1_name}_VV.tif") as mine,
        rasterio.open(s1_patch_dir(ben_v2, s1_ref) / f"{s1_ref}_VV.tif") as ref,
    ):
        assert mine.crs == ref.crs and mine.transform == ref.transform  # resampled onto the S2 10 m grid
        a, b = mine.read(1), ref.read(1)
        ok = np.isfinite(a)
        assert ok.mean() >= 0.95
        # two bilinear resamplings of speckled SAR: close to, not equal to, the original dB values
        assert np.median(np.abs(a[ok] - b[ok])) < 1.0 and np.corrcoef(a[ok], b[ok])[0, 1] > 0.8


def test_json_mapping_table(shared_data, ben_v2, tmp_path):
    s2_dir = s2_patch_dir(ben_v2, PATCH_26_57)
    s1_dir = s1_patch_dir(ben_v2, "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_57")
    common = dict(
        s2=sorted(s2_dir.glob("*.tif")),
        s1=sorted(s1_dir.glob("*.tif")),
        labels=_reference_polygons(shared_data),
        class_field="clc_code",
    )
    table = tmp_path / "map.json"
    mapping = {"211": "Arable land", "231": "Pastures", "311": "Mixed forest", "313": "Mixed forest"}
    table.write_text(json.dumps(mapping))
    prepare_dataset(PrepareOptions(**common, mapping=str(table), output=tmp_path / "j"))
    assert sorted(pd.read_parquet(tmp_path / "j" / "metadata.parquet").labels[0]) == [
        "Arable land",
        "Mixed forest",
        "Pastures",
    ]
    table.write_text(json.dumps({"211": "Farmland"}))
    with pytest.raises(InputError, match="classes the model does not have: Farmland"):
        prepare_dataset(PrepareOptions(**common, mapping=str(table), output=tmp_path / "k"))

"""One model, the same inputs, three front ends: ``mosaic predict``, Processing ``mosaic:classify`` and the dock
write identical files (rasters as valid Cloud-Optimised GeoTIFFs with their band descriptions, nodata, tags, styles
and overviews; tiles.gpkg version, schema and values), all as the output catalogue
(:mod:`mosaic.backend.inference.outputs`) describes them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

from mosaic.backend.data.bands import S2_BAND_SETS
from mosaic.backend.data.classes import BEN19_CLASSES
from mosaic.backend.inference import read_metadata
from mosaic.backend.inference.outputs import FILE_NAMES, output_catalogue

from .plugin_actions import open_dock, start_plugin
from .processing_case import band_files

STRIDE, BATCH = 60, 8


def _predict(model: Path, folder: Path, out: Path, *options: str, modalities=("s2", "s1")) -> dict[str, Path]:
    files = band_files(folder)
    inputs = {"s2": [str(files[b]) for b in S2_BAND_SETS["s2_10"]], "s1": [str(files["VV"]), str(files["VH"])]}
    cmd = [
        sys.executable,
        "-m",
        "mosaic.backend.cli",
        "predict",
        *(arg for m in modalities for arg in (f"--{m}", *inputs[m])),
        "--model",
        str(model),
        "--out",
        str(out),
        "--stride",
        str(STRIDE),
        "--batch-size",
        str(BATCH),
        "--no-progress",
        *options,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return {k: out / name for k, name in FILE_NAMES.items()}


def _processing(model: Path, folder: Path, out: Path, **options) -> dict[str, Path]:
    import processing

    files = band_files(folder)
    out.mkdir()
    keys = {
        "probabilities": "OUTPUT_PROBABILITIES",
        "labels": "OUTPUT_LABELS",
        "confidence": "OUTPUT_CONFIDENCE",
        "tiles": "OUTPUT_TILES",
    }
    parameters = {
        "S2": [str(files[b]) for b in S2_BAND_SETS["s2_10"]],
        "S1": [str(files["VV"]), str(files["VH"])],
        "MODEL": str(model),
        "STRIDE": STRIDE,
        "BATCH_SIZE": BATCH,
        **{keys[k]: str(out / name) for k, name in FILE_NAMES.items()},
        **options,
    }
    result = processing.run("mosaic:classify", parameters)
    return {k: Path(result[keys[k]]) for k in FILE_NAMES}


def _dock(qgis_iface, qtbot, layers, model: Path, out: Path, cloud=None) -> dict[str, Path]:
    """A dock run; ``cloud``: the cloud layer the dock must have found beside the S2 bands by itself."""
    plugin = start_plugin(qgis_iface)
    try:
        dock = open_dock(qgis_iface)
        dock.s2_combo.setLayer(layers["B02"])
        dock.s1_combo.setLayer(layers["VV"])
        dock.set_model_path(str(model))
        dock.output_dir.setFilePath(str(out))
        dock.write_tiles.setChecked(True)
        dock.stride.setValue(STRIDE)
        dock.batch_size.setValue(BATCH)
        assert dock.cloud_combo.currentLayer() is cloud
        assert dock.run() is not None
        qtbot.waitUntil(lambda: dock.task is None, timeout=120_000)
        assert dock.last_error == "", dock.last_error
        return dict(dock.last_result.outputs)
    finally:
        plugin.unload()


def _raster(path: Path) -> dict:
    ds = gdal.Open(str(path))
    bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    srs.AutoIdentifyEPSG()
    return {
        "size": (ds.RasterXSize, ds.RasterYSize),
        "geotransform": ds.GetGeoTransform(),
        "epsg": srs.GetAuthorityCode(None),
        "dtypes": [gdal.GetDataTypeName(b.DataType) for b in bands],
        "nodata": [b.GetNoDataValue() for b in bands],
        "descriptions": [b.GetDescription() for b in bands],
        "tags": ds.GetMetadata(),
        "values": ds.ReadAsArray(),
        "style": path.with_suffix(".qml").read_text(encoding="utf-8"),
        "cog": validate(str(path), full_check=True)[:2],  # (warnings, errors) of GDAL's COG validator
        "structure": ds.GetMetadata("IMAGE_STRUCTURE"),
        "blocks": [b.GetBlockSize() for b in bands],
        "overviews": [[b.GetOverview(o).ReadAsArray() for o in range(b.GetOverviewCount())] for b in bands],
    }


def _tiles(path: Path) -> dict:
    ds = ogr.Open(str(path))
    assert ds.GetLayerCount() == 1
    layer = ds.GetLayer(0)
    definition = layer.GetLayerDefn()
    fields = [
        (definition.GetFieldDefn(i).GetName(), definition.GetFieldDefn(i).GetTypeName())
        for i in range(definition.GetFieldCount())
    ]
    features = sorted(
        (tuple(f.GetField(i) for i in range(definition.GetFieldCount())), f.GetGeometryRef().ExportToWkt())
        for f in layer
    )
    geometry = (layer.GetGeometryColumn(), ogr.GeometryTypeToName(layer.GetGeomType()))
    with sqlite3.connect(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
    return {
        "layer": layer.GetName(),
        "geometry": geometry,
        "epsg": layer.GetSpatialRef().GetAuthorityCode(None),
        "fields": fields,
        "features": features,
        "version": version,
    }


def test_predict_processing_and_dock_write_identical_files(
    processing_ready, qgis_iface, qtbot, clean_settings, t33uup_layers, test_model, t33uup_mosaic, tmp_path
):
    runs = {
        "mosaic predict": _predict(test_model, t33uup_mosaic, tmp_path / "predict"),
        "mosaic:classify": _processing(test_model, t33uup_mosaic, tmp_path / "processing"),
        "dock": _dock(qgis_iface, qtbot, t33uup_layers, test_model, tmp_path / "dock"),
    }
    catalogue = output_catalogue(read_metadata(str(test_model)), test_model)
    for name, outputs in runs.items():
        assert {k: p.name for k, p in outputs.items()} == FILE_NAMES, name

    reference = runs["mosaic predict"]
    for product in catalogue.rasters:
        expected = _raster(reference[product.key])
        # what the catalogue describes, on the 480 × 240 px mosaic at stride 60: 4 × 8 cells
        assert expected["size"] == (4, 8) and expected["epsg"] == "32633"
        assert expected["descriptions"] == list(product.band_descriptions)
        assert expected["dtypes"] == [{"float32": "Float32", "uint32": "UInt32"}[product.dtype]] * len(
            product.band_descriptions
        )
        assert np.array_equal(expected["nodata"], [product.nodata] * len(product.band_descriptions), equal_nan=True)
        # the model's name, then the record of how the inputs were harmonised (MOSAIC_INPUT_*)
        assert expected["tags"]["MOSAIC_MODEL"] == "resnet18_test.onnx" and expected["tags"]["AREA_OR_POINT"] == "Area"
        assert expected["style"] == product.style_qml
        # a valid COG: DEFLATE in one 512 px tile; 4 × 8 cells need no overviews (test_sinks.py: larger rasters)
        assert expected["cog"] == ([], []) and expected["structure"]["LAYOUT"] == "COG"
        assert expected["structure"]["COMPRESSION"] == "DEFLATE"
        assert expected["blocks"] == [[512, 512]] * len(product.band_descriptions)
        assert expected["overviews"] == [[]] * len(product.band_descriptions)
        for name in ("mosaic:classify", "dock"):
            got = _raster(runs[name][product.key])
            for key in (
                "size",
                "geotransform",
                "epsg",
                "dtypes",
                "descriptions",
                "tags",
                "style",
                "cog",
                "structure",
                "blocks",
            ):
                assert got[key] == expected[key], (name, product.key, key)
            assert np.array_equal(got["nodata"], expected["nodata"], equal_nan=True), (name, product.key)
            np.testing.assert_array_equal(got["values"], expected["values"], err_msg=f"{name} {product.key}")
            assert [len(o) for o in got["overviews"]] == [len(o) for o in expected["overviews"]], (name, product.key)
            for got_levels, expected_levels in zip(got["overviews"], expected["overviews"], strict=True):
                for a, b in zip(got_levels, expected_levels, strict=True):
                    np.testing.assert_array_equal(a, b, err_msg=f"{name} {product.key} overview")
    probabilities = _raster(reference["probabilities"])["values"]
    assert probabilities.shape == (19, 8, 4)
    # the 2 × 2 cells of the empty patch 37_87 (no S1, no S2) are nodata although stride-60 tiles overlap them
    assert np.isnan(probabilities[:, :2, :2]).all() and np.isfinite(probabilities).all(axis=0).sum() == 32 - 4
    assert _raster(reference["probabilities"])["descriptions"] == list(BEN19_CLASSES)

    tiles = _tiles(reference["tiles"])
    assert tiles["layer"] == catalogue.tiles.layer and tiles["geometry"] == ("geom", "Polygon")
    assert tiles["version"] == 10200  # GeoPackage 1.2: read without a version warning by QGIS 3.22's GDAL 3.6
    types = {"int": "Integer", "str": "String", "float": "Real"}
    assert tiles["fields"] == [(n, types[k]) for n, k in catalogue.tiles.fields]
    assert [n for n, _ in tiles["fields"][:6]] == ["row", "col", "top_class", "labels", "confidence", "source"]
    assert len(tiles["features"]) == 20  # 3 × 7 tiles at stride 60, one skipped as nodata
    for name in ("mosaic:classify", "dock"):
        assert _tiles(runs[name]["tiles"]) == tiles, name


def test_a_cloud_layer_gives_identical_files_in_every_front_end(
    processing_ready,
    qgis_iface,
    qtbot,
    clean_settings,
    t33uup_layers,
    heads_test_model,
    t33uup_mosaic,
    t33uup_scl_4326,
    tmp_path,
):
    """An SCL layer in EPSG:4326, passed to mosaic predict and Processing and found by the dock beside the S2 bands
    (its name says SCL), is warped onto the S2 grid alike: the same files, radar (S1-only head) under the clouds."""
    from qgis.core import QgsProject, QgsRasterLayer

    scl = QgsRasterLayer(str(t33uup_scl_4326), t33uup_scl_4326.stem, "gdal")
    QgsProject.instance().addMapLayer(scl)
    runs = {
        "mosaic predict": _predict(
            heads_test_model, t33uup_mosaic, tmp_path / "predict", "--cloud-mask", str(t33uup_scl_4326)
        ),
        "mosaic:classify": _processing(
            heads_test_model, t33uup_mosaic, tmp_path / "processing", CLOUD_MASK=str(t33uup_scl_4326)
        ),
        "dock": _dock(qgis_iface, qtbot, t33uup_layers, heads_test_model, tmp_path / "dock", cloud=scl),
    }
    group = QgsProject.instance().layerTreeRoot().children()[0]  # the dock's run: where radar was used is shown
    source_layer = next(n for n in group.findLayers() if n.layer().name().startswith("Head used"))
    assert source_layer.isVisible() and source_layer.layer().renderer().band() == 3
    reference = {key: _raster(path) for key, path in runs["mosaic predict"].items() if key != "tiles"}
    assert reference["labels"]["tags"]["MOSAIC_INPUT_CLOUD_MASK"].startswith("band 1: Sentinel-2 scene classification")
    # stride 60: the 2 × 2 cells of each tile of cloud_masks.CLOUDY are S1 only (2) or, at its edges, mixed with
    # clear tiles (4); most other cells are fused (1)
    source = reference["labels"]["values"][2]
    assert (source[2:4, 0:2] == 2).all() and source[4, 2] == 2 and set(source[4:6, 2:4].ravel()) == {2, 4}
    assert (source == 1).sum() >= 10
    for name in ("mosaic:classify", "dock"):
        for key, expected in reference.items():
            got = _raster(runs[name][key])
            for item in ("size", "geotransform", "dtypes", "descriptions", "tags", "style", "cog"):
                assert got[item] == expected[item], (name, key, item)
            np.testing.assert_array_equal(got["values"], expected["values"], err_msg=f"{name} {key}")
        assert _tiles(runs[name]["tiles"]) == _tiles(runs["mosaic predict"]["tiles"]), name
        source_style = runs[name]["labels"].with_name(runs[name]["labels"].stem + "_source.qml")
        assert source_style.read_text(encoding="utf-8") == (tmp_path / "predict" / "labels_source.qml").read_text(
            encoding="utf-8"
        )


def test_one_modality_gives_identical_files_in_mosaic_predict_and_processing(
    processing_ready, heads_test_model, test_model, t33uup_mosaic, tmp_path
):
    """S2 alone and S1 alone: the S2-only / S1-only head on every cell (band 3: 3 or 2), the same files from
    ``mosaic predict --s2`` (``--s1``) alone and ``mosaic:classify`` with the other layers left empty; a model without
    per-modality heads is refused in one sentence."""
    from qgis.core import QgsProcessingException

    for alone, other, code in (("s2", "S1", 3), ("s1", "S2", 2)):
        reference = _predict(heads_test_model, t33uup_mosaic, tmp_path / f"predict_{alone}", modalities=(alone,))
        got = _processing(heads_test_model, t33uup_mosaic, tmp_path / f"processing_{alone}", **{other: []})
        for key in ("probabilities", "labels", "confidence"):
            expected, mine = _raster(reference[key]), _raster(got[key])
            for item in ("size", "geotransform", "epsg", "tags", "style"):
                assert mine[item] == expected[item], (alone, key, item)
            np.testing.assert_array_equal(mine["values"], expected["values"], err_msg=f"{alone} {key}")
        source = _raster(reference["labels"])["values"][2]
        assert (source[:2, :2] == 2**32 - 1).all() and (source[2:] == code).all() and (source[:2, 2:] == code).all()
        assert _tiles(got["tiles"]) == _tiles(reference["tiles"])
    with pytest.raises(QgsProcessingException, match=r"^resnet18_test.onnx has no S2-only head \(it was exported"):
        _processing(test_model, t33uup_mosaic, tmp_path / "refused", S1=[])
    assert list((tmp_path / "refused").iterdir()) == []

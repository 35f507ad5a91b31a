"""Bad inputs in the dock, on real QGIS layers: one clear message bar message, no layer and no file added."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import rasterio
from osgeo import gdal
from qgis.core import Qgis, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt

from mosaic.backend.predict import command
from mosaic.backend.predict.prediction import predict

from .tasks import wait_for_task

CRITICAL, WARNING = int(Qgis.MessageLevel.Critical), int(Qgis.MessageLevel.Warning)


def add_layer(path: Path) -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), path.stem, "gdal")
    assert layer.isValid(), path
    QgsProject.instance().addMapLayer(layer)
    return layer


def map_band(widget, modality: str, band: str, layer: QgsRasterLayer) -> None:
    """Pick band 1 of ``layer`` for ``modality band`` in the mapping table, as a user does."""
    table = widget.mapping_table
    for row in range(table.rowCount()):
        if tuple(table.item(row, 0).data(Qt.ItemDataRole.UserRole)) == (modality, band):
            combo = table.cellWidget(row, 1)
            index = next(i for i in range(combo.count()) if combo.itemData(i) and combo.itemData(i).layer == layer)
            combo.setCurrentIndex(index)
            return
    raise AssertionError(f"no row {modality} {band}")


def headless_probabilities(s2: list[Path], s1: list[Path], model: Path, out: Path, *options: str) -> np.ndarray:
    """``mosaic predict`` in-process with the CLI's own defaults (stride = patch size, as the dock's default)."""
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(
        [
            "--s2",
            *map(str, s2),
            "--s1",
            *map(str, s1),
            "--model",
            str(model),
            "--out",
            str(out),
            "--no-progress",
            "--threads",
            "2",
            *options,
        ]
    )
    predict(command.request_from(args))
    with rasterio.open(out / "probabilities.tif") as ds:
        return ds.read()


def float_copy(path: Path, folder: Path, edit) -> Path:
    """A Float32 copy of a real band file with ``edit(array)`` applied (nodata kept)."""
    folder.mkdir(exist_ok=True)
    with rasterio.open(path) as src:
        a, profile = src.read(1).astype(np.float32), src.profile
    edit(a)
    with rasterio.open(folder / path.name, "w", **(profile | {"dtype": "float32"})) as dst:
        dst.write(a, 1)
    return folder / path.name


def assert_refused(qgis_iface, layers_before: int, out: Path, match: str) -> str:
    """One critical message containing ``match``, no success message, no layer, nothing in the output folder."""
    critical = qgis_iface.messageBar().get_messages(CRITICAL)
    assert len(critical) == 1 and match in critical[0], critical
    assert qgis_iface.messageBar().get_messages(int(Qgis.MessageLevel.Success)) == []
    assert len(QgsProject.instance().mapLayers()) == layers_before
    assert not out.exists() or list(out.rglob("*")) == []
    return critical[0]


def test_linear_s1_is_refused_then_converted_on_request(
    dock,
    qtbot,
    qgis_iface,
    t33uup_mosaic,
    t33uup_s1_linear,
    test_model,
    tmp_path,
):
    linear = {p.stem.rsplit("_", 1)[-1]: add_layer(p) for p in t33uup_s1_linear}
    dock.s1_combo.setLayer(linear["VV"])
    assert dock.mapping()[("S1", "VV")].layer == linear["VV"] and dock.mapping()[("S1", "VH")].layer == linear["VH"]
    qgis_iface.messageBar().clear_messages()
    layers_before = len(QgsProject.instance().mapLayers())
    assert dock.run() is None
    text = assert_refused(qgis_iface, layers_before, tmp_path / "out", "looks like linear power or amplitude, not dB")
    assert '(median 0.103, 0% negative values); set "S1 units" to linear power in the dock for power' in text
    assert 'set "S1 units" to amplitude in the dock for amplitude (20·log10)' in text

    choice = dock.input_choices["s1_units"]
    choice.setCurrentIndex(choice.findData("linear"))
    assert dock.run() is not None
    wait_for_task(qtbot, dock)
    assert dock.last_error == ""
    converted = gdal.Open(str(dock.last_result.outputs["probabilities"])).ReadAsArray()
    s2 = sorted(t33uup_mosaic.glob("S2A*.tif"))
    reference = headless_probabilities(s2, sorted(t33uup_mosaic.glob("S1_*.tif")), test_model, tmp_path / "db")
    np.testing.assert_array_equal(np.isnan(converted), np.isnan(reference))
    np.testing.assert_allclose(converted, reference, atol=1e-4, rtol=0)


def test_selection_over_the_empty_cell_is_refused(dock, qtbot, qgis_iface, tmp_path):
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer

    polygons = QgsVectorLayer("Polygon?crs=EPSG:32633", "aoi", "memory")
    feature = QgsFeature()  # inside the mosaic's empty top-left cell 37_87 (344400..345600 × 5294400..5295600)
    feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(344500, 5294500, 345500, 5295500)))
    polygons.dataProvider().addFeatures([feature])
    QgsProject.instance().addMapLayer(polygons)
    polygons.selectAll()
    dock.extent_combo.setCurrentIndex(dock.extent_combo.findData("selection"))
    qgis_iface.messageBar().clear_messages()
    layers_before = len(QgsProject.instance().mapLayers())
    assert dock.run() is not None  # the inputs are fine: the engine finds out tile by tile
    wait_for_task(qtbot, dock)
    assert dock.last_result is None
    assert dock.last_error == (
        "no tile of the processed extent has enough data: all 1 tiles are more than 50% nodata; check the extent "
        "or AOI and the inputs' nodata values."
    )
    assert_refused(qgis_iface, layers_before, tmp_path / "out", dock.last_error)


def test_inf_in_a_layer_is_nodata_like_nan(dock, qtbot, qgis_iface, t33uup_mosaic, test_model, tmp_path):
    """±inf blocks in B04 give the result of the headless run where those pixels are NaN."""
    b04 = next(t33uup_mosaic.glob("S2A*_B04.tif"))

    def damage(value: float):
        def edit(a: np.ndarray) -> None:
            a[120:220, 0:120] = value  # 83 % of tile (1, 0): skipped
            a[240:270, 120:150] = np.copysign(value, -1.0)  # a corner of tile (2, 1): filled

        return edit

    with_inf = add_layer(float_copy(b04, tmp_path / "inf", damage(np.inf)))
    with_nan = float_copy(b04, tmp_path / "nan", damage(np.nan))
    map_band(dock, "S2", "B04", with_inf)
    qgis_iface.messageBar().clear_messages()
    dock.run()
    wait_for_task(qtbot, dock)
    assert dock.last_error == "" and qgis_iface.messageBar().get_messages(CRITICAL) == []
    assert (dock.last_result.summary.tiles_run, dock.last_result.summary.tiles_skipped) == (6, 2)
    plugin_p = gdal.Open(str(dock.last_result.outputs["probabilities"])).ReadAsArray()
    s2 = [with_nan if p == b04 else p for p in sorted(t33uup_mosaic.glob("S2A*.tif"))]
    reference = headless_probabilities(s2, sorted(t33uup_mosaic.glob("S1_*.tif")), test_model, tmp_path / "ref")
    assert np.isnan(plugin_p[:, 1, 0]).all() and np.isfinite(plugin_p[:, 2, 1]).all()
    np.testing.assert_array_equal(np.isnan(plugin_p), np.isnan(reference))
    np.testing.assert_allclose(plugin_p, reference, atol=1e-6, rtol=0)


def test_damaged_model_is_reported_and_blocks_run(dock, qgis_iface, test_model, tmp_path):
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(test_model.read_bytes()[:5000])
    qgis_iface.messageBar().clear_messages()
    dock.set_model_path(str(damaged))
    critical = qgis_iface.messageBar().get_messages(CRITICAL)
    assert len(critical) == 1 and "damaged.onnx" in critical[0], critical
    assert dock.metadata is None and dock.mapping() == {}
    assert dock.run() is None
    assert any("Choose a valid MoSAiC model first." in m for m in qgis_iface.messageBar().get_messages(WARNING))
    assert not (tmp_path / "out").exists()


def test_unreadable_layer_is_reported(dock, qtbot, qgis_iface, t33uup_mosaic, tmp_path):
    """A B04 file cut short after QGIS opened it: the input inspector's first read of it fails, before the run."""
    b04 = next(t33uup_mosaic.glob("S2A*_B04.tif"))
    copy = float_copy(b04, tmp_path / "cut", lambda a: None)
    layer = add_layer(copy)
    map_band(dock, "S2", "B04", layer)
    with open(copy, "r+b") as f:
        f.truncate(os.path.getsize(copy) // 3)
    layer.dataProvider().reloadData()
    qgis_iface.messageBar().clear_messages()
    layers_before = len(QgsProject.instance().mapLayers())
    assert dock.run() is None  # the input inspector's sample read fails: refused before the run starts
    text = assert_refused(qgis_iface, layers_before, tmp_path / "out", "the file may be truncated or damaged.")
    assert text.endswith(f"reading {layer.name()} failed; the file may be truncated or damaged.")


def test_layers_without_band_names_block_run(dock, qgis_iface, t33uup_layers, t33uup_mosaic, tmp_path):
    for band, layer in list(t33uup_layers.items()):
        if band.startswith("B"):
            QgsProject.instance().removeMapLayer(layer.id())
    renamed = []
    for i, path in enumerate(sorted(t33uup_mosaic.glob("S2A*.tif"))):
        os.symlink(path, tmp_path / f"layer{i}.tif")
        renamed.append(add_layer(tmp_path / f"layer{i}.tif"))
    dock.s2_combo.setLayer(renamed[0])
    warning = dock.mapping_warning.text()
    assert warning.startswith("Missing bands: S2 B02, S2 B03, S2 B04, S2 B05, S2 B06, S2 B07, S2 B08, S2 B8A, S2 B11")
    assert "such as …_B02.tif" in warning
    qgis_iface.messageBar().clear_messages()
    assert dock.run() is None
    warnings = qgis_iface.messageBar().get_messages(WARNING)
    assert len(warnings) == 1 and "Map every model band first; missing: S2 B02" in warnings[0], warnings
    assert not (tmp_path / "out").exists()


def test_s2_scale_choice_reaches_the_engine(dock, qtbot, t33uup_mosaic, test_model, tmp_path):
    """0–1 float reflectance with the dock's S2 scale set to 1 equals ``mosaic predict --s2-scale 1``."""
    s2 = [
        float_copy(p, tmp_path / "s2", lambda a: np.divide(a, 10000.0, out=a))
        for p in sorted(t33uup_mosaic.glob("S2A*_B*.tif"))
    ]
    layers = [add_layer(p) for p in s2]
    dock.s2_combo.setLayer(layers[1])
    choice = dock.input_choices["s2_scale"]
    choice.setCurrentIndex(choice.findData("1"))
    assert dock.input_options().s2_scale == 1.0
    assert dock.run() is not None
    wait_for_task(qtbot, dock)
    assert dock.last_error == "", dock.last_error
    assert "S2 radiometry: reflectance × 1 (chosen by the user); no DN offset" in dock.status.text()
    got = gdal.Open(str(dock.last_result.outputs["probabilities"])).ReadAsArray()
    s1 = sorted(t33uup_mosaic.glob("S1_*.tif"))
    expected = headless_probabilities(s2, s1, test_model, tmp_path / "headless", "--s2-scale", "1")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)

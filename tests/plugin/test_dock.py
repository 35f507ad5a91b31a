"""The dock on real QGIS: real T33UUP band layers, a real exported model, a real background task."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsApplication, QgsPalettedRasterRenderer, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QObject, Qt, QUrl, pyqtSlot
from qgis.PyQt.QtGui import QDesktopServices

from mosaic.backend.data.bands import S2_BAND_SETS
from mosaic.backend.data.classes import BEN19_CLASSES, class_colors
from mosaic.backend.inference.products import LABEL_NODATA
from mosaic.plugin.layers import LABELS_OPACITY

from .headless import predict
from .plugin_actions import open_dock, start_plugin, top_level
from .processing_case import band_files
from .tasks import wait_for_task


def test_band_mapping_detected_from_file_names(dock, t33uup_layers):
    mapping = dock.mapping()
    assert [m for m in mapping if m[0] == "S2"] == [("S2", b) for b in S2_BAND_SETS["s2_10"]]
    for (modality, band), source in mapping.items():
        assert source is not None, band
        assert source.layer.id() == t33uup_layers[band].id() and source.band == 1
    assert dock.mapping_warning.text() == ""
    # this onnxruntime's providers that run here (the CPU build: Azure's remote one is not offered)
    offered = [
        (dock.provider_combo.itemText(i), dock.provider_combo.itemData(i)) for i in range(dock.provider_combo.count())
    ]
    assert offered == [("CPU (CPUExecutionProvider)", "CPUExecutionProvider")]
    # the band first, then the layer's short name (the full name in the tooltip)
    combo = dock.mapping_table.cellWidget(0, 1)
    assert combo.currentText() == "B02 · S2A T33UUP 2017-06-13"
    assert combo.toolTip() == f"{t33uup_layers['B02'].name()} · Band 1"
    s1_row = next(r for r in range(dock.mapping_table.rowCount()) if dock.mapping_table.item(r, 0).text() == "S1 VH")
    assert dock.mapping_table.cellWidget(s1_row, 1).currentText() == "VH · S1 33UUP"


def test_model_panel_summary_and_details(dock):
    panel = dock.model_panel
    summary = plain_text(panel.model_info.text())
    assert summary == (
        "Classifies: 19 land-cover classes (Urban fabric, Industrial or commercial units, Arable land and 16 more)\n"
        "Expects: Sentinel-2 L2A (10 bands) and Sentinel-1 VV+VH in dB at 10 m; one label set per 1.2 km tile\n"
        "Heads: S1+S2\n"
        "Accuracy: macro average precision 0.123 on its test split (S1+S2 head)"
    )
    assert not panel.model_details.isVisibleTo(dock) and "test/ap_macro = 0.123" in panel.model_details.text()
    panel.details_button.click()
    assert panel.model_details.isVisibleTo(dock)
    assert "Metrics: test/ap_macro = 0.123" in plain_text(panel.model_details.text())
    # how it runs here: fp32 on the CPU, no int8 copy beside it
    assert plain_text(panel.run_note.text()) == "Runs here: fp32 on CPU (CPUExecutionProvider)"
    assert not panel.int8_button.isVisibleTo(dock)


def test_pickers_offer_s2_and_s1_layers_first(qgis_iface, clean_settings, t33uup_layers):
    """QGIS lists layers alphabetically: S1_…_VH first. The dock offers the 10 m B02 layer and the VV layer."""
    plugin = start_plugin(qgis_iface)
    try:
        dock = open_dock(qgis_iface)
        assert dock.s2_combo.currentLayer().id() == t33uup_layers["B02"].id()
        assert dock.s1_combo.currentLayer().id() == t33uup_layers["VV"].id()
    finally:
        plugin.unload()


def test_stride_is_also_shown_in_ground_metres(dock):
    dock.stride.setValue(30)
    assert dock.stride_metres.text() == "= 300 m cells"
    dock.stride.setValue(120)
    assert dock.stride_metres.text() == "= 1,200 m cells"


def test_outputs_go_beside_the_saved_project_and_temporary_folders_are_flagged(
    qgis_iface, clean_settings, t33uup_layers, tmp_path
):
    from qgis.PyQt.QtCore import QStandardPaths

    plugin = start_plugin(qgis_iface)
    try:
        dock = open_dock(qgis_iface)
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        assert dock.run_base_dir() == Path(documents) / "MoSAiC runs"  # no saved project: never the temp folder
        assert dock.output_path.text() == str(Path(documents) / "MoSAiC runs")
        (tmp_path / "site").mkdir()
        qgis_iface.messageBar().clear_messages()
        assert QgsProject.instance().write(str(tmp_path / "site" / "survey.qgz"))
        assert dock.run_base_dir() == tmp_path / "site" / "MoSAiC runs"
        assert dock.output_path.text() == str(tmp_path / "site" / "MoSAiC runs")
        assert dock.temporary_warning.isVisibleTo(dock)  # the test's folder lies in the temporary folder
        # the 14 band layers (shared data) are not temporary files: no warning until a layer from /tmp is added
        assert not any("temporary folder" in m for m in qgis_iface.messageBar().get_messages(1))
        copy = tmp_path / "site" / "B02.tif"
        shutil.copy(t33uup_layers["B02"].source(), copy)
        QgsProject.instance().addMapLayer(QgsRasterLayer(str(copy), "B02 copy", "gdal"))
        assert QgsProject.instance().write()
        warnings = [m for m in qgis_iface.messageBar().get_messages(1) if "temporary folder" in m]
        assert warnings == [
            "MoSAiC:This project refers to 1 layer(s) in the temporary folder (B02 copy): they may be gone after a "
            "restart. Choose an output folder outside it in the MoSAiC dock and run again."
        ]
    finally:
        plugin.unload()
        QgsProject.instance().setFileName("")


def plain_text(html: str) -> str:
    from qgis.PyQt.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setHtml(html)
    return doc.toPlainText().replace("\u2029", "\n")


def test_missing_band_is_reported_and_blocks_run(dock, qgis_iface, t33uup_layers):
    QgsProject.instance().removeMapLayer(t33uup_layers["B11"].id())
    assert "S2 B11" in dock.mapping_warning.text()
    assert dock.run() is None
    assert any("B11" in m for m in qgis_iface.messageBar().get_messages(1))  # Qgis.MessageLevel.Warning


def test_run_adds_styled_group_equal_to_headless_predict(
    dock, qtbot, qgis_iface, test_model, t33uup_mosaic, tmp_path, processing_ready, monkeypatch
):
    dock.stride.setValue(60)
    dock.batch_size.setValue(4)
    qgis_iface.messageBar().clear_messages()
    task = dock.run()
    assert task is not None and not dock.run_button.isEnabled() and dock.cancel_button.isEnabled()
    texts = []
    task.progress_text.connect(texts.append)
    wait_for_task(qtbot, dock)
    assert dock.last_error == "" and dock.last_result is not None
    assert any(" of 21 tiles" in t and "left" in t for t in texts), texts  # 3 × 7 tiles at stride 60, with ETA
    assert dock.progress.value() == 100 and dock.run_button.isEnabled()
    success = qgis_iface.messageBar().get_messages(3)  # Qgis.MessageLevel.Success
    assert any("20 tiles classified (1 skipped as nodata)" in m for m in success), success
    outputs = dock.last_result.outputs
    assert {p.name for p in outputs.values()} == {"probabilities.tif", "labels.tif", "confidence.tif", "tiles.gpkg"}
    for path in outputs.values():
        assert path.is_file()
        assert not list(path.parent.glob(".*.part.*"))
    assert outputs["labels"].with_suffix(".qml").is_file()

    group = QgsProject.instance().layerTreeRoot().children()[0]
    assert group.name() == task.run_name
    layers = {node.layer().name(): node.layer() for node in group.findLayers()}
    assert set(layers) == {"Land cover (top class)", "Tiles", "Confidence", "Probability: Urban fabric"}
    labels = layers["Land cover (top class)"]
    renderer = labels.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    classes = renderer.classes()
    assert [c.label for c in classes] == list(BEN19_CLASSES)
    assert [c.color.name() for c in classes] == class_colors(BEN19_CLASSES)
    assert renderer.opacity() == LABELS_OPACITY  # the imagery below shows through
    assert labels.width() == 4 and labels.height() == 8  # 240 × 480 px at stride 60
    # the legend lists the classes without QGIS's band title ("Band 1: top class index (Gray)")
    assert legend_texts(group.findLayer(labels.id())) == list(BEN19_CLASSES)
    # without a cloud layer every cell is decided by the fused head: no "Head used" layer
    assert "no cloud mask (exported before per-modality heads)" in dock.model_panel.model_details.text()
    # confidence: the ramp spans the run's own values
    confidence = layers["Confidence"]
    values = gdal.Open(str(outputs["confidence"])).ReadAsArray()
    finite = values[np.isfinite(values)]
    assert confidence.renderer().classificationMin() == pytest.approx(finite.min(), abs=1e-6)
    assert confidence.renderer().classificationMax() == pytest.approx(finite.max(), abs=1e-6)
    assert finite.max() - finite.min() < 0.5  # a narrow range a 0–1 ramp would draw in one colour
    # probabilities: the class picker chooses the band shown
    probabilities = layers["Probability: Urban fabric"]
    assert dock.probability_class.isEnabled() and dock.probability_class.count() == 19
    dock.probability_class.setCurrentIndex(11)
    assert probabilities.renderer().band() == 12 and probabilities.name() == f"Probability: {BEN19_CLASSES[11]}"
    ds = gdal.Open(str(outputs["probabilities"]))
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)] == list(BEN19_CLASSES)
    plugin_p = ds.ReadAsArray()
    assert np.isfinite(plugin_p).any() and np.nanmax(plugin_p) <= 1.0
    # Open folder opens the run's folder (Qt's URL handler for file: URLs receives it)
    opened = UrlCatcher()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        assert dock.open_folder_button.isEnabled()
        dock.open_folder_button.click()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [url.toLocalFile() for url in opened.urls] == [str(outputs["labels"].parent)]
    # Assess this map… opens Processing's sample step for this run (the dialog stays alive: the dock keeps it)
    from qgis.gui import QgsBrowserGuiModel

    browser = QgsBrowserGuiModel()  # QGIS's own; pytest-qgis's stand-in interface has none for Processing's dialog
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser)
    assert dock.assess_button.isEnabled()
    dock.assess_button.click()
    assess = top_level("mosaicAssessDialog")
    assert assess.algorithm().id() == "mosaic:sample"
    assert assess.createProcessingParameters()["OUTPUT"] == str(outputs["labels"].parent / "sample.gpkg")
    assess.close()

    files = band_files(t33uup_mosaic)
    s2 = [str(files[b]) for b in S2_BAND_SETS["s2_10"]]
    s1 = [str(files["VV"]), str(files["VH"])]
    out = tmp_path / "predict"
    headless = predict(s2, s1, test_model, out)
    assert headless.shape == plugin_p.shape
    np.testing.assert_array_equal(np.isnan(headless), np.isnan(plugin_p))
    np.testing.assert_allclose(plugin_p, headless, rtol=0, atol=1e-6)
    headless_labels = gdal.Open(str(out / "labels.tif")).ReadAsArray()
    np.testing.assert_array_equal(gdal.Open(str(outputs["labels"])).ReadAsArray(), headless_labels)


class UrlCatcher(QObject):
    """Receives the URLs Qt would hand to the system (QDesktopServices.setUrlHandler)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls = []

    @pyqtSlot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def legend_texts(node) -> list[str]:
    """The legend entries QGIS's layer tree shows under ``node``."""
    from qgis.core import QgsLayerTreeModel

    model = QgsLayerTreeModel(QgsProject.instance().layerTreeRoot())
    return [n.data(Qt.ItemDataRole.DisplayRole) for n in model.layerLegendNodes(node)]


def test_cancel_mid_run_leaves_nothing(dock, qtbot, tmp_path):
    dock.stride.setValue(20)  # 6 × 19 = 114 tiles: long enough to cancel in flight
    dock.batch_size.setValue(2)
    layers_before = len(QgsProject.instance().mapLayers())
    task = dock.run()
    qtbot.waitUntil(lambda: task.progress() > 0, timeout=60_000)
    dock.cancel()
    wait_for_task(qtbot, dock)
    assert dock.last_result is None
    assert "cancelled" in dock.last_error
    assert len(QgsProject.instance().mapLayers()) == layers_before
    out = tmp_path / "out"
    assert not out.exists() or list(out.rglob("*")) == []


def test_shutdown_mid_run_waits_and_cleans(dock, qtbot, tmp_path):
    dock.stride.setValue(20)
    dock.batch_size.setValue(2)
    task = dock.run()
    qtbot.waitUntil(lambda: task.progress() > 0, timeout=60_000)
    dock.shutdown()
    assert dock.task is None
    assert task.status() in (task.TaskStatus.Terminated, task.TaskStatus.Complete)
    QgsApplication.processEvents()
    out = tmp_path / "out"
    assert not out.exists() or list(out.rglob("*")) == []


def test_canvas_extent_limits_the_run(dock, qtbot, qgis_iface):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle

    canvas = qgis_iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32633"))
    canvas.setExtent(QgsRectangle(345650, 5293250, 346750, 5294350))
    shown = canvas.extent()  # the canvas widens one side to its aspect ratio
    # expected: the shown extent clipped to the mosaic (x 344400–346800, y 5290800–5295600), snapped out to 10 m
    x_min, x_max = max(shown.xMinimum(), 344400), min(shown.xMaximum(), 346800)
    y_min, y_max = max(shown.yMinimum(), 5290800), min(shown.yMaximum(), 5295600)
    x0 = 344400 + 10 * math.floor((x_min - 344400) / 10)
    y0 = 5295600 - 10 * math.floor((5295600 - y_max) / 10)
    width_m = 344400 + 10 * math.ceil((x_max - 344400) / 10) - x0
    height_m = y0 - (5295600 - 10 * math.ceil((5295600 - y_min) / 10))
    assert width_m * height_m < 2400 * 4800  # really a part of the mosaic
    dock.extent_combo.setCurrentIndex(dock.extent_combo.findData("canvas"))
    dock.run()
    wait_for_task(qtbot, dock)
    labels = gdal.Open(str(dock.last_result.outputs["labels"]))
    assert labels.GetGeoTransform() == (x0, 1200.0, 0.0, y0, 0.0, -1200.0)
    assert (labels.RasterXSize, labels.RasterYSize) == (math.ceil(width_m / 1200), math.ceil(height_m / 1200))


def test_selected_polygons_extent(dock, qtbot):
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    polygons = QgsVectorLayer("Polygon?crs=EPSG:32633", "aoi", "memory")
    feature = QgsFeature()
    # a square: a triangle would leave the one tile more than half nodata, and a run with no tile is refused
    square = "POLYGON((344500 5291000, 345500 5291000, 345500 5292000, 344500 5292000, 344500 5291000))"
    feature.setGeometry(QgsGeometry.fromWkt(square))
    polygons.dataProvider().addFeatures([feature])
    QgsProject.instance().addMapLayer(polygons)
    dock.extent_combo.setCurrentIndex(dock.extent_combo.findData("selection"))
    assert dock.run() is None  # nothing selected yet: refused with a message
    polygons.selectAll()
    dock.run()
    wait_for_task(qtbot, dock)
    labels = gdal.Open(str(dock.last_result.outputs["labels"]))
    x0, _, _, y0, _, _ = labels.GetGeoTransform()
    assert (x0, y0) == (344500.0, 5292000.0)
    assert (labels.RasterXSize, labels.RasterYSize) == (1, 1)  # 100 × 100 px, one 120 px tile (padded)


def test_selected_polygons_mask_the_tiles(dock, qtbot):
    """Two selected squares far apart: only the tiles on them run, the rest of their bounding box is nodata."""
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer

    polygons = QgsVectorLayer("Polygon?crs=EPSG:32633", "aoi", "memory")
    features = []
    for x0, y0 in ((344400, 5290800), (345600, 5293200)):  # lower-left corners of two 1.2 km patches
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(x0, y0, x0 + 1200, y0 + 1200)))
        features.append(feature)
    polygons.dataProvider().addFeatures(features)
    QgsProject.instance().addMapLayer(polygons)
    polygons.selectAll()
    dock.extent_combo.setCurrentIndex(dock.extent_combo.findData("selection"))
    dock.run()
    wait_for_task(qtbot, dock)
    summary = dock.last_result.summary
    assert (summary.tiles_total, summary.tiles_run) == (6, 2)  # bbox: 2 × 3 patches
    labels = gdal.Open(str(dock.last_result.outputs["labels"])).ReadAsArray()[0]
    nodata = 0xFFFFFFFF
    assert labels.shape == (3, 2)
    assert labels[2, 0] != nodata and labels[0, 1] != nodata  # the two squares
    assert (labels == nodata).sum() == 4


def test_without_onnxruntime_the_dock_offers_the_install(qgis_iface, qtbot, clean_settings, monkeypatch):
    from mosaic.plugin import deps

    monkeypatch.setattr(deps, "onnxruntime_available", lambda: False)
    monkeypatch.setattr(deps, "available_providers", lambda: [])
    bar = qgis_iface.messageBar()
    plugin = start_plugin(qgis_iface)
    try:
        widget = open_dock(qgis_iface)
        assert widget.deps_box.isVisibleTo(widget) and widget.install_button.isEnabled()
        assert not widget.run_button.isEnabled()
        assert [i.text() for i in bar.items() if "onnxruntime is missing" in i.text()] != []
        monkeypatch.undo()  # installed: the box, the warning and the disabled Run go
        widget.refresh_dependencies()
        assert not widget.deps_box.isVisibleTo(widget) and widget.run_button.isEnabled()
        assert [i.text() for i in bar.items() if "onnxruntime is missing" in i.text()] == []
    finally:
        plugin.unload()


def test_closing_the_project_mid_run_cancels_it(dock, qtbot, tmp_path):
    dock.stride.setValue(20)
    dock.batch_size.setValue(2)
    task = dock.run()
    qtbot.waitUntil(lambda: task.progress() > 0, timeout=60_000)
    QgsProject.instance().clear()
    wait_for_task(qtbot, dock)
    assert dock.last_result is None and "cancelled" in dock.last_error
    out = tmp_path / "out"
    assert not out.exists() or list(out.rglob("*")) == []


def test_unloading_the_plugin_mid_run(qgis_iface, qtbot, clean_settings, t33uup_layers, test_model, tmp_path):
    plugin = start_plugin(qgis_iface)
    dock = open_dock(qgis_iface)
    dock.s2_combo.setLayer(t33uup_layers["B02"])
    dock.s1_combo.setLayer(t33uup_layers["VV"])
    dock.set_model_path(str(test_model))
    dock.output_dir.setFilePath(str(tmp_path / "out"))
    dock.stride.setValue(20)
    dock.batch_size.setValue(2)
    task = dock.run()
    qtbot.waitUntil(lambda: task.progress() > 0, timeout=60_000)
    plugin.unload()
    assert plugin.dock is None
    assert task.status() in (task.TaskStatus.Terminated, task.TaskStatus.Complete)
    QgsApplication.processEvents()
    out = tmp_path / "out"
    assert not out.exists() or list(out.rglob("*")) == []


def test_model_panel_shows_the_precision_and_its_metrics_next_to_fp32(qgis_app):
    from qgis.PyQt.QtGui import QTextDocument

    from mosaic.backend.export.metadata import build_metadata
    from mosaic.backend.inference.metadata import parse_metadata
    from mosaic.plugin.model_card import details_html

    parts = {"class_names": list(BEN19_CLASSES), "strategy": "mosaic1", "training": {"dataset": "x", "licence": "y"}}
    d = build_metadata(parts)
    doc = QTextDocument()
    doc.setHtml(details_html(parse_metadata(d)))
    assert "Precision: fp32" in doc.toPlainText()  # a file without the field is the fp32 graph
    d["precision"] = {
        "dtype": "int8",
        "calibration": {"split": "validation", "patches": 6},
        "metrics": {"test/ap_macro": 0.6573},
        "fp32_metrics": {"test/ap_macro": 0.6532},
    }
    doc.setHtml(details_html(parse_metadata(d)))
    assert "Precision: int8 · test/ap_macro = 0.657 (fp32 0.653)" in doc.toPlainText()


def test_model_panel_shows_the_heads_and_their_metrics(qgis_app):
    from qgis.PyQt.QtGui import QTextDocument

    from mosaic.backend.export.metadata import build_metadata
    from mosaic.backend.inference.metadata import parse_metadata
    from mosaic.plugin.model_card import details_html, summary_html

    parts = {
        "class_names": list(BEN19_CLASSES),
        "strategy": "mosaic1",
        "training": {"dataset": "x", "licence": "y"},
        "thresholds": [0.4] * 19,
        "metrics": {"test/ap_macro": 0.6512, "cloudy/ap_macro": 0.5034},
        "heads": {
            "s1": {"thresholds": [0.3] * 19, "metrics": {"test/ap_macro": 0.4123, "cloudy/ap_macro": 0.4456}},
            "s2": {"thresholds": [0.5] * 19, "metrics": {"test/ap_macro": 0.6001}},
        },
    }
    meta = parse_metadata(build_metadata(parts))
    doc = QTextDocument()
    doc.setHtml(details_html(meta))
    assert (
        "Heads: S1+S2 (test AP 0.651, AP on snow/cloud/shadow patches 0.503), S1-only (test AP 0.412, AP on "
        "snow/cloud/shadow patches 0.446), S2-only (test AP 0.600)"
    ) in doc.toPlainText()
    # the summary's figure says which head and split it is, with the other heads' beside it (a dialog's evaluate
    # log ends with the S2-only head on the snow/cloud/shadow patches: another number, issue 23's 0.596 vs 0.7206)
    summary = plain_text(summary_html(meta))
    assert summary.splitlines()[2:] == [
        "Heads: S1+S2 (clear tiles), S1-only (under clouds), S2-only (where S1 is missing)",
        "Accuracy: macro average precision 0.651 on its test split (S1+S2 head; S1-only head 0.412, S2-only head "
        "0.600)",
    ]


def predict_cli(args: list[str], out) -> None:
    """``mosaic predict ARGS --out OUT`` in a subprocess (the reference the dock's files must equal)."""
    cmd = [sys.executable, "-m", "mosaic.backend.cli", "predict", *args, "--out", str(out), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_one_modality_runs_from_the_dock(dock, qtbot, heads_test_model, t33uup_mosaic, tmp_path):
    """S1 picker emptied: every tile from the S2-only head (labels band 3 = 3), the files equal to `mosaic predict
    --s2` alone; S2 picker emptied: the S1-only head (2), equal to `mosaic predict --s1` alone."""
    dock.set_model_path(str(heads_test_model))
    files = band_files(t33uup_mosaic)
    for emptied, kept, code in ((dock.s1_combo, "--s2", 3), (dock.s2_combo, "--s1", 2)):
        layer = emptied.currentLayer()
        emptied.setLayer(None)
        shown = {m for m, _ in dock.mapping()}
        assert shown == {"S2"} if kept == "--s2" else shown == {"S1"}
        assert dock.run() is not None
        wait_for_task(qtbot, dock)
        assert dock.last_error == "", dock.last_error
        labels = gdal.Open(str(dock.last_result.outputs["labels"]))
        source = labels.GetRasterBand(3).ReadAsArray()
        assert set(np.unique(source)) - {0, LABEL_NODATA} == {code}  # every classified cell from that head
        bands = [b for b in files if (b in ("VV", "VH")) == (kept == "--s1")]
        out = tmp_path / f"predict{kept}"
        predict_cli([kept, *(str(files[b]) for b in bands), "--model", str(heads_test_model)], out)
        for product in ("labels", "probabilities"):
            ours = gdal.Open(str(dock.last_result.outputs[product])).ReadAsArray()
            theirs = gdal.Open(str(out / f"{product}.tif")).ReadAsArray()
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
        emptied.setLayer(layer)


def test_a_model_without_the_head_is_refused_for_a_one_modality_run(dock, qgis_iface):
    """The fused-only test model with the S1 picker emptied: one message bar line, nothing run."""
    dock.s1_combo.setLayer(None)
    qgis_iface.messageBar().clear_messages()
    assert dock.run() is None
    critical = qgis_iface.messageBar().get_messages(2)
    assert (
        len(critical) == 1
        and "has no S2-only head" in critical[0]
        and "give the Sentinel-1 bands as well" in critical[0]
    )


def test_the_major_tom_scene_without_radar_from_the_dock(
    qgis_iface, qtbot, clean_settings, shared_data, heads_test_model, tmp_path
):
    """An analyst's Sentinel-2 scene without Sentinel-1 (Major-TOM, Thailand): its 12 band files and cloud_mask.tif
    loaded, the dock offers B02 and no S1 layer and picks the cloud mask beside the bands; the run classifies every
    tile with the S2-only head."""
    scene = next((shared_data / "major-tom-core-s2l2a").glob("*/*/S2*"))
    project = QgsProject.instance()
    project.clear()
    for path in sorted(scene.glob("*.tif")):
        project.addMapLayer(QgsRasterLayer(str(path), path.stem, "gdal"))
    plugin = start_plugin(qgis_iface)
    try:
        dock = open_dock(qgis_iface)
        dock.set_model_path(str(heads_test_model))
        dock.output_dir.setFilePath(str(tmp_path / "out"))
        assert dock.s2_combo.currentLayer().name() == "B02" and dock.s1_combo.currentLayer() is None
        assert dock.cloud_combo.currentLayer().name() == "cloud_mask"
        assert {m for m, _ in dock.mapping()} == {"S2"} and dock.mapping_warning.text() == ""
        assert dock.run() is not None
        wait_for_task(qtbot, dock)
        assert dock.last_error == "", dock.last_error
        labels = gdal.Open(str(dock.last_result.outputs["labels"]))  # kept: a band outliving its dataset crashes
        source = labels.GetRasterBand(3).ReadAsArray()
        assert set(np.unique(source)) - {0, LABEL_NODATA} == {3}
    finally:
        plugin.unload()
        project.clear()

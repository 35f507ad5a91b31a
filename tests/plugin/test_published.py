"""*Get a published model…* in real QGIS, as an analyst uses it: the dock's button, the catalogue, *Get* (download
and import in the backend Python, against the local hub stand-in), the model in the dock with its published card;
*Cancel* and resume; offline; no backend Python."""

from __future__ import annotations

import socket

from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QLabel, QMessageBox, QPushButton, QTableWidget

from mosaic.backend.published.download import part_path
from mosaic.plugin import settings

from .conftest import PUBLISHED_IDS, PUBLISHED_MODEL
from .plugin_actions import open_dock, start_plugin, top_level
from .test_dock import plain_text


def open_published(qgis_iface):
    """The dock through its toolbar action, then its *Get a published model…* button; the dialog as a user sees it."""
    dock = open_dock(qgis_iface)
    dock.findChild(QPushButton, "mosaicPublishedButton").click()
    return dock, top_level("mosaicPublishedDialog")


def table_rows(dialog) -> list[list[str]]:
    table = dialog.findChild(QTableWidget, "mosaicPublishedTable")
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def click(dialog, name: str) -> None:
    dialog.findChild(QPushButton, name).click()


def test_get_a_published_model_from_the_dock(qgis_iface, qtbot, published_setup, published_hub, t33uup_layers):
    plugin = start_plugin(qgis_iface)
    try:
        dock, dialog = open_published(qgis_iface)
        rows = table_rows(dialog)
        assert rows[0] == [PUBLISHED_MODEL, "S1+S2, S1, S2", rows[0][2], "0.600", "MIT", ""]
        assert (
            [r[0] for r in rows[1:]] == list(PUBLISHED_IDS) and rows[2][1:2] == ["S1"] and rows[2][3] == "not recorded"
        )
        size = sum(len(published_hub.files[f"{m}/model.safetensors"]) for m in PUBLISHED_IDS) / 1e6
        assert rows[0][2] == f"{size:,.0f} MB"
        assert dialog.selected_name() == PUBLISHED_MODEL  # the three-head model is offered first
        info = plain_text(dialog.findChild(QLabel, "mosaicPublishedInfo").text())
        assert "S1-only head: tiles under the cloud layer you give" in info and "licence MIT" in info
        assert not dialog.findChild(QLabel, "mosaicPublishedBackendNote").isVisibleTo(dialog)  # the venv is set

        progress = []
        dialog.progress.valueChanged.connect(progress.append)
        qgis_iface.messageBar().clear_messages()
        click(dialog, "mosaicPublishedGetButton")
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=300_000)
        model = published_setup / "onnx" / f"{PUBLISHED_MODEL}.onnx"
        assert dialog.failed_message == "" and dialog.model_path == str(model) and model.is_file()
        assert progress == sorted(progress) and progress[-1] == 100 and any(0 < p < 90 for p in progress)
        assert any(p >= 92 for p in progress[:-1])  # the import's stages
        # the model is the dock's, its card states the published figures as published, the heads, the licence
        assert dock.model_file.filePath() == str(model) and dock.metadata.heads == ("fused", "s1", "s2")
        summary = plain_text(dock.model_panel.model_info.text())
        assert "Heads: S1+S2 (clear tiles), S1-only (under clouds), S2-only (where S1 is missing)" in summary
        assert (
            "Accuracy: published macro average precision 0.600 on the BigEarthNet v2.0 test split (S1+S2 head), as "
            "reported by the model's authors, not measured by MoSAiC"
        ) in summary
        assert summary.endswith(
            "Source: published by the BigEarthNet v2.0 team (BIFOLD, TU Berlin): resnet18-all-v0.2.0, "
            "resnet18-s1-v0.2.0, resnet18-s2-v0.2.0; licence MIT"
        )
        assert f"Published model ready: {model}" in " ".join(qgis_iface.messageBar().get_messages(3))
        assert table_rows(dialog)[0][5] == "yes"  # downloaded now
        # the imported model's bands are found among the T33UUP layers like any model's: ready to run
        mapping = dock.mapping()
        assert list(mapping)[-2:] == [("S1", "VV"), ("S1", "VH")] and None not in mapping.values()

        requests = len(published_hub.requests)
        dock.set_model_path("")
        click(dialog, "mosaicPublishedGetButton")  # got already: kept, nothing downloaded again
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=120_000)
        assert len(published_hub.requests) == requests and dock.model_file.filePath() == str(model)
    finally:
        plugin.unload()


def test_cancel_keeps_the_download_and_get_resumes_it(qgis_iface, qtbot, published_setup, published_hub):
    plugin = start_plugin(qgis_iface)
    weights = published_setup / PUBLISHED_IDS[1] / "main" / "model.safetensors"
    try:
        dock, dialog = open_published(qgis_iface)
        dialog.select(PUBLISHED_IDS[1])  # the S1-only checkpoint
        published_hub.delay_s = 0.02
        click(dialog, "mosaicPublishedGetButton")
        qtbot.waitUntil(
            lambda: part_path(weights).is_file() and part_path(weights).stat().st_size > 1 << 20, timeout=60_000
        )
        click(dialog, "mosaicPublishedCancelButton")
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
        published_hub.delay_s = 0.0
        status = dialog.findChild(QLabel, "mosaicPublishedStatus").text()
        assert status == f"Cancelled. What was downloaded so far stays in {published_setup}; Get resumes from there."
        kept = part_path(weights).stat().st_size
        assert kept > 1 << 20 and not weights.exists() and dialog.model_path == ""
        assert dock.metadata is None  # no model was handed over

        click(dialog, "mosaicPublishedGetButton")
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=300_000)
        assert dialog.failed_message == ""
        assert (f"/blobs/{PUBLISHED_IDS[1]}/model.safetensors", f"bytes={kept}-") in published_hub.requests
        assert weights.read_bytes() == published_hub.files[f"{PUBLISHED_IDS[1]}/model.safetensors"]
        assert dock.metadata is not None and dock.metadata.heads == ("fused",)  # the S1 checkpoint: one head
        assert "Expects: Sentinel-1 VV+VH in dB at 10 m" in plain_text(dock.model_panel.model_info.text())
    finally:
        published_hub.delay_s = 0.0
        plugin.unload()


def test_closing_the_dialog_leaves_get_running_and_the_model_reaches_the_dock(
    qgis_iface, qtbot, published_setup, published_hub
):
    plugin = start_plugin(qgis_iface)
    try:
        dock, dialog = open_published(qgis_iface)
        dialog.select(PUBLISHED_IDS[2])  # the S2-only checkpoint
        published_hub.delay_s = 0.01
        qgis_iface.messageBar().clear_messages()
        click(dialog, "mosaicPublishedGetButton")
        dialog.close()
        assert dialog.is_running()
        assert any("goes on in the background" in m for m in qgis_iface.messageBar().get_messages(0))  # Info
        published_hub.delay_s = 0.0
        qtbot.waitUntil(lambda: dock.metadata is not None, timeout=300_000)
        assert dock.model_file.filePath() == str(published_setup / "onnx" / f"{PUBLISHED_IDS[2]}.onnx")
        dock.findChild(QPushButton, "mosaicPublishedButton").click()  # the same dialog again, with the outcome
        assert top_level("mosaicPublishedDialog") is dialog and dialog.progress.value() == 100
    finally:
        published_hub.delay_s = 0.0
        plugin.unload()


def test_offline_names_the_files_to_fetch_and_the_import_command(
    qgis_iface, qtbot, published_setup, published_hub, tmp_path
):
    with socket.socket() as s:  # a port nobody listens on: offline, or blocked by a firewall
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    settings.set_value("published/catalogue", str(published_hub.catalogue(tmp_path / "offline.json", base_url=closed)))
    plugin = start_plugin(qgis_iface)
    try:
        dock, dialog = open_published(qgis_iface)
        qgis_iface.messageBar().clear_messages()
        click(dialog, "mosaicPublishedGetButton")
        qtbot.waitUntil(lambda: not dialog.is_running() and bool(dialog.failed_message), timeout=120_000)
        message = dialog.failed_message
        assert message.startswith(f"cannot download {PUBLISHED_MODEL}: cannot reach") and "\n" not in message
        for model_id in PUBLISHED_IDS:
            for file in ("config.json", "model.safetensors"):
                assert f"{closed}/test-org/{model_id}/resolve/main/{file}" in message
        assert message.endswith(f"then run: mosaic import reben {' '.join(PUBLISHED_IDS)} -o {PUBLISHED_MODEL}.onnx")
        assert dialog.findChild(QLabel, "mosaicPublishedStatus").text() == message
        assert qgis_iface.messageBar().get_messages(2) == [f"MoSAiC:{message}"]  # Critical
        assert dock.metadata is None
    finally:
        plugin.unload()


def test_without_a_backend_python_it_says_what_it_takes_and_downloads_nothing(
    qgis_iface, qtbot, published_setup, published_hub
):
    settings.set_value("backend_python", "")
    plugin = start_plugin(qgis_iface)
    try:
        _dock, dialog = open_published(qgis_iface)
        note = dialog.findChild(QLabel, "mosaicPublishedBackendNote")
        assert note.isVisibleTo(dialog) and dialog.findChild(QPushButton, "mosaicPublishedCreateEnvButton").isVisibleTo(
            dialog
        )
        assert "needs PyTorch, which QGIS does not have" in note.text()
        assert "downloads about 3 GB" in note.text() and "minutes" in note.text()
        assert "Nothing is downloaded until it exists." in note.text()
        asked = []

        def answer_no() -> None:
            box = top_level("mosaicCreateEnvQuestion")
            asked.append(box.text())
            box.button(QMessageBox.StandardButton.No).click()

        requests = len(published_hub.requests)
        QTimer.singleShot(200, answer_no)
        click(dialog, "mosaicPublishedGetButton")  # Get asks to create it first
        assert len(asked) == 1 and asked[0].startswith(
            "Converting the published weights into a MoSAiC model needs PyTorch, which QGIS does not have. This "
            "creates a separate Python environment in "
        )
        assert "downloads about 3 GB" in asked[0]
        assert not dialog.is_running() and len(published_hub.requests) == requests  # nothing fetched
        assert not published_setup.exists()
    finally:
        plugin.unload()

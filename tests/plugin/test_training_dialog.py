"""Training dialog, backend environment commands, progress stream and the live plot."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtGui import QImage
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
)

from mosaic.plugin import backend_env
from mosaic.plugin.dock import DOCK_WIDTH_PX
from mosaic.plugin.loss_plot import LossPlot
from mosaic.plugin.progress_stream import parse_line, percent
from mosaic.plugin.training_dialog import in_dialog_words

from .conftest import PUBLISHED_IDS, PUBLISHED_MODEL
from .plugin_actions import open_training_dialog, start_plugin, top_level
from .qgis_env import qgis_env
from .screenshots import screenshot_path, show_neutral_paths

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data" / "bigearthnet-v2"  #: the bundled sample (6 train, 6 validation, 6 test patches)


def test_progress_stream_events_from_the_contract():
    step = parse_line('{"event": "step", "step": 5, "epoch": 0, "total_steps": 30, "loss": 4.21}')
    assert step["loss"] == 4.21 and percent(step) == pytest.approx(100 * 5 / 30)
    assert percent(parse_line('{"event": "done", "best_checkpoint": "a.ckpt", "last_checkpoint": "b.ckpt"}')) == 100
    assert parse_line("Epoch 0: 100%|#####| 10/10") is None
    assert parse_line('{"not": "an event"}') is None
    assert parse_line("{broken json") is None


def test_backend_env_commands_use_pinned_constraints(tmp_path):
    commands = backend_env.create_env_commands(tmp_path / "env", "/usr/bin/python3")
    assert commands[0] == ["/usr/bin/python3", "-m", "venv", str(tmp_path / "env")]
    install = commands[2]
    assert [install[i + 1] for i, a in enumerate(install) if a == "-c"] == [
        str(REPO / "requirements" / "constraints.txt"),
        str(REPO / "requirements" / "numpy2.txt"),
    ]
    assert install[-1] == f"{REPO}[backend]" and install[-2] == "-e"
    assert commands[3][-3:] == ["-m", "mosaic.backend.cli", "version"]
    argv = backend_env.train_command("py", Path("configs/mosaic1.yaml"), "/d", 0.1, 1, 4, "cpu", "resnet18", 0)
    assert argv[:6] == ["py", "-m", "mosaic.backend.cli", "train", "--config", "configs/mosaic1.yaml"]
    assert "--progress-jsonl" in argv and "--protocol.epochs=1" in argv
    assert "--model.backbone=resnet18" in argv and "--data.num_workers=0" in argv


def test_dataset_overrides_find_the_packed_lmdb(ben_v2):
    lmdb = ben_v2 / "BigEarthNet-V2-LMDB"
    expected = [f"--data.root={ben_v2}", f"--data.options.lmdb_path={lmdb}"]
    assert backend_env.dataset_overrides(str(ben_v2)) == expected  # the dataset folder
    assert backend_env.dataset_overrides(str(lmdb)) == expected  # or the LMDB folder itself
    assert backend_env.dataset_overrides("/no/such/folder") == ["--data.root=/no/such/folder"]


def test_backend_python_runs_mosaic_version(qgis_app):
    """The command the dialog uses to check an environment works with the project's venv as backend."""
    import subprocess

    done = subprocess.run(
        backend_env.backend_command(sys.executable, "version"),
        capture_output=True,
        text=True,
        env=backend_env.subprocess_environment(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "mosaic" in done.stdout.lower()


def test_loss_plot_draws_series(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(320, 160)
    for step, loss in enumerate([4.0, 3.1, 2.5, 2.2, 2.0]):
        plot.add_point("loss", step, loss)
    plot.add_point("val/ap_macro", 4, 0.41)
    plot.add_point("loss", 5, float("nan"))  # skipped
    assert len(plot.series["loss"]) == 5
    image = plot.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    blue = sum(
        1
        for x in range(0, image.width(), 2)
        for y in range(0, image.height(), 2)
        if QImage(image).pixelColor(x, y).name() == "#1f77b4"
    )
    assert blue > 10  # the loss line is drawn


def test_dialog_refuses_to_start_without_backend_python(qgis_iface, plugin, tmp_path):
    dialog = open_training_dialog(qgis_iface)
    dialog.python.setFilePath(str(tmp_path / "missing-python"))
    dialog.dataset.setFilePath(str(tmp_path))
    dialog.start_training()
    assert not dialog.is_running()
    assert 'Choose the "Backend Python"' in dialog.failed_message
    dialog.python.setFilePath(sys.executable)
    dialog.dataset.setFilePath(str(tmp_path / "no-such-dataset"))
    dialog.start_training()
    assert dialog.failed_message.startswith('Choose a "Dataset" folder') and not dialog.is_running()


@pytest.fixture()
def plugin(qgis_iface, clean_settings):
    """The plugin loaded as QGIS loads it; unloaded afterwards."""
    plugin = start_plugin(qgis_iface)
    yield plugin
    plugin.unload()


def fill_short_run(dialog, dataset: Path, run_dir: Path, epochs: int, batch: int = 4) -> None:
    """The form as an analyst fills it for a tiny real run: MoSAiC-1, ResNet-18, batch 4, CPU, no loader workers."""
    dialog.findChild(QgsFileWidget, "mosaicBackendPython").setFilePath(sys.executable)
    dialog.findChild(QgsFileWidget, "mosaicTrainDataset").setFilePath(str(dataset))
    strategy = dialog.findChild(QComboBox, "mosaicTrainStrategy")
    strategy.setCurrentIndex(strategy.findData("mosaic1"))
    dialog.findChild(QSpinBox, "mosaicTrainEpochs").setValue(epochs)
    dialog.findChild(QSpinBox, "mosaicTrainBatchSize").setValue(batch)
    device = dialog.findChild(QComboBox, "mosaicTrainDevice")
    device.setCurrentIndex(device.findText("cpu"))
    backbone = dialog.findChild(QComboBox, "mosaicTrainBackbone")
    backbone.setCurrentIndex(backbone.findData("resnet18"))
    dialog.findChild(QSpinBox, "mosaicTrainWorkers").setValue(0)
    dialog.findChild(QgsFileWidget, "mosaicTrainRunFolder").setFilePath(str(run_dir))


def test_strategies_in_plain_words_and_all_labels_by_default(qgis_iface, plugin):
    dialog = open_training_dialog(qgis_iface)
    strategy = dialog.findChild(QComboBox, "mosaicTrainStrategy")
    texts = [strategy.itemText(i) for i in range(strategy.count())]
    assert texts[0] == (
        "MoSAiC-1: learns from your labels and from the images themselves, S1+S2 (recommended) (mosaic1)"
    )
    assert sorted(strategy.itemData(i) for i in range(strategy.count())) == sorted(backend_env.strategy_configs())
    assert all(text != strategy.itemData(i) for i, text in enumerate(texts))  # every strategy has plain words
    assert dialog.findChild(QDoubleSpinBox, "mosaicTrainLabelFraction").value() == 1.0
    assert "metadata.parquet" in dialog.findChild(QLabel, "mosaicDatasetInfo").text()


def test_batch_larger_than_the_dataset_is_refused_before_training(qgis_iface, plugin, qtbot, tmp_path):
    """The bundled sample's 6 training patches and the default batch of 32: refused in the dialog's words after the
    dataset check (about a second), before any training starts."""
    dialog = open_training_dialog(qgis_iface)
    fill_short_run(dialog, SAMPLE, tmp_path / "runs", epochs=1)
    dialog.findChild(QSpinBox, "mosaicTrainBatchSize").setValue(32)
    dialog.findChild(QPushButton, "mosaicTrainButton").click()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    assert dialog.failed_message == (
        '"Batch size" 32 is larger than the 6 training patches "Label fraction" 1 keeps (of 6): '
        'lower "Batch size" to 6 or less.'
    )
    assert dialog.findChild(QLabel, "mosaicDatasetInfo").text() == "6 training, 6 validation and 6 test patches"
    assert not (tmp_path / "runs" / "runs").exists()  # no training was started
    dialog.findChild(QDoubleSpinBox, "mosaicTrainLabelFraction").setValue(0.1)
    dialog.findChild(QSpinBox, "mosaicTrainBatchSize").setValue(4)
    dialog.findChild(QPushButton, "mosaicTrainButton").click()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    assert dialog.failed_message.endswith('lower "Batch size" to 1 or less or raise "Label fraction".')


def test_a_folder_without_metadata_is_refused_naming_the_field(qgis_iface, plugin, tmp_path):
    (tmp_path / "not-a-dataset").mkdir()
    dialog = open_training_dialog(qgis_iface)
    fill_short_run(dialog, tmp_path / "not-a-dataset", tmp_path / "runs", epochs=1)
    qgis_iface.messageBar().clear_messages()
    dialog.findChild(QPushButton, "mosaicTrainButton").click()
    expected = (
        f'"Dataset": {tmp_path / "not-a-dataset"} has no metadata.parquet; choose a BigEarthNet v2 folder or one '
        "made with Prepare…."
    )
    assert dialog.failed_message == expected and not dialog.is_running()
    assert qgis_iface.messageBar().get_messages(2) == [f"MoSAiC training:{expected}"]  # Critical


def test_backend_messages_name_the_dialog_fields():
    message = (
        "the train split has 6 patches (protocol.label_fraction=1 of its labels), fewer than protocol.batch_size=32: "
        "lower the batch size or raise the label fraction"
    )
    assert in_dialog_words(message) == (
        'the train split has 6 patches ("Label fraction"=1 of its labels), fewer than "Batch size"=32: '
        "lower the batch size or raise the label fraction"
    )
    assert in_dialog_words("no metadata.parquet at /d: point root at a BigEarthNet v2 dataset folder") == (
        'no metadata.parquet at /d: choose as "Dataset" a BigEarthNet v2 dataset folder'
    )


def test_create_states_size_and_time_before_anything_runs(qgis_iface, plugin, qtbot):
    dialog = open_training_dialog(qgis_iface)
    seen = []

    def answer_no() -> None:
        box = top_level("mosaicCreateEnvQuestion")
        seen.append(box.text())
        box.button(QMessageBox.StandardButton.No).click()

    QTimer.singleShot(200, answer_no)
    assert dialog.findChild(QPushButton, "mosaicCreateEnvButton").isEnabled()
    assert dialog.create_backend_env() is None  # the analyst said no: nothing created
    assert len(seen) == 1 and "downloads about 3 GB" in seen[0] and "minutes" in seen[0]
    assert dialog.env_dialog is None


def test_real_qgis_desktop_trains_from_the_menu(tmp_path):
    """QGIS 3.22's desktop under Xvfb (tests/plugin/qgis_training_probe.py): Raster ▸ MoSAiC Land Cover ▸ Train…, the
    dialog alive after a garbage collection, Prepare… opens Processing's builder, Train on the bundled sample, the
    exported model in the dock, which opens wide enough for Run, Cancel, the model's browse button and the status."""
    env = qgis_env(tmp_path)
    env.pop("QT_QPA_PLATFORM")  # the desktop needs a (virtual) X display
    out = tmp_path / "probe.json"
    env.update(
        MOSAIC_PROBE_OUT=str(out),
        MOSAIC_PROBE_PYTHON=sys.executable,
        MOSAIC_PROBE_DATASET=str(SAMPLE),
        MOSAIC_PROBE_RUNS=str(tmp_path / "runs"),
    )
    probe = str(Path(__file__).with_name("qgis_training_probe.py"))
    screen = ["-s", "-screen 0 1600x1000x24"]
    qgis = ["qgis", "--nologo", "--noversioncheck", "--noplugins", "--profiles-path", str(tmp_path / "profiles")]
    result = subprocess.run(
        ["xvfb-run", "-a", *screen, *qgis, "--code", probe], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.exists(), result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert "error" not in report, report.get("error")
    assert report["failed"] is None, report["log_tail"]
    assert report["dialog_class"] == "TrainingDialog" and report["prepare_algorithm"] == "mosaic:prepare"
    assert report["strategy_text"].startswith("MoSAiC-1: ") and report["strategy_text"].endswith("(mosaic1)")
    assert report["strategy"] == "mosaic1" and report["classes"] == 19 and 0 < report["accuracy"] <= 1
    model = Path(report["model"])
    assert model.parent == tmp_path / "runs" and re.fullmatch(r"mosaic1_[\d-]+_\d{4}\.onnx", model.name)
    assert report["noise_in_log"] == []
    dock = report["dock"]
    assert dock["width"] >= min(DOCK_WIDTH_PX, dock["room"]) and all(dock["inside"].values()), dock


def test_trained_from_the_menu_the_model_reaches_the_dock(qgis_iface, plugin, qtbot, ben_v2, tmp_path):
    """Raster ▸ MoSAiC Land Cover ▸ Train…, Train on the bundled sample: a model named after the run, in the dock."""
    dialog = open_training_dialog(qgis_iface)
    fill_short_run(dialog, ben_v2, tmp_path / "runs", epochs=2, batch=2)  # 3 steps an epoch: a loss curve to show
    dialog.findChild(QPushButton, "mosaicTrainButton").click()
    qtbot.waitUntil(lambda: plugin.dock is not None and plugin.dock.metadata is not None, timeout=600_000)
    dock = plugin.dock
    onnx_path = Path(dock.model_file.filePath())
    assert re.fullmatch(r"mosaic1_\d{4}-\d{2}-\d{2}_\d{4}\.onnx", onnx_path.name)
    assert onnx_path.parent == tmp_path / "runs" and onnx_path.is_file()
    assert dock.metadata.strategy == "mosaic1" and len(dock.metadata.class_names) == 19
    # evaluated on the test split before the export: tuned thresholds, and the dock's one accuracy figure
    assert dock.metadata.thresholds_tuned and 0 < dock.metadata.metrics["test/ap_macro"] <= 1
    assert (onnx_path.parent / f"{onnx_path.stem}_evaluation" / "metrics.json").is_file()
    # which figure is which: the dock's is the fused head's on the test split, named so in the log (the evaluate
    # output before it ends with the S2-only head on the snow/cloud/shadow patches)
    fused, s1, s2 = dialog.accuracy
    assert fused.startswith(f"Fused head: macro AP {dock.metadata.metrics['test/ap_macro']:.4f} on the test split")
    assert s1.startswith("S1-only head: macro AP") and s2.startswith("S2-only head: macro AP")
    assert s2.endswith(f"; {dock.metadata.metrics_for('s2')['cloudy/ap_macro']:.4f} on its 6 snow/cloud/shadow patches")
    assert "Accuracy: macro average precision" in dock.model_panel.model_info.text().replace("<b>", "").replace(
        "</b>", ""
    )
    assert dialog.plot.series["loss"] and dialog.progress.value() == 100
    log = dialog.findChild(QPlainTextEdit, "mosaicTrainLog")
    text = log.toPlainText()
    assert "Tip:" not in text and "deprecated" not in text and "\N{ELECTRIC LIGHT BULB}" not in text
    assert "epoch 0:" in text

    show_neutral_paths(
        dialog, {ben_v2.parent: "~/data", tmp_path: "~", Path(sys.prefix): "~/mosaic-venv", REPO: "~/mosaic"}
    )
    log.verticalScrollBar().setValue(log.verticalScrollBar().maximum())  # the log's end: the accuracy per head
    dialog.resize(820, 760)
    qtbot.waitExposed(dialog)
    shot = dialog.grab()
    assert shot.save(str(screenshot_path("plugin_training.png", tmp_path)))  # README screenshot
    assert shot.toImage().pixelColor(0, 0).isValid()


def test_trained_from_a_published_model_from_the_menu(
    qgis_iface, plugin, qtbot, ben_v2, tmp_path, published_setup, published_hub
):
    """Start from a published model (the local hub stand-in's ResNet-18 three-head model): the dialog fetches the
    S1-only and S2-only checkpoints MoSAiC-1's encoders start from (not the S1+S2 one), trains from them with their
    backbone, evaluates and exports; the model reaches the dock."""
    import yaml

    dialog = open_training_dialog(qgis_iface)
    fill_short_run(dialog, ben_v2, tmp_path / "runs", epochs=1, batch=4)
    start_from = dialog.findChild(QComboBox, "mosaicTrainStartFrom")
    assert start_from.itemText(0) == "Random weights (as the strategy)"
    assert [start_from.itemData(i) for i in range(start_from.count())] == ["", PUBLISHED_MODEL]
    start_from.setCurrentIndex(1)
    backbone = dialog.findChild(QComboBox, "mosaicTrainBackbone")
    assert backbone.currentData() == "resnet18" and not backbone.isEnabled()  # the checkpoints' architecture
    dialog.findChild(QPushButton, "mosaicTrainButton").click()
    qtbot.waitUntil(lambda: plugin.dock is not None and plugin.dock.metadata is not None, timeout=600_000)

    folders = [str(published_setup / m / "main") for m in PUBLISHED_IDS[1:]]  # S1-only, S2-only
    log = dialog.findChild(QPlainTextEdit, "mosaicTrainLog").toPlainText()
    assert f"Encoders start from: {', '.join(folders)}" in log
    fetched = {path for path, _range in published_hub.requests if path.startswith("/blobs/")}
    assert fetched == {f"/blobs/{m}/{f}" for m in PUBLISHED_IDS[1:] for f in ("config.json", "model.safetensors")}
    config = yaml.safe_load(next((tmp_path / "runs" / "runs").rglob("config.yaml")).read_text())
    assert config["model"]["init_published"] == folders and config["model"]["backbone"] == "resnet18"
    dock = plugin.dock
    assert Path(dock.model_file.filePath()).parent == tmp_path / "runs" and dock.metadata.strategy == "mosaic1"
    assert dialog.accuracy[0].startswith(
        f"Fused head: macro AP {dock.metadata.metrics['test/ap_macro']:.4f} on the test split (6 patches)"
    )
    assert dialog.status.text().endswith(f"{dialog.accuracy[0]}.")


def test_cancel_stops_training_and_keeps_a_checkpoint(qgis_iface, plugin, qtbot, ben_v2, tmp_path):
    dialog = open_training_dialog(qgis_iface)
    fill_short_run(dialog, ben_v2, tmp_path / "runs", epochs=50)
    dialog.findChild(QPushButton, "mosaicTrainButton").click()
    qtbot.waitUntil(lambda: bool(dialog.plot.series.get("loss")), timeout=300_000)  # training has started
    dialog.findChild(QPushButton, "mosaicTrainCancelButton").click()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=120_000)
    assert dialog.status.text().startswith("Cancelled")
    assert dialog.last_checkpoint and Path(dialog.last_checkpoint).is_file()
    assert Path(dialog.last_checkpoint).is_relative_to(tmp_path / "runs")
    assert dialog.onnx_path == ""  # no export after a cancel


def test_backend_error_shows_its_one_line_in_the_message_bar(qgis_iface, plugin, qtbot, ben_v2, tmp_path):
    """A backend refusal (an unknown backbone) reaches the user as its one line, in the dialog's words."""
    dialog = open_training_dialog(qgis_iface)
    fill_short_run(dialog, ben_v2, tmp_path / "runs", epochs=1)
    dialog.backbone.addItem("no_such_net", "no_such_net")
    dialog.backbone.setCurrentIndex(dialog.backbone.count() - 1)
    qgis_iface.messageBar().clear_messages()
    dialog.findChild(QPushButton, "mosaicTrainButton").click()
    qtbot.waitUntil(
        lambda: not dialog.is_running() and dialog._stage == "idle" and bool(dialog.failed_message), timeout=300_000
    )
    assert dialog.failed_message.startswith("unknown backbone 'no_such_net'; choose a timm model such as resnet18")
    assert "\n" not in dialog.failed_message
    assert "Traceback" not in dialog.failed_message and dialog.status.text() == dialog.failed_message
    assert qgis_iface.messageBar().get_messages(2) == [f"MoSAiC training:{dialog.failed_message}"]  # Critical
    assert dialog.onnx_path == ""


def test_cancel_timers_only_act_on_the_run_they_were_set_for(qgis_iface, plugin, qtbot):
    """The 15 s second interrupt and the 60 s kill of a cancelled run must not hit a run started after it."""
    dialog = open_training_dialog(qgis_iface)
    process = dialog.backend.process
    process.start(sys.executable, ["-c", "import time; time.sleep(30)"])
    try:
        assert process.waitForStarted(10_000)
        pid = int(process.processId())
        fired = []
        dialog.backend.later(50, pid + 1, lambda: fired.append("earlier run"))  # a run that has ended since
        dialog.backend.later(50, pid, lambda: fired.append("this run"))
        qtbot.waitUntil(lambda: bool(fired), timeout=5_000)
        qtbot.wait(200)
        assert fired == ["this run"]
    finally:
        process.kill()
        process.waitForFinished(5_000)

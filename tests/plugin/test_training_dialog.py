"""Training dialog, backend environment commands, progress stream and the live plot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from qgis.PyQt.QtGui import QImage

from mosaic.plugin import backend_env
from mosaic.plugin.loss_plot import LossPlot
from mosaic.plugin.progress_stream import parse_line, percent
from mosaic.plugin.training_dialog import TrainingDialog

from .screenshots import screenshot_path, show_neutral_paths

REPO = Path(__file__).resolve().parents[2]


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


def test_dialog_refuses_to_start_without_backend_python(qgis_iface, qtbot, clean_settings, tmp_path):
    dialog = TrainingDialog(qgis_iface)
    qtbot.addWidget(dialog)
    dialog.python.setFilePath(str(tmp_path / "missing-python"))
    dialog.dataset.setFilePath(str(tmp_path))
    dialog.start_training()
    assert not dialog.is_running()
    assert "backend Python" in dialog.failed_message
    dialog.python.setFilePath(sys.executable)
    dialog.dataset.setFilePath(str(tmp_path / "no-such-dataset"))
    dialog.start_training()
    assert "dataset" in dialog.failed_message and not dialog.is_running()


TRAINER_PRESENT = (REPO / "backend" / "training" / "cli.py").is_file() and any((REPO / "configs").glob("*.yaml"))


def short_training_dialog(iface, qtbot, dataset: Path, run_dir: Path, epochs: int) -> TrainingDialog:
    """The dialog set up for a tiny real run: MoSAiC-1, ResNet-18, batch 4, CPU, no loader workers."""
    dialog = TrainingDialog(iface)
    qtbot.addWidget(dialog)
    dialog.python.setFilePath(sys.executable)
    dialog.dataset.setFilePath(str(dataset))
    dialog.strategy.setCurrentText("mosaic1")
    dialog.epochs.setValue(epochs)
    dialog.batch_size.setValue(4)
    dialog.label_fraction.setValue(1.0)  # the sample's 6 training patches: 10 % would leave one
    dialog.device.setCurrentText("cpu")
    dialog.backbone.setCurrentIndex(dialog.backbone.findData("resnet18"))
    dialog.workers.setValue(0)
    dialog.output_dir.setFilePath(str(run_dir))
    return dialog


@pytest.mark.skipif(not TRAINER_PRESENT, reason="the trainer (backend/training/cli.py, configs/*.yaml) is not here yet")
def test_short_real_training_yields_onnx_model(qgis_iface, qtbot, clean_settings, ben_v2, tmp_path):
    dialog = short_training_dialog(qgis_iface, qtbot, ben_v2, tmp_path / "runs", epochs=1)
    with qtbot.waitSignal(dialog.model_ready, timeout=600_000) as ready:
        dialog.start_training()
    onnx_path = Path(ready.args[0])
    assert onnx_path.is_file() and onnx_path.suffix == ".onnx"
    assert onnx_path.is_relative_to(tmp_path / "runs")  # everything stays in the run folder
    assert dialog.plot.series["loss"] and dialog.progress.value() == 100

    from mosaic.backend.inference import read_metadata

    meta = read_metadata(onnx_path)
    assert meta.strategy == "mosaic1" and len(meta.class_names) == 19

    show_neutral_paths(
        dialog, {ben_v2.parent: "~/data", tmp_path: "~", Path(sys.prefix): "~/mosaic-venv", REPO: "~/mosaic"}
    )
    dialog.resize(820, 760)
    dialog.show()
    qtbot.waitExposed(dialog)
    shot = dialog.grab()
    assert shot.save(str(screenshot_path("plugin_training.png", tmp_path)))  # README screenshot
    assert shot.toImage().pixelColor(0, 0).isValid()


@pytest.mark.skipif(not TRAINER_PRESENT, reason="the trainer (backend/training/cli.py, configs/*.yaml) is not here yet")
def test_cancel_stops_training_and_keeps_a_checkpoint(qgis_iface, qtbot, clean_settings, ben_v2, tmp_path):
    dialog = short_training_dialog(qgis_iface, qtbot, ben_v2, tmp_path / "runs", epochs=50)
    dialog.start_training()
    qtbot.waitUntil(lambda: bool(dialog.plot.series.get("loss")), timeout=300_000)  # training has started
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=120_000)
    assert dialog.status.text().startswith("Cancelled")
    assert dialog.last_checkpoint and Path(dialog.last_checkpoint).is_file()
    assert Path(dialog.last_checkpoint).is_relative_to(tmp_path / "runs")
    assert dialog.onnx_path == ""  # no export after a cancel


@pytest.mark.skipif(not TRAINER_PRESENT, reason="the trainer (backend/training/cli.py, configs/*.yaml) is not here yet")
def test_backend_error_shows_its_one_line_in_the_message_bar(qgis_iface, qtbot, clean_settings, tmp_path):
    """A folder that is not a dataset passes the dialog's checks; the backend's one-line error reaches the user."""
    (tmp_path / "not-a-dataset").mkdir()
    dialog = short_training_dialog(qgis_iface, qtbot, tmp_path / "not-a-dataset", tmp_path / "runs", epochs=1)
    qgis_iface.messageBar().clear_messages()
    dialog.start_training()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=300_000)
    expected = f"no metadata.parquet at {tmp_path / 'not-a-dataset'}: point root at a BigEarthNet v2 dataset folder"
    assert dialog.failed_message.startswith(expected) and "\n" not in dialog.failed_message
    assert "Traceback" not in dialog.failed_message and dialog.status.text() == dialog.failed_message
    assert qgis_iface.messageBar().get_messages(2) == [f"MoSAiC training:{dialog.failed_message}"]  # Critical
    assert dialog.onnx_path == ""


def test_cancel_timers_only_act_on_the_run_they_were_set_for(qgis_iface, qtbot, clean_settings):
    """The 15 s second interrupt and the 60 s kill of a cancelled run must not hit a run started after it."""
    dialog = TrainingDialog(qgis_iface)
    qtbot.addWidget(dialog)
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

"""Where and how the dock's model runs (issue 28): its precision, the int8 copy suggested on the CPU, the execution
providers of the onnxruntime QGIS has (a GPU's first), the fallback to the CPU said in one line, and what a run used.
This machine has onnxruntime's CPU build: the GPU build's provider list is faked where a test says so, and its CUDA
provider then really fails to start, as it does where the CUDA libraries are missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnxruntime
import pytest

from mosaic.backend.inference import read_metadata
from mosaic.plugin import settings

from .plugin_actions import open_dock, start_plugin
from .tasks import wait_for_task
from .test_dock import plain_text

CPU_RUN = "on CPU (CPUExecutionProvider), {0} model, onnxruntime's default threads (one per core)."


@pytest.fixture(scope="session")
def int8_pair(test_model, ben_v2, tmp_path_factory) -> tuple[Path, Path]:
    """The test model and its int8 copy beside it, made by ``mosaic export --precision int8``'s own code (calibrated
    on real validation patches, its metrics measured on the test patches)."""
    from mosaic.backend.data.bigearthnet import BigEarthNetV2
    from mosaic.backend.export.from_checkpoint import reduce_precision

    folder = tmp_path_factory.mktemp("precision")
    fp32 = Path(shutil.copyfile(test_model, folder / "resnet18_test.onnx"))
    validation, test = (BigEarthNetV2(ben_v2, split=s) for s in ("validation", "test"))
    int8 = reduce_precision(fp32, folder / "resnet18_test_int8.onnx", "int8", validation, test, 1, 4)
    return fp32, int8


def run_note(dock) -> str:
    return plain_text(dock.model_panel.run_note.text())


def run_to_the_end(dock, qtbot) -> list[str]:
    """Run at stride 120 (one cell per patch); the status's first lines: what the run did and used, and the provider
    note where it fell back."""
    dock.stride.setValue(120)
    assert dock.run() is not None
    wait_for_task(qtbot, dock)
    assert dock.last_error == "" and dock.last_result is not None
    lines = dock.status.text().splitlines()
    first, notes = lines[0], lines[1 : next(i for i, line in enumerate(lines) if line.startswith("Outputs in "))]
    assert first.startswith("7 tiles classified (1 skipped as nodata) in ")  # 2 x 4 patches, one missing
    return [first.split(" s ", 1)[1], *notes]


def assert_falls_back_to_the_cpu(dock, qtbot, note: str) -> None:
    """The model panel says before the run, and the status after it, that the model runs on the CPU and why."""
    assert run_note(dock) == f"Runs here: fp32 on CPU (CPUExecutionProvider)\n{note}"
    assert run_to_the_end(dock, qtbot) == [CPU_RUN.format("fp32"), note]


def test_the_int8_copy_is_suggested_on_the_cpu_and_a_run_states_what_it_used(dock, qtbot, int8_pair):
    fp32, int8 = int8_pair
    dock.set_model_path(str(fp32))
    ap, ap32 = read_metadata(int8).precision_metrics["test/ap_macro"]
    assert run_note(dock) == (
        "Runs here: fp32 on CPU (CPUExecutionProvider)\n"
        f"{int8.name} beside it is the int8 copy of this model (test AP macro {ap:.4f}, fp32 graph {ap32:.4f}): on "
        "the CPU it runs about twice as fast; use it instead."
    )
    assert dock.model_panel.int8_button.isVisibleTo(dock)
    assert run_to_the_end(dock, qtbot) == [CPU_RUN.format("fp32")]

    dock.model_panel.int8_button.click()  # Use the int8 copy
    assert dock.model_file.filePath() == str(int8) and dock.metadata.precision == "int8"
    assert run_note(dock) == "Runs here: int8 on CPU (CPUExecutionProvider)"
    assert not dock.model_panel.int8_button.isVisibleTo(dock)
    assert run_to_the_end(dock, qtbot) == [CPU_RUN.format("int8")]


def test_a_provider_this_onnxruntime_lacks_is_not_offered_and_the_run_falls_back(
    qgis_iface, qtbot, clean_settings, t33uup_layers, test_model, tmp_path
):
    """A GPU chosen before (the GPU build since replaced by the CPU build): the CPU is offered, and the model panel and
    the run say in one line why it runs there and what gives the GPU."""
    settings.set_value("provider", "CUDAExecutionProvider")
    settings.set_value("model_path", str(test_model))
    settings.set_value("output_dir", str(tmp_path))
    plugin = start_plugin(qgis_iface)
    try:
        dock = open_dock(qgis_iface)
        combo = dock.provider_combo
        assert [combo.itemData(i) for i in range(combo.count())] == ["CPUExecutionProvider"]
        note = (
            "CUDAExecutionProvider is not in this onnxruntime (it has CPUExecutionProvider), so the model runs on "
            "CPUExecutionProvider; install onnxruntime-gpu (and the NVIDIA CUDA 12 and cuDNN 9 libraries) to use "
            "the GPU."
        )
        assert_falls_back_to_the_cpu(dock, qtbot, note)
        combo.activated.emit(0)  # the analyst picks the CPU: remembered, and the note goes
        assert settings.value("provider") == "CPUExecutionProvider"
        assert run_note(dock) == "Runs here: fp32 on CPU (CPUExecutionProvider)"
    finally:
        plugin.unload()


def test_the_gpu_build_is_offered_first_and_a_cuda_that_cannot_start_falls_back(
    qgis_iface, qtbot, clean_settings, t33uup_layers, test_model, tmp_path, monkeypatch
):
    """onnxruntime-gpu lists CUDA before the CPU: the dock offers it first and takes it by default. Here its CUDA
    provider cannot start (this machine's onnxruntime is the CPU build, as a GPU build without its CUDA libraries):
    the model runs on the CPU, and the dock says so before and after the run."""
    monkeypatch.setattr(
        onnxruntime,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    settings.set_value("model_path", str(test_model))
    settings.set_value("output_dir", str(tmp_path))
    plugin = start_plugin(qgis_iface)
    try:
        dock = open_dock(qgis_iface)
        combo = dock.provider_combo
        assert [combo.itemText(i) for i in range(combo.count())] == [
            "GPU (CUDAExecutionProvider)",  # auto's choice: TensorRT builds engines for minutes first
            "GPU (TensorrtExecutionProvider)",
            "CPU (CPUExecutionProvider)",
        ]
        assert combo.currentData() == "CUDAExecutionProvider"
        note = (
            "onnxruntime could not start CUDAExecutionProvider (its libraries are missing or do not match this "
            "driver), so the model runs on CPUExecutionProvider; install onnxruntime-gpu (and the NVIDIA CUDA 12 and "
            "cuDNN 9 libraries) to use the GPU."
        )
        assert_falls_back_to_the_cpu(dock, qtbot, note)
    finally:
        plugin.unload()

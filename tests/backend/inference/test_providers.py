"""Execution providers: detected from the installed onnxruntime (here the CPU build), a requested GPU falls back to
the CPU with a note, what a run used is recorded; the installer's choice of build from a driver probe."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from mosaic.backend.inference import load_model
from mosaic.backend.inference.providers import (
    CPU,
    CUDA,
    DriverProbe,
    available_providers,
    fallback_note,
    onnxruntime_package,
    plan_providers,
)

CPU_BUILD = ("AzureExecutionProvider", CPU)
GPU_BUILD = ("TensorrtExecutionProvider", CUDA, CPU)


def test_providers_are_those_of_the_installed_onnxruntime():
    assert available_providers() == ort.get_available_providers()
    assert CPU in available_providers() and CUDA not in available_providers()  # this machine's CPU build


def test_plans_for_the_cpu_and_the_gpu_builds():
    cpu = plan_providers(["cuda"], CPU_BUILD)
    assert cpu.use == (CPU,) and cpu.missing == (CUDA,)
    assert cpu.note == (
        "CUDAExecutionProvider is not in this onnxruntime (it has CPUExecutionProvider), so the model runs on "
        "CPUExecutionProvider; install onnxruntime-gpu (and the NVIDIA CUDA 12 and cuDNN 9 libraries) to use the GPU."
    )
    assert plan_providers("cuda", GPU_BUILD).use == (CUDA, CPU) and plan_providers("cuda", GPU_BUILD).note is None
    assert plan_providers("auto", GPU_BUILD).use == (CUDA, CPU)  # TensorRT is never picked by itself
    assert plan_providers("auto", CPU_BUILD).use == (CPU,) and plan_providers("auto", CPU_BUILD).note is None
    assert plan_providers(None, CPU_BUILD).use == (CPU,) and plan_providers(["cpu"], GPU_BUILD).use == (CPU,)
    # onnxruntime-gpu whose CUDA libraries are missing: the session drops CUDA itself
    assert fallback_note(plan_providers("cuda", GPU_BUILD), [CPU]).startswith(
        "onnxruntime could not start CUDAExecutionProvider (its libraries are missing or do not match this driver)"
    )


def test_a_missing_provider_falls_back_to_the_cpu_with_a_note_and_the_run_records_it(onnx_model_path):
    from mosaic.backend.inference.engine import run_inference

    from .test_engine import ArrayReader, CollectSink

    asked = load_model(onnx_model_path, threads=2, providers=["cuda"])
    plain = load_model(onnx_model_path, threads=2)
    assert asked.providers == [CPU] and asked.device == "CPU (CPUExecutionProvider)"
    assert asked.provider_note.startswith("CUDAExecutionProvider is not in this onnxruntime")
    assert plain.provider_note is None
    rng = np.random.default_rng(0)
    s2, s1 = rng.uniform(100, 3000, (1, 10, 120, 120)), rng.uniform(-25, -5, (1, 2, 120, 120))
    np.testing.assert_array_equal(asked.predict(s2, s1), plain.predict(s2, s1))
    summary = run_inference(asked, ArrayReader(s2[0].astype(np.float32), s1[0].astype(np.float32)), [CollectSink()])
    assert summary.providers == (CPU,) and summary.precision == "fp32"


@pytest.mark.parametrize(
    ("probe", "package", "reason"),
    [
        (DriverProbe("linux"), "onnxruntime", "no NVIDIA driver was found"),
        (DriverProbe("linux", "550.54.15", "12.4"), "onnxruntime-gpu", "NVIDIA driver 550.54.15 (CUDA 12.4) found"),
        (DriverProbe("win32", "560.94", "12.6"), "onnxruntime-gpu", "NVIDIA driver 560.94 (CUDA 12.6) found"),
        (DriverProbe("linux", "470.82", "11.4"), "onnxruntime", "supports CUDA 11.4, but onnxruntime-gpu needs"),
        (DriverProbe("linux", "535.1", None), "onnxruntime", "supports CUDA unknown"),
        (DriverProbe("darwin", None, None), "onnxruntime", "macOS has no CUDA"),
    ],
)
def test_the_installer_offers_the_gpu_build_only_with_a_cuda_12_driver(probe, package, reason):
    choice = onnxruntime_package(probe)
    assert choice.package == package and reason in choice.reason

"""What a model runs as (precision, providers) and the int8 copy suggested beside it on the CPU."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

from mosaic.backend.inference import load_model
from mosaic.backend.inference.run_info import int8_copy, is_copy_of, model_run_info

MOSAIC = str(Path(sys.executable).parent / "mosaic")


def test_the_int8_copy_beside_an_fp32_model_is_suggested_on_the_cpu(int8_copy_path):
    fp32 = int8_copy_path.with_name("model.onnx")
    info = model_run_info(load_model(fp32, threads=1))
    assert info.precision == "fp32" and info.on_cpu and info.int8_copy == int8_copy_path
    assert info.summary() == "model.onnx: fp32, runs on CPU (CPUExecutionProvider)"
    ap, ap32 = info.int8_ap
    assert 0.0 < ap <= 1.0 and 0.0 < ap32 <= 1.0
    assert info.suggestion() == (
        f"model_int8.onnx beside it is the int8 copy of this model (test AP macro {ap:.4f}, fp32 graph {ap32:.4f}): "
        "on the CPU it runs about twice as fast; use it instead."
    )
    own = model_run_info(load_model(int8_copy_path, threads=1))
    assert (
        own.precision == "int8"
        and own.int8_copy is None
        and own.notes() == ["model_int8.onnx: int8, runs on CPU (CPUExecutionProvider)"]
    )


def test_only_a_copy_of_the_same_model_counts(int8_copy_path, heads_onnx_model_path, tmp_path):
    """An int8 file of another model beside it, or a file not named int8, is no copy."""
    shutil.copyfile(heads_onnx_model_path, tmp_path / "heads.onnx")
    shutil.copyfile(int8_copy_path, tmp_path / "heads_int8.onnx")  # int8, but of the fused-only network
    shutil.copyfile(int8_copy_path, tmp_path / "other.onnx")
    meta = load_model(tmp_path / "heads.onnx", threads=1).metadata
    assert int8_copy(tmp_path / "heads.onnx", meta) is None
    (tmp_path / "broken_int8.onnx").write_bytes(b"not a model")
    fp32 = int8_copy_path.with_name("model.onnx")
    assert int8_copy(fp32, load_model(fp32, threads=1).metadata) == int8_copy_path


def test_a_copy_exported_later_from_the_same_checkpoint_counts(int8_copy_path):
    """``mosaic export CKPT --precision int8`` run after the fp32 export writes another ``created_utc``."""
    fp32 = load_model(int8_copy_path.with_name("model.onnx"), threads=1).metadata
    copy = load_model(int8_copy_path, threads=1).metadata
    later = dataclasses.replace(copy, raw={**copy.raw, "created_utc": "2030-01-01T00:00:00+00:00"})
    assert is_copy_of(later, fp32) and is_copy_of(copy, fp32)
    other = dataclasses.replace(copy, raw={**copy.raw, "class_names": list(reversed(copy.raw["class_names"]))})
    assert not is_copy_of(other, fp32)


def test_mosaic_predict_names_precision_and_device_and_suggests_the_copy(int8_copy_path, t33uup_mosaic, tmp_path):
    fp32 = int8_copy_path.with_name("model.onnx")
    s2, s1 = sorted(t33uup_mosaic.glob("S2A*.tif")), sorted(t33uup_mosaic.glob("S1_*.tif"))
    cmd = [MOSAIC, "predict", "--s2", *map(str, s2), "--s1", *map(str, s1), "--model", str(fp32)]
    cmd += ["--out", str(tmp_path / "out"), "--no-progress", "--threads", "2", "--provider", "cuda"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "mosaic predict: model.onnx: fp32, runs on CPU (CPUExecutionProvider)" in lines
    assert "mosaic predict: CUDAExecutionProvider is not in this onnxruntime (it has CPUExecutionProvider)" in (
        proc.stderr
    )
    assert any(
        line.startswith("mosaic predict: model_int8.onnx beside it is the int8 copy of this model") for line in lines
    )
    assert proc.stdout.startswith(
        "7 tiles predicted, 1 skipped as nodata, "
    ) and " s on CPUExecutionProvider (fp32)" in (proc.stdout)

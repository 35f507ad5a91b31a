"""The ``mosaic`` entry point: one line and exit 2 for user errors, the traceback only with ``--debug``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MOSAIC = str(Path(sys.executable).parent / "mosaic")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MOSAIC, *args], capture_output=True, text=True, timeout=120)


def test_user_error_is_one_line_and_exit_2(tmp_path):
    proc = _run("inspect", str(tmp_path / "missing.onnx"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"mosaic inspect: error: model file {tmp_path / 'missing.onnx'} does not exist; "
        "give the path of an exported .onnx model."
    ]
    assert "Traceback" not in proc.stderr


def test_debug_shows_the_traceback(tmp_path):
    proc = _run("--debug", "inspect", str(tmp_path / "missing.onnx"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("Traceback (most recent call last):")
    assert "ModelError: model file" in proc.stderr.splitlines()[-1]


def test_unknown_command_names_the_choices():
    proc = _run("predcit")
    assert proc.returncode == 2
    assert (
        "unknown command 'predcit'; choose one of: assess, bench, evaluate, experiment, export, import, inspect"
        in proc.stderr
    )
    assert "Traceback" not in proc.stderr


def test_bad_option_is_argparse_usage_and_exit_2(tmp_path):
    proc = _run(
        "predict", "--s2", "a.tif", "--s1", "b.tif", "--model", "m.onnx", "--out", str(tmp_path), "--stride", "many"
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == "mosaic predict: error: argument --stride: invalid int value: 'many'"


def test_help_lists_every_command_without_importing_torch():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", MOSAIC, "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    for name in ("prepare", "pack", "stats", "train", "evaluate", "export", "predict", "inspect", "bench", "version"):
        assert f"    {name}" in proc.stdout
    assert "| torch" not in proc.stderr and "| onnxruntime" not in proc.stderr

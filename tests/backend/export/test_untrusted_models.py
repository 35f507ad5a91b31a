"""Untrusted model files: checkpoints carrying pickled code are refused, hostile ONNX metadata stays inert text.

A checkpoint is built with an object whose ``__reduce__`` would create a marker file when unpickled (harmless:
``open(marker, "w")``); ``mosaic export``, ``mosaic evaluate`` and ``mosaic train --resume`` must refuse it with
one line and exit 2, and the marker must not exist afterwards. A real exported ONNX model gets schema-valid but
hostile metadata (path-like, HTML, shell-like class names and training strings); ``inspect`` prints them,
``predict`` writes exactly its 7 files in ``--out`` and nothing anywhere else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import onnx
import pytest
import rasterio
import torch

from mosaic.backend.errors import InputError
from mosaic.backend.inference.metadata import METADATA_KEY
from mosaic.backend.training.checkpoints import read_checkpoint

from ..small_training import SMALL_RUN

MOSAIC = str(Path(sys.executable).parent / "mosaic")
REPO = Path(__file__).resolve().parents[3]
PREDICT_FILES = {
    "probabilities.tif",
    "labels.tif",
    "confidence.tif",
    "tiles.gpkg",
    "probabilities.qml",
    "labels.qml",
    "labels_source.qml",
    "confidence.qml",
}


#: how pickle names the builtin ``open`` (``io.open`` up to Python 3.12, ``_io.open`` from 3.13)
PICKLED_OPEN = f"{open.__module__}.{open.__qualname__}"


class MarkerOnUnpickle:
    """Unpickling this object calls ``open(marker, "w")``: proof that a loader ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MOSAIC, *args], capture_output=True, text=True, timeout=300, cwd=REPO)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture()
def code_checkpoint(tmp_path) -> tuple[Path, Path]:
    """A Lightning-shaped .ckpt (state_dict, hyper_parameters) with one code-carrying object; and its marker."""
    marker = tmp_path / "marker_created_by_unpickling"
    path = tmp_path / "hostile.ckpt"
    torch.save(
        {"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": {"lr": 0.1}, "callbacks": MarkerOnUnpickle(marker)},
        path,
    )
    assert not marker.exists()
    return path, marker


def _assert_refused(proc: subprocess.CompletedProcess, command: str, marker: Path) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"mosaic {command}: error: refusing checkpoint hostile.ckpt: it contains the Python object {PICKLED_OPEN}, "
        "which loading would run as code; use a .ckpt written by `mosaic train` from a source you trust."
    ]
    assert not marker.exists()


def test_read_checkpoint_refuses_pickled_code(code_checkpoint):
    path, marker = code_checkpoint
    with pytest.raises(InputError, match=r"^refusing checkpoint hostile.ckpt: it contains the Python object"):
        read_checkpoint(path)
    assert not marker.exists()


def test_read_checkpoint_reads_tensors_and_plain_data(tmp_path):
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {"w": torch.arange(3.0)}, "epoch": 4, "hyper_parameters": {"names": ["a"]}}, path)
    ckpt = read_checkpoint(path)
    assert ckpt["epoch"] == 4 and ckpt["hyper_parameters"] == {"names": ["a"]}
    assert ckpt["state_dict"]["w"].tolist() == [0.0, 1.0, 2.0]


def test_read_checkpoint_refuses_a_truncated_file(tmp_path):
    path = tmp_path / "cut.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(InputError, match=r"^cannot read checkpoint cut.ckpt \("):
        read_checkpoint(path)


def test_export_refuses_a_checkpoint_with_pickled_code(code_checkpoint, tmp_path):
    path, marker = code_checkpoint
    _assert_refused(_run("export", str(path), "-o", str(tmp_path / "m.onnx")), "export", marker)
    assert not (tmp_path / "m.onnx").exists()


def test_evaluate_refuses_a_checkpoint_with_pickled_code(code_checkpoint, tmp_path):
    path, marker = code_checkpoint
    _assert_refused(_run("evaluate", str(path), "--out", str(tmp_path / "ev")), "evaluate", marker)
    assert not (tmp_path / "ev").exists()


def test_train_resume_refuses_a_checkpoint_with_pickled_code(code_checkpoint, ben_v2, tmp_path):
    path, marker = code_checkpoint
    proc = _run(
        "train",
        "--config",
        "configs/supervised_s1s2.yaml",
        "--data.root",
        str(ben_v2),
        "--trainer.default_root_dir",
        str(tmp_path / "runs"),
        "--resume",
        str(path),
    )
    _assert_refused(proc, "train", marker)
    assert not (tmp_path / "runs").exists()


HOSTILE_NAMES = ["a\"b'c&d -- <!-- e -->", "../../x", "<b>bold</b>", "$(touch {marker})", "`touch {marker}`"]


@pytest.fixture()
def hostile_model(onnx_model_path, tmp_path) -> tuple[Path, dict, Path]:
    """The real exported test network with schema-valid hostile metadata; returns (model, metadata, marker)."""
    marker = tmp_path / "marker_from_metadata"
    model = onnx.load(onnx_model_path)
    entry = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    meta = json.loads(entry.value)
    for i, name in enumerate(HOSTILE_NAMES):
        meta["class_names"][i] = name.format(marker=marker)
    meta["strategy"] = f"; touch {marker}"
    meta["training"] = {
        "dataset": str(marker),
        "licence": f"file://{marker}",
        "script": f"$(touch {marker})",
        "terminal": "\x1b]0;title\x07\x1b[2J",
    }
    meta["metrics"] = {f"../{marker.name}": 0.5, "<img src=x>": 0.25}
    entry.value = json.dumps(meta)
    path = tmp_path / "hostile.onnx"
    onnx.save(model, path)
    return path, meta, marker


def test_inspect_prints_hostile_metadata_as_text(hostile_model, tmp_path):
    path, meta, marker = hostile_model
    before = _tree(tmp_path)
    proc = _run("inspect", str(path))
    assert proc.returncode == 0, proc.stderr
    for name in meta["class_names"][: len(HOSTILE_NAMES)]:
        assert f" {name}" in proc.stdout
    assert "\x1b" not in proc.stdout and "terminal=\\x1b]0;title\\x07\\x1b[2J" in proc.stdout
    assert f"strategy: ; touch {marker}; " in proc.stdout
    as_json = _run("inspect", "--json", str(path))
    assert json.loads(as_json.stdout) == meta
    assert _tree(tmp_path) == before and not marker.exists()


def test_predict_with_hostile_metadata_writes_only_its_outputs(hostile_model, t33uup_mosaic, tmp_path):
    path, meta, marker = hostile_model
    data_before = {p.name: p.stat().st_mtime_ns for p in t33uup_mosaic.iterdir()}
    before = _tree(tmp_path)
    out = tmp_path / "out"
    s2 = [str(p) for p in sorted(t33uup_mosaic.glob("S2A*.tif"))]
    s1 = [str(p) for p in sorted(t33uup_mosaic.glob("S1_*.tif"))]
    proc = _run("predict", "--s2", *s2, "--s1", *s1, "--model", str(path), "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == PREDICT_FILES
    assert _tree(tmp_path) == before | {"out"} | {f"out/{n}" for n in PREDICT_FILES}
    assert not marker.exists()
    assert {p.name: p.stat().st_mtime_ns for p in t33uup_mosaic.iterdir()} == data_before
    with rasterio.open(out / "probabilities.tif") as src:
        assert list(src.descriptions) == meta["class_names"]
    palette = ET.parse(out / "labels.qml").getroot().findall(".//paletteEntry")
    assert [e.get("label") for e in palette] == meta["class_names"]
    assert [e.get("color") for e in palette] == meta["class_colors"]
    for name in ("probabilities.qml", "confidence.qml"):
        assert ET.parse(out / name).getroot().tag == "qgis"


def test_a_genuine_checkpoint_still_resumes(ben_v2, tmp_path, monkeypatch):
    """The safe loading path (pre-check + ``fit(weights_only=True)``) accepts what `mosaic train` writes."""
    from mosaic.backend.training.cli import train

    monkeypatch.chdir(tmp_path)
    args = [
        "--config",
        str(REPO / "configs" / "supervised_s1s2.yaml"),
        "--data.root",
        str(ben_v2),
        *SMALL_RUN,
        "--trainer.enable_progress_bar",
        "false",
    ]
    first = train([*args, "--protocol.epochs", "1"])
    ckpt = read_checkpoint(first["last_checkpoint"])
    assert (ckpt["epoch"], ckpt["global_step"]) == (0, 1)
    resumed = train([*args, "--protocol.epochs", "2", "--resume", first["last_checkpoint"]])
    ckpt = read_checkpoint(resumed["last_checkpoint"])
    assert (ckpt["epoch"], ckpt["global_step"]) == (1, 2)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("thresholds", float("nan"), "$.thresholds[0] must be a finite float-range number, not nan"),
        ("class_names", "line\nbreak", "class_names[0] 'line\\nbreak' holds control or line-break characters"),
    ],
)
def test_invalid_metadata_values_are_refused_in_one_line(onnx_model_path, tmp_path, key, value, message):
    model = onnx.load(onnx_model_path)
    entry = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    meta = json.loads(entry.value)
    meta[key][0] = value
    entry.value = json.dumps(meta)  # NaN is written as the non-standard token NaN, which Python's json reads
    path = tmp_path / "bad.onnx"
    onnx.save(model, path)
    proc = _run("inspect", str(path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"mosaic inspect: error: the MoSAiC metadata of bad.onnx is invalid: {message}; re-export the model."
    ]

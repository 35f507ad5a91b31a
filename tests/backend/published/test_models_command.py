"""``mosaic models list`` and ``mosaic models get`` through the real console command, against a local stand-in for
the model hub (``hub_server``): JSON-lines progress, checks, import of a three-head model by one name, kill and
resume, a corrupted file refused, the offline message."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mosaic.backend.inference import load_model
from mosaic.backend.published.catalogue import load_catalogue
from mosaic.backend.published.checkpoint import sha256_of
from mosaic.backend.published.download import part_path

from .hub_server import COMMIT, Hub

MOSAIC = str(Path(sys.executable).parent / "mosaic")
IDS = ("resnet18-all-v0.2.0", "resnet18-s1-v0.2.0", "resnet18-s2-v0.2.0")


@pytest.fixture(scope="module")
def hub(published):
    hub = Hub()
    for i, model_id in enumerate(IDS):
        hub.publish(model_id, published("resnet18", model_id.split("-")[1], "0.2.0", seed=20 + i)[0])
    yield hub
    hub.close()


def mosaic(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MOSAIC, *args], capture_output=True, text=True, timeout=600)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_the_bundled_catalogue_lists_every_published_model():
    catalogue = load_catalogue()
    assert "resnet50-all-v0.2.0" in catalogue.entries and "resnet50-v0.2.0" in catalogue.combined
    assert catalogue.entries["resnet50-all-v0.2.0"].published_metrics["ap_macro"] == pytest.approx(0.703272)
    assert catalogue.entries["resnet50-s1-v0.2.0"].url("model.safetensors") == (
        "https://huggingface.co/BIFOLD-BigEarthNetv2-0/resnet50-s1-v0.2.0/resolve/main/model.safetensors"
    )
    assert all(e.licence == "MIT" for e in catalogue.entries.values())
    listed = mosaic("models", "list", "--json")
    assert listed.returncode == 0
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["resnet50-v0.2.0"]["heads"] == {
        f: f"resnet50-{c}-v0.2.0" for f, c in (("fused", "all"), ("s1", "s1"), ("s2", "s2"))
    }


def test_get_a_three_head_model_by_one_name(hub, tmp_path):
    catalogue = hub.catalogue(tmp_path / "catalogue.json", known_sha256={"resnet18-all-v0.2.0"})
    cache, out = tmp_path / "cache", tmp_path / "models"
    args = ("models", "get", "resnet18-v0.2.0", "--cache", str(cache), "--out", str(out), "--catalogue", str(catalogue))
    run = mosaic(*args, "--progress-jsonl")
    assert run.returncode == 0, run.stderr
    stream = events(run.stdout)
    assert stream[0]["event"] == "start" and stream[0]["checkpoints"] == sorted(IDS)
    weights = [e for e in stream if e["event"] == "download" and e["file"] == "model.safetensors"]
    assert {e["model"] for e in weights} == set(IDS)
    for model_id in IDS:
        mine = [e["done_bytes"] for e in weights if e["model"] == model_id]
        assert mine == sorted(mine) and mine[-1] == len(hub.files[f"{model_id}/model.safetensors"])
    checked = {(e["model"], e["file"]): e["checked_against"] for e in stream if e["event"] == "verified"}
    assert checked[("resnet18-all-v0.2.0", "model.safetensors")] == "catalogue SHA-256"
    assert checked[("resnet18-s1-v0.2.0", "model.safetensors")] == "server SHA-256"
    assert [e["stage"] for e in stream if e["event"] == "import"] == ["reading", "exporting"]
    done = stream[-1]
    assert done["event"] == "done" and done["models"] == {"resnet18-v0.2.0": str(out / "resnet18-v0.2.0.onnx")}
    meta = load_model(done["models"]["resnet18-v0.2.0"]).metadata
    assert meta.heads == ("fused", "s1", "s2") and meta.metrics == {
        "published/test/ap_macro": 0.6,
        "published/test/ap_micro": 0.8,
    }
    fused = meta.training["published"]["fused"]
    assert fused["revision"] == COMMIT and fused["downloaded_from"].startswith(hub.url)
    folder = Path(done["folders"]["resnet18-v0.2.0"]["s1"])
    assert folder == cache / "resnet18-s1-v0.2.0" / "main"
    assert sha256_of(folder / "model.safetensors") == meta.training["published"]["s1"]["weights_sha256"]

    requests = len(hub.requests)
    again = mosaic(*args)  # everything is there: nothing is fetched, the model is kept and its path printed
    assert again.returncode == 0 and again.stdout.strip() == str(out / "resnet18-v0.2.0.onnx")
    assert len(hub.requests) == requests


def test_a_killed_download_resumes_where_it_stopped(hub, tmp_path):
    catalogue = hub.catalogue(tmp_path / "catalogue.json")
    cache = tmp_path / "cache"
    args = ["models", "get", "resnet18-s2-v0.2.0", "--no-import", "--cache", str(cache), "--catalogue", str(catalogue)]
    weights = cache / "resnet18-s2-v0.2.0" / "main" / "model.safetensors"
    hub.delay_s = 0.01
    try:
        process = subprocess.Popen([MOSAIC, *args, "--progress-jsonl"], stdout=subprocess.PIPE, text=True)
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "download" and event["file"] == "model.safetensors" and event["done_bytes"] > 2 << 20:
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=60)
    finally:
        hub.delay_s = 0.0
    assert process.returncode == -signal.SIGKILL
    kept = part_path(weights).stat().st_size
    assert kept > 2 << 20 and not weights.exists()
    run = mosaic(*args)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(weights.parent)
    assert ("/blobs/resnet18-s2-v0.2.0/model.safetensors", f"bytes={kept}-") in hub.requests
    assert weights.read_bytes() == hub.files["resnet18-s2-v0.2.0/model.safetensors"]
    assert not part_path(weights).exists()


def test_a_corrupted_file_is_refused_and_deleted(hub, tmp_path):
    key = "resnet18-s1-v0.2.0/model.safetensors"
    catalogue = hub.catalogue(tmp_path / "catalogue.json")
    good = hub.files[key]
    hub.served[key] = good[:1000] + bytes([good[1000] ^ 1]) + good[1001:]  # one bit flipped, same size
    try:
        run = mosaic("models", "get", "resnet18-s1-v0.2.0", "--cache", str(tmp_path), "--catalogue", str(catalogue))
    finally:
        del hub.served[key]
    assert run.returncode == 2 and "Traceback" not in run.stderr
    error = run.stderr.splitlines()[-1]  # after the progress bars, the one-line error
    assert error.startswith("mosaic models: error: model.safetensors of")
    assert "failed its check (its SHA-256" in error and "differs from the server SHA-256" in error
    folder = tmp_path / "resnet18-s1-v0.2.0" / "main"
    assert not (folder / "model.safetensors").exists() and not part_path(folder / "model.safetensors").exists()


def test_offline_names_the_files_and_the_import_command(hub, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    catalogue = hub.catalogue(tmp_path / "catalogue.json", base_url=closed)
    run = mosaic(
        "models", "get", "resnet18-v0.2.0", "--cache", str(tmp_path), "--catalogue", str(catalogue), "--progress-jsonl"
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1
    message = run.stderr.strip()
    assert message.startswith("mosaic models: error: cannot download resnet18-v0.2.0: cannot reach")
    for model_id in IDS:
        assert f"{closed}/test-org/{model_id}/resolve/main/model.safetensors" in message
    assert message.endswith(
        "then run: mosaic import reben resnet18-all-v0.2.0 resnet18-s1-v0.2.0 resnet18-s2-v0.2.0 "
        "-o resnet18-v0.2.0.onnx"
    )
    assert events(run.stdout)[-1] == {"event": "error", "message": message.removeprefix("mosaic models: error: ")}

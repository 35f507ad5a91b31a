"""`mosaic train` under bad configurations and interruptions, through the real command: one error line and exit 2;
SIGKILL + ``--resume`` continues the same schedule to the same weights; Ctrl-C saves ``interrupted.ckpt``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mosaic.backend.cli import main

from ..small_training import SMALL_RUN

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "supervised_s1s2.yaml"


def tiny(ben_v2: Path, epochs: int, *extra: str) -> list[str]:
    """A 1-step-per-epoch training on the 6 train patches of the sample (resnet18, batch 6)."""
    return [
        "train",
        "--config",
        str(CONFIG),
        "--data.root",
        str(ben_v2),
        *SMALL_RUN,
        "--protocol.warmup_steps",
        "2",
        "--protocol.epochs",
        str(epochs),
        "--trainer.log_every_n_steps",
        "1",
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    ]


def error_line(capsys) -> str:
    """The one stderr line of a failed in-process ``mosaic`` call."""
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("fraction", ["0", "1.5"])
def test_cli_label_fraction_outside_unit_interval(ben_v2, tmp_path, monkeypatch, capsys, fraction):
    monkeypatch.chdir(tmp_path)
    assert main(tiny(ben_v2, 1, "--protocol.label_fraction", fraction)) == 2
    assert error_line(capsys) == (
        "mosaic train: error: label_fraction must be in (0, 1] (e.g. 0.1 for 10 % of the training labels), "
        f"got {float(fraction)}"
    )
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--modle.backbone", "resnet18"],
            "unrecognized arguments: --modle.backbone resnet18; did you mean 'model.backbone'?",
        ),
        (
            ["--model.backbnoe", "resnet18"],
            "unrecognized arguments: --model.backbnoe resnet18; did you mean 'model.backbone'?",
        ),
        (["--config", "{tmp}/section.yaml"], "Option 'modle.backbone' is not accepted; did you mean 'model.backbone'?"),
        (["--protocol.epochs", "abc"], 'Parser key "protocol.epochs": Expected a <class ' + "'int'>. Got value: abc"),
        (
            ["--trainer.max_epochs", "3"],
            "trainer.max_epochs is set by the protocol section: give protocol.epochs instead (docs/experiments.md)",
        ),
        (
            ["--config", "{tmp}/old.yaml"],
            "data.keep_unlabelled is set by the protocol section: give "
            "protocol.unlabelled instead (docs/experiments.md); in {tmp}/old.yaml",
        ),
        (["--config", "{tmp}/missing.yaml"], "Parser key \"config\": File does not exist: '{tmp}/missing.yaml'"),
        (["--config", "{tmp}/broken.yaml"], "Problems parsing config: while parsing a flow sequence"),
    ],
    ids=[
        "unknown_section_cli",
        "unknown_key_cli",
        "unknown_section_yaml",
        "wrong_type",
        "protocol_key_cli",
        "protocol_key_yaml",
        "no_config",
        "not_yaml",
    ],
)
def test_cli_bad_configuration_is_one_line(ben_v2, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "section.yaml").write_text("modle:\n  backbone: resnet18\n")
    (tmp_path / "broken.yaml").write_text("model: [resnet18\n  : :\n")
    (tmp_path / "old.yaml").write_text("data:\n  keep_unlabelled: true\n")  # a config from before the protocol
    assert main(tiny(ben_v2, 1, *(x.format(tmp=tmp_path) for x in extra))) == 2
    line = error_line(capsys)
    assert line.startswith("mosaic train: error: invalid training configuration: ")
    assert message.format(tmp=tmp_path) in line
    assert not (tmp_path / "runs").exists()


def _start(argv: list[str], cwd: Path, progress: Path) -> subprocess.Popen:
    with open(progress, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mosaic.backend.cli", *argv, "--progress-jsonl"],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )


def _events(progress: Path) -> list[dict]:
    return [json.loads(x) for x in progress.read_text().splitlines() if x.endswith("}")]


def _wait_for(proc: subprocess.Popen, progress: Path, ready, timeout: float = 120.0) -> list[dict]:
    """Poll the progress file until ``ready(events)``; the events seen then."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        events = _events(progress)
        if ready(events):
            return events
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError(f"no such progress within {timeout} s")


def _run(argv: list[str], cwd: Path, progress: Path) -> tuple[list[dict], str]:
    proc = _start(argv, cwd, progress)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return _events(progress), err


def _steps(events: list[dict]) -> list[int]:
    return [e["step"] for e in events if e["event"] == "step"]


@pytest.mark.slow  # three real trainings of 6 steps: ≈ 60-90 s on 2 cores
def test_sigkill_then_resume_continues_the_same_schedule(ben_v2, tmp_path):
    argv = tiny(ben_v2, 6)
    (tmp_path / "straight").mkdir()
    straight, _ = _run(argv, tmp_path / "straight", tmp_path / "straight.jsonl")
    assert _steps(straight) == [1, 2, 3, 4, 5, 6]

    (tmp_path / "killed").mkdir()
    proc = _start(argv, tmp_path / "killed", tmp_path / "killed.jsonl")
    seen = _wait_for(
        proc,
        tmp_path / "killed.jsonl",
        lambda ev: sum(e["event"] == "checkpoint" and e["path"].endswith("last.ckpt") for e in ev) >= 3,
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    last = next(e["path"] for e in seen if e["event"] == "checkpoint" and e["path"].endswith("last.ckpt"))
    last = tmp_path / "killed" / last
    killed_at = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert 3 <= killed_at < 6
    assert _steps(_events(tmp_path / "killed.jsonl"))[-1] >= killed_at

    resumed, _ = _run([*argv, "--resume", str(last)], tmp_path / "killed", tmp_path / "resumed.jsonl")
    start = resumed[0]
    assert start["event"] == "start" and start["start_step"] == killed_at and start["total_steps"] == 6
    assert _steps(resumed) == list(range(killed_at + 1, 7))  # continues, no restart at 1, planned total
    a = torch.load(tmp_path / "straight" / straight[-1]["last_checkpoint"], map_location="cpu", weights_only=True)
    b = torch.load(tmp_path / "killed" / resumed[-1]["last_checkpoint"], map_location="cpu", weights_only=True)
    assert (a["global_step"], a["epoch"]) == (b["global_step"], b["epoch"]) == (6, 5)  # in the 6th epoch (index 5)
    for opt_a, opt_b in zip(a["optimizer_states"][0]["param_groups"], b["optimizer_states"][0]["param_groups"]):
        assert opt_a["lr"] == opt_b["lr"]  # the warm-up + cosine schedule is at the same point
    assert a["lr_schedulers"][0]["last_epoch"] == b["lr_schedulers"][0]["last_epoch"] == 6
    losses_a = {e["step"]: e["loss"] for e in straight if e["event"] == "step"}
    losses_b = {e["step"]: e["loss"] for e in resumed if e["event"] == "step"}
    killed = {e["step"]: e["loss"] for e in _events(tmp_path / "killed.jsonl") if e["event"] == "step"}
    assert all(killed[s] == losses_a[s] for s in killed)  # same run up to the kill
    assert all(losses_b[s] == losses_a[s] for s in losses_b)  # the resumed steps repeat the straight run's
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0, msg=k)


def test_truncated_checkpoint_names_an_older_one(ben_v2, tmp_path, monkeypatch, capsys):
    """What a kill during a non-atomic write would leave: ``--resume`` refuses it in one line."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    good = {"state_dict": {"w": torch.ones(3)}, "global_step": 2}
    torch.save(good, folder / "best-epoch=1-step=2.ckpt")
    torch.save({**good, "global_step": 3}, folder / "last.ckpt")
    data = (folder / "last.ckpt").read_bytes()
    (folder / "last.ckpt").write_bytes(data[: len(data) // 2])
    assert main(tiny(ben_v2, 1, "--resume", str(folder / "last.ckpt"))) == 2
    line = error_line(capsys)
    assert line.startswith("mosaic train: error: cannot read checkpoint last.ckpt (")
    assert line.endswith(f", or resume from the older --resume {folder / 'best-epoch=1-step=2.ckpt'}")


def test_atomic_checkpoint_io_leaves_no_partial_file(tmp_path):
    from mosaic.backend.training.checkpoints import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.arange(4.0)}}, tmp_path / "a" / "last.ckpt")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["last.ckpt"]
    loaded = torch.load(tmp_path / "a" / "last.ckpt", weights_only=True)
    assert loaded["state_dict"]["w"].tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.slow  # two real trainings: ≈ 60 s on 2 cores
def test_ctrl_c_exits_130_with_checkpoint_and_resumes(ben_v2, tmp_path):
    argv = tiny(ben_v2, 40)
    progress = tmp_path / "run.jsonl"
    proc = _start(argv, tmp_path, progress)
    _wait_for(proc, progress, lambda ev: any(e["event"] == "step" and e["step"] >= 2 for e in ev))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    saved = [
        e["path"] for e in _events(progress) if e["event"] == "checkpoint" and e["path"].endswith("interrupted.ckpt")
    ]
    assert len(saved) == 1 and (tmp_path / saved[0]).is_file()  # paths are relative to the working folder
    step = torch.load(tmp_path / saved[0], map_location="cpu", weights_only=True)["global_step"]
    assert (
        f"mosaic train: interrupted at step {step}; checkpoint saved to {saved[0]}; continue with --resume "
        f"{saved[0]}" in err
    )
    assert err.strip().endswith("mosaic train: interrupted") and "Traceback" not in err
    resumed, _ = _run([*tiny(ben_v2, step + 1), "--resume", saved[0]], tmp_path, tmp_path / "resumed.jsonl")
    assert resumed[0]["start_step"] == step and _steps(resumed) == [step + 1], resumed


@pytest.mark.slow  # a real training: ≈ 35 s on 2 cores
def test_nan_stops_naming_the_step_and_keeps_the_last_good_checkpoint(ben_v2, tmp_path):
    """AdamW at lr 3 blows the weights up in the second step: validation sees NaN outputs before that epoch's
    checkpoint is written, so ``last.ckpt`` keeps the finite weights of step 1."""
    progress = tmp_path / "run.jsonl"
    proc = _start(tiny(ben_v2, 6, "--protocol.lr", "3", "--protocol.warmup_steps", "0"), tmp_path, progress)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    message = (
        "the model outputs became NaN/Inf after step 2 (epoch 1): lower protocol.lr or check the input data "
        "for NaN/Inf values"
    )
    assert err.strip().splitlines()[-1] == f"mosaic train: error: {message}" and "Traceback" not in err
    events = _events(progress)
    assert events[-1] == {"event": "error", "message": message}
    saved = {Path(e["path"]).name for e in events if e["event"] == "checkpoint"}
    assert "last.ckpt" in saved and not any("step=2" in name for name in saved)
    last = next(e["path"] for e in events if e["event"] == "checkpoint" and e["path"].endswith("last.ckpt"))
    kept = torch.load(tmp_path / last, map_location="cpu", weights_only=True)
    assert kept["global_step"] == 1
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values() if v.is_floating_point())


@pytest.mark.slow  # three real trainings of up to 6 steps: ≈ 60-90 s on 2 cores
def test_ctrl_c_mid_epoch_then_resume_equals_the_uninterrupted_run(ben_v2, tmp_path):
    """Batch 2 on the 6 train patches: 3 steps per epoch. Ctrl-C after the first step stops at a step boundary
    inside epoch 0; ``--resume`` trains the rest of that epoch in the same order and ends on the same weights."""
    argv = tiny(ben_v2, 2, "--protocol.batch_size", "2")
    (tmp_path / "straight").mkdir()
    straight, _ = _run(argv, tmp_path / "straight", tmp_path / "straight.jsonl")
    assert _steps(straight) == [1, 2, 3, 4, 5, 6]

    (tmp_path / "stopped").mkdir()
    proc = _start(argv, tmp_path / "stopped", tmp_path / "stopped.jsonl")
    _wait_for(proc, tmp_path / "stopped.jsonl", lambda ev: any(e["event"] == "step" for e in ev))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "mosaic train: stopping after this step (Ctrl-C again to stop at once)" in err
    events = _events(tmp_path / "stopped.jsonl")
    saved = next(e["path"] for e in events if e["event"] == "checkpoint" and e["path"].endswith("interrupted.ckpt"))
    saved = tmp_path / "stopped" / saved
    ckpt = torch.load(saved, map_location="cpu", weights_only=True)
    step = ckpt["global_step"]
    assert step % 3 != 0, f"stopped at step {step}: an epoch boundary, not mid-epoch"
    order = ckpt["MosaicDataModule"]
    assert (order["epoch"], order["batches_done"]) == (step // 3, step % 3)

    resumed, _ = _run([*argv, "--resume", str(saved)], tmp_path / "stopped", tmp_path / "resumed.jsonl")
    assert resumed[0]["start_step"] == step and _steps(resumed) == list(range(step + 1, 7))
    losses_a = {e["step"]: e["loss"] for e in straight if e["event"] == "step"}
    losses_b = {e["step"]: e["loss"] for e in resumed if e["event"] == "step"}
    assert all(losses_b[s] == losses_a[s] for s in losses_b)  # same batches, same augmentations
    a = torch.load(tmp_path / "straight" / straight[-1]["last_checkpoint"], map_location="cpu", weights_only=True)
    b = torch.load(tmp_path / "stopped" / resumed[-1]["last_checkpoint"], map_location="cpu", weights_only=True)
    assert a["global_step"] == b["global_step"] == 6
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0, msg=k)

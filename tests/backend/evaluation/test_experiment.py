"""``mosaic experiment``: the shipped smoke matrix on the bundled real patches through every strategy and both
evaluation stages (one table row each, the same labelled patches and image counts everywhere, linear probes that
leave the encoders untouched), a killed run resumed through a subprocess, and the checks of the experiment file."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from mosaic.backend.cli import main
from mosaic.backend.errors import ConfigError
from mosaic.backend.evaluation.experiment import Cell, Entry, load_experiment, stage_argv
from mosaic.backend.evaluation.tables import MODE_TITLES
from mosaic.backend.training.strategies import STRATEGIES

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "experiments" / "smoke.yaml"


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _record(folder: Path) -> dict:
    return json.loads((folder / "checkpoints" / "training_record.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_smoke_matrix_every_strategy_both_stages_same_data(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the smoke file names the bundled sample relative to the repository root
    written = {"runs", "lightning_logs", "evaluation", "results.csv"}  # what a run could leave in the working folder
    before = {p.name for p in REPO.iterdir()} & written
    out = tmp_path / "smoke"
    assert main(["experiment", str(SMOKE), "--out", str(out)]) == 0
    assert {p.name for p in REPO.iterdir()} & written == before  # every file went under --out
    exp = load_experiment(SMOKE)
    strategies = {yaml.safe_load(s.config.read_text())["model"]["strategy"] for s in exp.strategies}
    assert strategies == set(STRATEGIES)  # every strategy of the trainer is in the smoke matrix
    assert {"linear_probe", "finetune"} <= set(exp.eval_modes)

    with (out / "results.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {(r["strategy"], r["eval_mode"]) for r in rows} == {
        (s.name, m) for s in exp.strategies for m in exp.eval_modes
    } and len(rows) == len(exp.strategies) * len(exp.eval_modes)
    assert {
        "dataset",
        "strategy",
        "eval_mode",
        "label_fraction",
        "seed",
        "ap_macro",
        "ap_micro",
        "f1_macro",
        "f1_micro",
    } <= set(rows[0])
    for r in rows:
        for key in ("ap_macro", "ap_micro", "f1_macro", "f1_micro"):
            assert 0.0 <= float(r[key]) <= 1.0 and math.isfinite(float(r[key])), (r["strategy"], key)
        assert int(r["test_patches"]) == 6

    # the same labelled patches and image counts for every strategy and stage, equal to the stratified subset
    from mosaic.backend.data.bigearthnet import BigEarthNetV2

    subset = BigEarthNetV2(REPO / "sample_data" / "bigearthnet-v2", "train", label_fraction=0.5, seed=0)
    expected = sorted(subset.patch_id(i) for i in range(len(subset)))
    assert len(expected) == 3
    for strategy in exp.strategies:
        cell = Cell(exp.datasets[0], strategy, 0.5, 0).folder(out)
        for stage in ("pretrain", "linear_probe", "finetune"):
            record = _record(cell / stage)
            assert record["labelled_patch_ids"] == expected, (strategy.name, stage)
            assert (record["train_images"], record["labelled_images"], record["images_seen"]) == (3, 3, 3)
        # the linear probe left every encoder tensor as pre-trained: weights and BatchNorm statistics
        pretrained = _state(cell / "pretrain" / "checkpoints" / "last.ckpt")
        probe = _state(cell / "linear_probe" / "checkpoints" / "last.ckpt")
        encoder = [k for k in probe if k.startswith("net.encoder.")]
        assert any(k.endswith("running_var") for k in encoder) and any(k.endswith("weight") for k in encoder)
        for k in encoder:
            torch.testing.assert_close(probe[k], pretrained[k], rtol=0, atol=0, msg=f"{strategy.name} {k}")
        branches = {k.split(".")[2] for k in encoder}  # s1, s2 (late fusion) or s1s2 (early fusion)
        assert probe["net.classifier.weight"].shape[1] == 512 * len(branches)  # one linear layer on [h_s1; h_s2]
        tuned = _state(cell / "finetune" / "checkpoints" / "last.ckpt")
        assert any(not torch.equal(tuned[k], pretrained[k]) for k in encoder), strategy.name  # fine-tuning moved them
    assert len({r["labelled_sha256"] for r in rows}) == 1

    report = (out / "results.md").read_text(encoding="utf-8")
    for mode in exp.eval_modes:
        assert f"## BigEarthNet v2 sample, 50% of the training labels: {MODE_TITLES[mode]}" in report
    for s in exp.strategies:
        assert report.count(f"| {s.name} | ") == len(exp.eval_modes)
    assert "pending" not in report
    import matplotlib.image

    assert matplotlib.image.imread(out / "results_ap_macro.png").shape[2] in (3, 4)

    # a killed finetune run (no markers, its checkpoint kept) resumes through a `mosaic train` subprocess
    cell = Cell(exp.datasets[0], exp.strategies[0], 0.5, 0).folder(out)
    finished = {p: p.stat().st_mtime for p in out.glob("runs/**/done.json")}
    for name in ("done.json", "trained.json"):
        (cell / "finetune" / name).unlink()
    again = yaml.safe_load(SMOKE.read_text())
    again["strategies"] = {
        n: (
            {"config": str(REPO / "experiments" / s)}
            if isinstance(s, str)
            else {**s, "config": str(REPO / "experiments" / s["config"])}
        )
        for n, s in again["strategies"].items()
    }
    again["launch"] = "subprocess"
    (tmp_path / "again.yaml").write_text(yaml.safe_dump(again))
    assert main(["experiment", str(tmp_path / "again.yaml"), "--out", str(out)]) == 0
    trained = json.loads((cell / "finetune" / "trained.json").read_text())
    assert trained["resumed_from"] == str(cell / "finetune" / "checkpoints" / "last.ckpt")
    assert trained["global_step"] == 1 and (cell / "finetune" / "done.json").is_file()
    assert all(p.stat().st_mtime == t for p, t in finished.items() if p.parent != cell / "finetune")
    with (out / "results.csv").open(encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    shutil.rmtree(out / "runs")  # ~4 GB of checkpoints


def test_stage_arguments_keep_the_cell_and_order_the_settings(tmp_path):
    exp = load_experiment(SMOKE)
    cell = Cell(exp.datasets[0], exp.strategies[2], 0.5, 7)  # SimCLR S1+S2: the strategy's own overrides
    argv = stage_argv(exp, cell, "linear_probe", tmp_path, init="pre.ckpt")
    pairs = dict(zip(argv[::2], argv[1::2]))
    assert argv[:2] == ["--config", str(REPO / "configs" / "simclr_s2.yaml")]
    assert pairs["--model.stage"] == "linear_probe" and pairs["--model.init_checkpoint"] == "pre.ckpt"
    assert pairs["--protocol.label_fraction"] == "0.5" and pairs["--protocol.seed"] == "7"
    assert pairs["--protocol.epochs"] == "1" and pairs["--model.encoder_lr_scale"] == "0.1"
    assert pairs["--model.modalities"] == "s1s2" and pairs["--model.backbone"] == "resnet18"
    assert json.loads(pairs["--model.loss_weights"]) == {"intra_s1": 1.0, "intra_s2": 1.0, "bce": 1.0}
    assert pairs["--checkpoint.dirpath"] == str(tmp_path / "checkpoints") and pairs["--trainer.devices"] == "1"
    pre = dict(zip(*[iter(stage_argv(exp, cell, "pretrain", tmp_path))] * 2))
    assert "--model.stage" not in pre and pre["--protocol.label_fraction"] == "0.5"
    assert Entry("MoSAiC-2 term sets (S1+S2)", None).slug == "MoSAiC-2_term_sets_S1_S2"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs": 3}, r"unknown key\(s\) \['epochs'\]"),
        ({"protocol": {"seed": 1}}, "label fraction and seed are the matrix's label_fractions and seeds lists"),
        ({"evaluation": {"protocol": {"label_fraction": 0.2}}}, "evaluation.protocol cannot change"),
        ({"eval_modes": ["probe"]}, "eval_modes must be a list out of joint, linear_probe, finetune"),
        ({"label_fractions": [0]}, r"label_fractions must be a list of numbers in \(0, 1\]"),
        ({"overrides": {"protocol.epochs": 2}}, "protocol.epochs belongs in the experiment's protocol section"),
        ({"strategies": {"x": "../configs/none.yaml"}}, "strategies.x: config .*none.yaml does not exist"),
    ],
    ids=["unknown_key", "protocol_seed", "evaluation_fraction", "eval_mode", "fraction", "override", "config"],
)
def test_experiment_file_problems_are_one_clear_line(tmp_path, change, message):
    tree = {**yaml.safe_load(SMOKE.read_text()), **change}
    tree["strategies"] = {
        k: str(REPO / "experiments" / v) if isinstance(v, str) and "none" not in v else v
        for k, v in tree["strategies"].items()
        if isinstance(v, str)
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError, match=message):
        load_experiment(path)

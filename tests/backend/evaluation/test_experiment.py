"""``mosaic experiment``: the shipped smoke matrix on the bundled real patches through every strategy and both
evaluation stages (one table row each, the same labelled patches and image counts everywhere, linear probes that
leave the encoders untouched), a killed run resumed through a subprocess, one fixed pre-training budget whatever
early stopping says, tables that refuse unequal budgets, and the checks of the experiment file."""

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
from mosaic.backend.evaluation.tables import MODE_TITLES, markdown
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


def test_every_pretraining_runs_the_whole_budget_though_early_stopping_is_configured(ben_v2, tmp_path):
    """Early stopping that would stop every run after its first validation (``stopping_threshold`` 0 on macro AP):
    the pre-trainings of both strategies run both epochs (the same ``pretrain_images_seen``), the evaluation stage
    stops after one epoch."""
    experiment = {
        "strategies": {name: str(REPO / "configs" / f"{name}.yaml") for name in ("supervised_s1s2", "mosaic1")},
        "datasets": {"sample": {"overrides": {"data.root": str(ben_v2), "data.num_workers": 0}}},
        "label_fractions": [0.5],
        "eval_modes": ["linear_probe"],
        "protocol": {"epochs": 2, "batch_size": 3, "warmup_steps": 0, "augment": {"size": 32}},
        "evaluation": {"protocol": {"epochs": 2}},
        "overrides": {
            "model.backbone": "test_convnext",  # timm's 0.2 M-parameter ConvNeXt: small checkpoints, fast steps
            "model.fusion_dim": 16,
            "model.projection_dim": 8,
            "trainer.logger": False,
            "trainer.enable_progress_bar": False,
            "trainer.enable_model_summary": False,
            "trainer.num_sanity_val_steps": 0,
            "early_stopping.patience": 0,
            "early_stopping.stopping_threshold": 0.0,
        },
        "evaluate": {"batch_size": 6, "num_workers": 0},
    }
    path = tmp_path / "budget.yaml"
    path.write_text(yaml.safe_dump(experiment))
    out = tmp_path / "out"
    assert main(["experiment", str(path), "--out", str(out)]) == 0
    with (out / "results.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {r["pretrain_images_seen"] for r in rows} == {"6"}  # 2 epochs × 1 batch × 3 patches
    exp = load_experiment(path)
    for strategy in exp.strategies:
        cell = Cell(exp.datasets[0], strategy, 0.5, 0).folder(out)
        assert (_record(cell / "pretrain")["epochs"], _record(cell / "pretrain")["images_seen"]) == (2, 6)
        assert _record(cell / "linear_probe")["images_seen"] == 3  # the evaluation stage did stop early
    report = (out / "results.md").read_text(encoding="utf-8")
    assert "Not comparable" not in report and report.count("| supervised_s1s2 | ") == 1


def test_tables_refuse_a_comparison_of_unequal_pretraining_budgets():
    exp = load_experiment(SMOKE)
    base = {"dataset": exp.datasets[0].name, "label_fraction": 0.5, "seed": 0, "eval_mode": "linear_probe"}
    metrics = dict.fromkeys(("ap_macro", "ap_micro", "f1_macro", "f1_micro"), 0.5)
    rows = [
        {**base, **metrics, "strategy": exp.strategies[0].name, "pretrain_images_seen": 12},
        {**base, **metrics, "strategy": exp.strategies[5].name, "pretrain_images_seen": 24},
        {**base, **metrics, "strategy": exp.strategies[1].name, "eval_mode": "finetune", "pretrain_images_seen": 12},
    ]
    report = markdown(exp, rows, [])
    refused = report.split(MODE_TITLES["linear_probe"])[1].split("##")[0]
    assert "Not comparable: the pre-trainings saw different numbers of images" in refused
    assert f"{exp.strategies[0].name} 12, {exp.strategies[5].name} 24" in refused and "0.5000" not in refused
    compared = report.split(MODE_TITLES["finetune"])[1]
    assert "Not comparable" not in compared and f"| {exp.strategies[1].name} | 0.5000 ± –" in compared


@pytest.mark.parametrize(
    ("entry", "override", "key"),
    [
        ("strategies", {"trainer.limit_train_batches": 1}, "trainer.limit_train_batches"),
        ("strategies", {"early_stopping.patience": 2}, "early_stopping.patience"),
        ("datasets", {"checkpoint.monitor": "val/bce"}, "checkpoint.monitor"),
        ("datasets", {"trainer.max_epochs": 2}, "trainer.max_epochs"),
    ],
)
def test_a_strategy_or_dataset_cannot_change_the_training_budget(tmp_path, entry, override, key):
    tree = yaml.safe_load(SMOKE.read_text())
    tree["strategies"] = {"Supervised": str(REPO / "configs" / "supervised_s1s2.yaml")}
    tree[entry] = {"x": {"config": str(REPO / "configs" / "mosaic1.yaml"), "overrides": override}}
    if entry == "datasets":
        tree[entry]["x"].pop("config")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError, match=rf"^{entry}\.x\.overrides: {key} changes the training budget") as info:
        load_experiment(path)
    assert "\n" not in str(info.value) and "set it in the experiment's overrides" in str(info.value)
    tree[entry]["x"]["overrides"] = {"model.backbone": "resnet18", "trainer.log_every_n_steps": 1}
    path.write_text(yaml.safe_dump(tree))
    load_experiment(path)  # other settings, and what is only logged, stay per strategy
    config = tmp_path / "own.yaml"
    config.write_text(
        yaml.safe_dump({**yaml.safe_load((REPO / "configs" / "mosaic1.yaml").read_text()), "trainer": {"max_steps": 5}})
    )
    tree["strategies"]["Own"] = str(config)
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(
        ConfigError, match=r"strategies\.Own's config own\.yaml: trainer\.max_steps changes the training"
    ):
        load_experiment(path)


def test_the_paper_file_runs_the_articles_objective_and_names_its_variants(ben_v2, tmp_path, monkeypatch):
    """Every row of ``paper_ben.yaml`` as ``mosaic train`` builds it (on the sample, timm's tiny ConvNeXt instead of
    the file's backbones): one budget, label-scarce validation, per-modality heads as detached probes except in the
    named ablation, IaI-SimCLR's official reading and its earlier one, MulSupCon's official head, the reBEN
    ConvNeXt-V2 settings, S1-only and S2-only supervised rows."""
    from mosaic.backend.training.cli import _build_cli

    monkeypatch.chdir(tmp_path)
    exp = load_experiment(REPO / "experiments" / "paper_ben.yaml")
    assert (
        exp.evaluation["overrides"]["early_stopping.patience"] == 4 and "early_stopping.patience" not in exp.overrides
    )
    built = {}
    for strategy in exp.strategies:
        argv = stage_argv(exp, Cell(exp.datasets[0], strategy, 0.1, 0), "pretrain", tmp_path / strategy.slug)
        settings = dict(zip(argv[::2], argv[1::2]))
        data = ["--data.root", str(ben_v2), "--data.options.lmdb_path", str(ben_v2 / "BigEarthNet-V2-LMDB")]
        quick = ["--model.backbone", "test_convnext", "--protocol.label_fraction", "0.5", "--trainer.logger", "false"]
        cli = _build_cli([*argv, *data, *quick], [])
        assert cli.trainer.max_epochs == 100 and cli.datamodule.hparams.label_scarce_validation
        built[strategy.name] = (settings, cli.model, cli.datamodule.hparams)
    heads = {name: m.hparams.modality_heads for name, (_, m, _) in built.items() if m.net.modality_classifier}
    assert heads.pop("MoSAiC-1, joint per-modality heads") == "joint" and set(heads.values()) == {"probe"}
    assert len(heads) >= 7  # every S1+S2 late-fusion strategy trains the S1 / S2 heads, as probes
    _, iai, iai_data = built["IaI-SimCLR"]
    assert (iai.plan.views, iai.plan.max_pool, iai_data.batches) == ("iai_simclr", False, "scene")
    _, earlier, earlier_data = built["IaI-SimCLR, protocol views"]
    assert (earlier.plan.views, earlier.plan.max_pool, earlier_data.batches) == ("protocol", True, "random")
    assert built["MulSupCon"][1].plan.fused_head == "mulsupcon" and built["MoSAiC-1"][1].plan.fused_head == "shared"
    settings, convnext, _ = built["Supervised S1+S2 ConvNeXt-V2"]
    assert settings["--model.backbone"] == "convnextv2_base" and convnext.net.fusion_point == "early"
    assert (convnext.hparams.drop_rate, convnext.hparams.drop_path_rate) == (0.15, 0.15)
    assert [built[f"Supervised {m}"][1].hparams.modalities for m in ("S1", "S2")] == ["s1", "s2"]

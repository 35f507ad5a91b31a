"""Every shipped config in ``configs/`` parses through ``mosaic train``'s LightningCLI and builds its module with the
loss terms and baseline options it states (ResNet-18 instead of the configs' ResNet-50, to stay fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mosaic.backend.training.cli import _build_cli

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "configs").glob("*.yaml"))


def test_the_baseline_configs_are_shipped():
    names = {p.stem for p in CONFIGS}
    assert {"supervised_s1s2", "supervised_s1s2_early", "iai_simclr", "mulsupcon", "mosaic2", "mosaic2_terms"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_parses_and_builds_what_it_states(config, ben_v2):
    stated = yaml.safe_load(config.read_text())["model"]
    argv = [
        "--config",
        str(config),
        "--data.root",
        str(ben_v2),
        "--model.backbone",
        "resnet18",
        "--trainer.accelerator",
        "cpu",
        "--trainer.logger",
        "false",
    ]
    cli = _build_cli(argv, [])
    module = cli.model
    assert module.hparams.strategy == stated["strategy"]
    assert module.weights == {t: w for t, w in stated["loss_weights"].items() if w > 0}
    assert module.net.fusion_point == stated.get("fusion", "late")
    queue = stated.get("mulsupcon_queue", 0 if stated["strategy"] != "mulsupcon" else 2048)
    assert (module.label_queue.size if module.label_queue is not None else 0) == queue
    assert (module.inter_augment is not None) == (stated.get("inter_views") == "third")
    assert module.hparams.modality_heads == "probe"  # every shipped config: the per-modality heads are probes
    assert bool(module.net.modality_classifier) == ("bce_s1" in stated["loss_weights"])  # and still built, exported
    assert module.plan.views == stated.get("views", "protocol") and module.plan.max_pool == stated.get("max_pool", True)
    assert module.plan.fused_head == stated.get("fused_head", "shared")
    assert cli.datamodule.hparams.batches == yaml.safe_load(config.read_text())["data"].get("batches", "random")

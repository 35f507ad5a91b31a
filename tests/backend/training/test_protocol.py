"""The ``protocol`` section: every shipped config agrees on it, it reaches data, model and trainer, and nothing else
can set what it owns."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
import yaml

from mosaic.backend.errors import ConfigError
from mosaic.backend.training.protocol import DEFAULT_AUGMENT, LINKS, Protocol, check_no_protocol_targets

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "configs").glob("*.yaml"))


def protocol_defaults() -> dict:
    params = inspect.signature(Protocol).parameters
    return {name: p.default for name, p in params.items()} | {"augment": DEFAULT_AUGMENT}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_every_strategy_config_states_the_same_protocol(config):
    """Same label fraction, unlabelled use, seed, epochs, batch, optimiser, schedule and augmentations everywhere."""
    tree = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert tree["protocol"] == protocol_defaults()
    assert protocol_defaults()["label_fraction"] == 0.1 and protocol_defaults()["unlabelled"] == "none"
    check_no_protocol_targets(["--config", str(config)])  # no section sets a key the protocol owns


def test_protocol_reaches_data_model_and_trainer(ben_v2, tmp_path, monkeypatch):
    from mosaic.backend.training.cli import _build_cli

    monkeypatch.chdir(tmp_path)
    config = Path(__file__).resolve().parents[3] / "configs" / "mosaic1.yaml"
    argv = [
        "--config",
        str(config),
        "--data.root",
        str(ben_v2),
        "--model.backbone",
        "resnet18",
        "--protocol.label_fraction",
        "0.5",
        "--protocol.unlabelled",
        "ssl_terms",
        "--protocol.seed",
        "3",
        "--protocol.epochs",
        "2",
        "--protocol.batch_size",
        "4",
        "--protocol.lr",
        "0.002",
        "--protocol.weight_decay",
        "0.05",
        "--protocol.warmup_steps",
        "7",
        "--protocol.augment",
        "{hflip: 1.0}",
        "--protocol.validation_labels",
        "label_fraction",
    ]
    cli = _build_cli(argv, [])
    data, model = cli.datamodule.hparams, cli.model.hparams
    assert (data.label_fraction, data.keep_unlabelled, data.seed, data.batch_size) == (0.5, True, 3, 4)
    assert data.label_scarce_validation and 0 < len(cli.datamodule.dataset("validation")) < 6  # of the 6 patches
    assert (model.lr, model.weight_decay, model.warmup_steps, model.augment) == (0.002, 0.05, 7, {"hflip": 1.0})
    assert cli.trainer.max_epochs == 2 and cli.config.seed_everything == 3
    train = cli.datamodule.dataset("train")
    assert len(train) == 6 and int(train.labelled_mask.sum()) == 3  # ssl_terms keeps the unlabelled half
    # an evaluation stage never loads the unlabelled patches, whatever protocol.unlabelled says
    torch.save({"state_dict": cli.model.state_dict()}, tmp_path / "pre.ckpt")
    probe = _build_cli([*argv, "--model.stage", "finetune", "--model.init_checkpoint", str(tmp_path / "pre.ckpt")], [])
    assert probe.datamodule.hparams.keep_unlabelled is False


def test_default_protocol_drops_unlabelled_patches(ben_v2, tmp_path, monkeypatch):
    from mosaic.backend.training.cli import _build_cli

    monkeypatch.chdir(tmp_path)
    config = Path(__file__).resolve().parents[3] / "configs" / "iai_simclr.yaml"  # used to keep them
    cli = _build_cli(
        [
            "--config",
            str(config),
            "--data.root",
            str(ben_v2),
            "--model.backbone",
            "resnet18",
            "--protocol.label_fraction",
            "0.5",
        ],
        [],
    )
    train = cli.datamodule.dataset("train")
    assert len(train) == 3 and train.labelled_mask.all()
    record = cli.datamodule.train_record()
    assert record["train_images"] == record["labelled_images"] == 3
    assert record["labelled_patch_ids"] == sorted(train.patch_id(i) for i in range(3))


@pytest.mark.parametrize("key", sorted(LINKS))
def test_keys_owned_by_the_protocol_are_refused_elsewhere(tmp_path, key):
    with pytest.raises(ConfigError, match=f"{key} is set by the protocol section: give protocol.{LINKS[key][0]}"):
        check_no_protocol_targets([f"--{key}=1"])
    section, _, name = key.rpartition(".")
    tree = {section: {name: 1}} if section else {name: 1}
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError, match=f"{key} is set by the protocol section.*; in {path}"):
        check_no_protocol_targets(["--config", str(path)])


def test_validation_labels_is_all_or_label_fraction():
    from mosaic.backend.training.protocol import label_scarce_validation

    assert (label_scarce_validation("all"), label_scarce_validation("label_fraction")) == (False, True)
    with pytest.raises(ConfigError, match=r"protocol\.validation_labels must be 'all' or 'label_fraction'"):
        label_scarce_validation("half")

"""The evaluation stages of ``MosaicModule`` on pre-trained encoders: ``linear_probe`` leaves the encoders (weights
and BatchNorm statistics) exactly as pre-trained, ``finetune`` starts from the encoders only (a fresh fusion MLP and
classifier, as for every strategy) and trains them at the scaled learning rate."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from mosaic.backend.errors import ConfigError
from mosaic.backend.training.datamodule import MosaicDataModule
from mosaic.backend.training.module import MosaicModule


def module(data: MosaicDataModule, strategy: str = "simclr", **kw) -> MosaicModule:
    return MosaicModule(
        strategy=strategy,
        backbone="resnet18",
        fusion_dim=64,
        projection_dim=32,
        augment={"size": 64},
        class_names=data.class_names,
        s2_bands=data.s2_band_names,
        s1_bands=data.s1_band_names,
        lr=1e-2,
        **kw,
    )


def fit(model: MosaicModule, data: MosaicDataModule, root: Path, steps: int = 1, validate: int = 0) -> None:
    pl.Trainer(
        max_steps=steps,
        default_root_dir=root,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=validate,
        limit_val_batches=validate,
        enable_checkpointing=False,
    ).fit(model, datamodule=data)


def encoder_state(model: MosaicModule) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.net.encoder.state_dict().items()}


@pytest.fixture(scope="module")
def pretrained(ben_v2, tmp_path_factory) -> Path:
    """A real pre-training checkpoint (supervised, one step, so the BatchNorm statistics moved)."""
    pl.seed_everything(0)
    data = MosaicDataModule(root=str(ben_v2), batch_size=3, num_workers=0)
    model = module(data, strategy="supervised")
    root = tmp_path_factory.mktemp("pretrain")
    fit(model, data, root)
    path = root / "pre.ckpt"
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def test_linear_probe_trains_one_linear_layer_and_leaves_the_encoders_unchanged(ben_v2, pretrained, tmp_path):
    data = MosaicDataModule(root=str(ben_v2), batch_size=3, num_workers=0)
    probe = module(data, stage="linear_probe", init_checkpoint=str(pretrained))
    saved = torch.load(pretrained, weights_only=True)["state_dict"]
    before = encoder_state(probe)
    for k, v in before.items():
        torch.testing.assert_close(v, saved[f"net.encoder.{k}"], rtol=0, atol=0)
    assert isinstance(probe.net.fusion, torch.nn.Identity) and probe.weights == {"bce": 1.0}
    assert probe.net.classifier.in_features == 2 * 512 and not probe.net.heads  # [h_s1; h_s2] of two ResNet-18
    classifier = probe.net.classifier.weight.detach().clone()
    assert not any(m.training for m in probe.net.encoder.modules())  # as built: Lightning's loops restore modes
    fit(probe, data, tmp_path, validate=1)  # sanity check and validation capture and restore the module modes
    for k, v in encoder_state(probe).items():  # weights, BatchNorm running means/variances and counters
        torch.testing.assert_close(v, before[k], rtol=0, atol=0, msg=k)
    assert not torch.equal(probe.net.classifier.weight, classifier)
    probe.train()
    assert not any(m.training for m in probe.net.encoder.modules()) and probe.net.classifier.training


def test_finetune_trains_every_weight_with_slower_encoders(ben_v2, pretrained, tmp_path):
    data = MosaicDataModule(root=str(ben_v2), batch_size=3, num_workers=0)
    torch.manual_seed(11)
    tuned = module(data, stage="finetune", init_checkpoint=str(pretrained), encoder_lr_scale=0.1)
    torch.manual_seed(11)
    fresh = module(data, stage="finetune")  # the same network, never pre-trained
    saved = torch.load(pretrained, weights_only=True)["state_dict"]
    for k, v in encoder_state(tuned).items():  # the encoders are the pre-trained ones
        torch.testing.assert_close(v, saved[f"net.encoder.{k}"], rtol=0, atol=0)
    head = [k for k in tuned.net.state_dict() if k.startswith(("fusion.", "classifier."))]
    assert head == [f"fusion.{i}.{p}" for i in (0, 1) for p in ("weight", "bias")] + [
        "classifier.weight",
        "classifier.bias",
    ]
    for k in head:  # the fusion MLP and classifier start fresh: as initialised, not as pre-trained
        torch.testing.assert_close(tuned.net.state_dict()[k], fresh.net.state_dict()[k], rtol=0, atol=0)
        if k.endswith("weight") and k != "fusion.1.weight":  # LayerNorm's weight starts at 1 either way
            assert not torch.equal(tuned.net.state_dict()[k], saved[f"net.{k}"]), k
    before = encoder_state(tuned)
    fit(tuned, data, tmp_path)
    groups = tuned.trainer.optimizers[0].param_groups
    encoder = {id(p) for p in tuned.net.encoder.parameters()}
    for group in groups:
        in_encoder = {id(p) in encoder for p in group["params"]}
        assert len(in_encoder) == 1
        assert group["initial_lr"] == pytest.approx(1e-3 if in_encoder.pop() else 1e-2)
    assert any(not torch.equal(v, before[k]) for k, v in encoder_state(tuned).items())


def test_stage_needs_a_fitting_pretrained_encoder(ben_v2, pretrained, tmp_path):
    data = MosaicDataModule(root=str(ben_v2), batch_size=3, num_workers=0)
    with pytest.raises(ConfigError, match=r"model\.stage linear_probe evaluates pre-trained encoders"):
        fit(module(data, stage="linear_probe"), data, tmp_path)
    with pytest.raises(ConfigError, match=r"lacks 120 of the 240 encoder tensors .*e\.g\. net\.encoder\.s2"):
        module(data, strategy="supervised", stage="finetune", init_checkpoint=str(_s1_only(pretrained, tmp_path)))
    with pytest.raises(ConfigError, match="stage must be one of pretrain, linear_probe, finetune"):
        module(data, stage="probe")


def _s1_only(path: Path, tmp_path: Path) -> Path:
    """The pre-training checkpoint without its S2 encoder."""
    state = torch.load(path, weights_only=True)["state_dict"]
    out = tmp_path / "s1_only.ckpt"
    torch.save({"state_dict": {k: v for k, v in state.items() if not k.startswith("net.encoder.s2.")}}, out)
    return out

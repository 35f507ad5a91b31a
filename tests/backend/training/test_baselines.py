"""Baselines as their references run them: IaI-SimCLR's third, independently augmented pair for the inter-modal term,
its intra-modal augmentations and ResNets without max-pool (the earlier reading kept as a variant), MulSupCon's
official projection, and supervised early fusion (one 12-channel encoder) that trains and exports with the usual
``(s2, s1)`` inputs."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import onnxruntime as ort
import pytest
import torch

from mosaic.backend.errors import ConfigError
from mosaic.backend.export.metadata import build_metadata
from mosaic.backend.export.onnx_file import export_onnx
from mosaic.backend.training import losses
from mosaic.backend.training.datamodule import MosaicDataModule
from mosaic.backend.training.module import IAI_INTRA_AUGMENT, MosaicModule, _TrainingPlan


def _module(ben_v2: Path, strategy: str, **model_kw) -> tuple[MosaicModule, MosaicDataModule]:
    data = MosaicDataModule(root=str(ben_v2), batch_size=6, num_workers=0)
    model = MosaicModule(
        strategy=strategy,
        backbone="resnet18",
        fusion_dim=32,
        projection_dim=16,
        augment={"size": 64},
        class_names=data.class_names,
        s2_bands=data.s2_band_names,
        s1_bands=data.s1_band_names,
        upsampling=data.upsampling,
        training_data=data.training_data,
        **model_kw,
    )
    return model, data


def _batch(data: MosaicDataModule) -> dict:
    return data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)


def _record_inputs(model: MosaicModule, monkeypatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every ``(s2, s1)`` pair the network encodes, in call order."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    features = model.net.features

    def recording(s2, s1):
        seen.append((s2.detach().clone(), s1.detach().clone()))
        return features(s2, s1)

    monkeypatch.setattr(model.net, "features", recording)
    return seen


def test_iai_simclr_inter_term_uses_a_third_independently_drawn_pair(ben_v2, monkeypatch):
    pl.seed_everything(0)
    model, data = _module(ben_v2, "iai_simclr")
    batch = _batch(data)
    model.train()
    seen = _record_inputs(model, monkeypatch)
    torch.manual_seed(5)
    terms = model.loss_terms(batch)
    assert len(seen) == 3  # two intra-modal views, then the inter-modal pair
    (s2_a, s1_a), (s2_b, s1_b), (s2_c, s1_c) = seen
    assert s2_c.shape == s2_a.shape == (6, 10, 64, 64) and s1_c.shape == (6, 2, 64, 64)
    for s2_view, s1_view in ((s2_a, s1_a), (s2_b, s1_b)):
        assert (s2_c - s2_view).abs().mean() > 1.0 and (s1_c - s1_view).abs().mean() > 0.05
    # the official inter-modal augmentation: crop only, so values stay within the patch's own range
    assert s2_c.min() >= batch["s2"].min() and s1_c.max() <= batch["s1"].max()

    seen.clear()
    torch.manual_seed(5)
    again = model.loss_terms(batch)
    assert torch.equal(seen[2][0], s2_c) and torch.equal(seen[2][1], s1_c)  # reproducible with the seed
    assert again["inter"].item() == pytest.approx(terms["inter"].item(), abs=1e-6)
    seen.clear()
    torch.manual_seed(6)
    model.loss_terms(batch)
    assert not torch.equal(seen[2][0], s2_c)  # another seed, another draw

    with torch.no_grad():  # the inter term is IaI-SimCLR's pooled NT-Xent of that third pair alone
        third = model.net.features(s2_c, s1_c)
        expected = losses.inter_modal(
            model.net.project("inter_s1", third["h_s1"]), model.net.project("inter_s2", third["h_s2"]), 0.5, "pooled"
        )
    assert again["inter"].item() == pytest.approx(expected.item(), abs=1e-5)


def test_inter_views_intra_keeps_the_earlier_reading(ben_v2, monkeypatch):
    pl.seed_everything(0)
    model, data = _module(ben_v2, "iai_simclr", inter_views="intra")
    assert model.inter_augment is None
    seen = _record_inputs(model, monkeypatch)
    model.train()
    model.loss_terms(_batch(data))
    assert len(seen) == 2
    assert _module(ben_v2, "mosaic1")[0].inter_augment is None  # MoSAiC keeps the intra views by default
    with pytest.raises(ConfigError, match="inter_views"):
        _module(ben_v2, "iai_simclr", inter_views="both")


def test_iai_simclr_official_views_and_resnets_without_max_pool(ben_v2):
    pl.seed_everything(0)
    model, data = _module(ben_v2, "iai_simclr")
    s2, s1 = model.augment.s2, model.augment.s1
    assert not model.augment.aligned  # drawn apart for S1 and S2, as the official aug_S1(S1), aug_S2(S2)
    assert (s2.scale, s2.hflip, s2.vflip, s2.rot90) == ((0.3, 0.9), 0.5, 0.0, False)
    assert (s2.s2_brightness, s2.s2_contrast, s2.s2_jitter, s2.s2_grey, s2.blur) == (0.8, 0.8, 0.8, 0.1, 0.3)
    assert (s1.blur, s1.s1_noise_db, s2.size, s2.blur_kernel, s2.rgb) == (0.3, 0.0, 64, 7, (2, 1, 0))
    for encoder in model.net.encoder.values():
        assert isinstance(encoder.maxpool, torch.nn.Identity)
    batch = _batch(data)
    model.train()
    terms = model.loss_terms(batch)
    assert set(terms) == {"intra_s1", "intra_s2", "inter", "bce", "bce_s1", "bce_s2"}
    assert all(torch.isfinite(v) for v in terms.values())

    earlier, _ = _module(ben_v2, "iai_simclr", views="protocol", max_pool=True)  # the named variant
    assert earlier.augment.aligned and earlier.augment.s2.rot90 and earlier.augment.s2.blur == 0.0
    assert all(isinstance(e.maxpool, torch.nn.MaxPool2d) for e in earlier.net.encoder.values())
    assert _module(ben_v2, "mosaic1")[0].augment.aligned  # the other strategies: the protocol's views
    # evaluation stages train on the protocol's views, with the pre-training's encoders (no max-pool)
    plan = _TrainingPlan.of("iai_simclr", "s1s2", None, None, None, None, "late", "finetune")
    assert (plan.views, plan.max_pool) == ("protocol", False)
    assert IAI_INTRA_AUGMENT["scale"] == (0.3, 0.9)
    with pytest.raises(ConfigError, match="views must be one of protocol, iai_simclr"):
        _module(ben_v2, "iai_simclr", views="simclr")


def test_mulsupcon_projection_and_queue_have_the_official_shapes(ben_v2):
    model, _ = _module(ben_v2, "mulsupcon")  # fusion_dim 32 < 2 × 256: hidden 256
    head = model.net.heads["fused"]
    assert [tuple(m.weight.shape) for m in head if isinstance(m, torch.nn.Linear)] == [(256, 32), (256, 256)]
    assert isinstance(head[3], torch.nn.Dropout) and head[3].p == 0.1
    assert model.label_queue.keys.shape == (2048, 256) and model.key_net.heads["fused"][-1].out_features == 256
    shared, _ = _module(ben_v2, "mosaic1")  # MoSAiC's MulSupCon terms: the shared head, in-batch (no queue)
    assert shared.net.heads["fused"][-1].out_features == 16 and shared.label_queue is None
    assert _module(ben_v2, "mulsupcon", fused_head="shared")[0].label_queue.keys.shape == (2048, 16)


def test_supervised_early_fusion_trains_one_step_and_exports(ben_v2, tmp_path):
    pl.seed_everything(0)
    model, data = _module(ben_v2, "supervised", fusion="early")
    assert set(model.net.encoder) == {"s1s2"} and model.net.encoder["s1s2"].conv1.weight.shape[1] == 12
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    trainer = pl.Trainer(
        max_steps=1,
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        enable_checkpointing=False,
    )
    trainer.fit(model, datamodule=data)
    assert trainer.global_step == 1
    assert not torch.equal(before["encoder.s1s2.conv1.weight"], model.net.state_dict()["encoder.s1s2.conv1.weight"])

    path = export_onnx(model.inference_model(), build_metadata(model.export_metadata()), tmp_path / "early.onnx")
    batch = _batch(data)
    s2, s1 = batch["s2"], batch["s1"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["s2", "s1"]
    got = session.run(["probabilities"], {"s2": s2.numpy(), "s1": s1.numpy()})[0]
    with torch.no_grad():
        ref = model.inference_model()(s2, s1).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    assert got.shape == (6, len(data.class_names)) and ref.std() > 1e-3
    changed_s1 = session.run(["probabilities"], {"s2": s2.numpy(), "s1": (s1 - 5.0).numpy()})[0]
    assert np.abs(changed_s1 - got).max() > 1e-4  # S1 reaches the single encoder through the stacked input


def test_early_fusion_refuses_per_modality_terms():
    with pytest.raises(ConfigError, match=r"fusion 'early'.*intra_s1"):
        MosaicModule(strategy="iai_simclr", backbone="resnet18", fusion="early")
    with pytest.raises(ConfigError, match=r"fusion 'early'.*modalities 's2'"):
        MosaicModule(strategy="supervised", modalities="s2", backbone="resnet18", fusion="early")
    with pytest.raises(ConfigError, match="fusion must be"):
        MosaicModule(strategy="supervised", backbone="resnet18", fusion="middle")


@pytest.mark.parametrize("strategy", ["iai_simclr", "mulsupcon"])
def test_a_checkpoint_from_before_the_official_architectures_loads_as_it_was_trained(strategy, tmp_path):
    """IaI-SimCLR used to keep the ResNet max-pool and MulSupCon the shared head: a checkpoint without these options
    loads with them as trained (the new defaults would change its outputs or refuse its weights)."""
    from mosaic.backend.training.module import load_module

    torch.manual_seed(0)
    old = MosaicModule(
        strategy=strategy, backbone="resnet18", fusion_dim=16, projection_dim=8, max_pool=True, fused_head="shared"
    )
    hyper = {k: v for k, v in old.hparams.items() if k not in ("max_pool", "fused_head")}
    path = tmp_path / "old.ckpt"
    torch.save(
        {"state_dict": old.state_dict(), "hyper_parameters": hyper, "pytorch-lightning_version": pl.__version__}, path
    )
    loaded = load_module(path)
    assert all(isinstance(e.maxpool, torch.nn.MaxPool2d) for e in loaded.net.encoder.values())
    x2, x1 = torch.rand(2, 10, 64, 64) * 3000, torch.rand(2, 2, 64, 64) * -20
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval().net(x2, x1), old.eval().net(x2, x1))
    if strategy == "mulsupcon":
        assert loaded.net.heads["fused"][-1].out_features == 8

"""Per-modality heads in training: the ``bce_s1`` / ``bce_s2`` terms of every S1+S2 strategy, their values on a
real batch against a hand computation, detached probes by default in every strategy (``modality_heads: joint`` as the
ablation), one augmented view per classifier and step in every strategy, and fused-only old checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from mosaic.backend.errors import ConfigError
from mosaic.backend.training.datamodule import MosaicDataModule
from mosaic.backend.training.module import MosaicModule
from mosaic.backend.training.strategies import STRATEGIES, resolve_weights


def _make(ben_v2, strategy: str, modalities: str = "s1s2", **kw) -> tuple[MosaicModule, dict]:
    data = MosaicDataModule(root=str(ben_v2), batch_size=6, num_workers=0)
    model = MosaicModule(
        strategy=strategy,
        modalities=modalities,
        backbone="resnet18",
        fusion_dim=64,
        projection_dim=32,
        class_names=data.class_names,
        **kw,
    )
    model.augment = lambda s2, s1: (s2, s1)  # the views are the patches themselves: a fixed batch
    batch = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    return model.eval(), batch


@pytest.mark.parametrize("strategy", sorted(s for s, spec in STRATEGIES.items() if "s1s2" in spec.modalities))
def test_every_s1s2_strategy_trains_the_per_modality_heads(strategy):
    weights = resolve_weights(strategy, "s1s2", None)
    assert (weights["bce_s1"], weights["bce_s2"]) == (1.0, 1.0)
    for single in ("s1", "s2"):
        if single in STRATEGIES[strategy].modalities:
            assert not {"bce_s1", "bce_s2"} & set(resolve_weights(strategy, single, None))


def test_per_modality_weights_are_configurable_and_need_both_modalities():
    assert resolve_weights("supervised", "s1s2", {"bce": 1.0, "bce_s1": 0.5, "bce_s2": 0.0}) == {
        "bce": 1.0,
        "bce_s1": 0.5,
    }
    with pytest.raises(ConfigError, match=r"loss term 'bce_s2' needs s1\+s2 but modalities='s2'"):
        resolve_weights("supervised", "s2", {"bce": 1.0, "bce_s2": 1.0})


def _hand_bce(logits: torch.Tensor, y: torch.Tensor) -> float:
    """``-1/(B·C) Σ [y log σ(x) + (1 - y) log(1 - σ(x))]`` written out element by element."""
    total = 0.0
    for row_x, row_y in zip(logits.tolist(), y.tolist()):
        for x, t in zip(row_x, row_y):
            p = 1.0 / (1.0 + math.exp(-x))
            total -= t * math.log(p) + (1 - t) * math.log(1 - p)
    return total / logits.numel()


def test_bce_terms_of_the_heads_equal_a_hand_computation(ben_v2):
    torch.manual_seed(0)
    model, batch = _make(ben_v2, "supervised")
    batch["labelled"] = torch.tensor([True, False, True, True, False, True])  # 4 of 6 rows labelled
    with torch.no_grad():
        terms = model.loss_terms(batch)
        feats = model.net.features(batch["s2"], batch["s1"])
    assert set(terms) == {"bce", "bce_s1", "bce_s2"}
    rows, y = batch["labelled"], batch["label"][batch["labelled"]]
    for m in ("s1", "s2"):
        layer = model.net.modality_classifier[m]
        logits = feats[f"h_{m}"][rows].double() @ layer.weight.double().T + layer.bias.double()
        assert terms[f"bce_{m}"].item() == pytest.approx(_hand_bce(logits, y), rel=1e-5)
    assert terms["bce"].item() == pytest.approx(_hand_bce(model.net.classifier(feats["fused"][rows]), y), rel=1e-5)
    assert terms["bce_s1"].item() != pytest.approx(terms["bce_s2"].item(), rel=1e-3)  # two different heads
    batch["labelled"] = torch.zeros(6, dtype=torch.bool)  # no labels: exactly 0
    assert {t: v.item() for t, v in model.loss_terms(batch).items()} == {"bce": 0.0, "bce_s1": 0.0, "bce_s2": 0.0}


@pytest.mark.parametrize("strategy", ["supervised", "mosaic1", "iai_simclr"])
def test_per_modality_heads_are_detached_probes_in_every_strategy(ben_v2, strategy):
    """By default the S1 / S2 heads never shape the encoders (the article's objective stays each strategy's own)."""
    model, batch = _make(ben_v2, strategy)
    assert model.hparams.modality_heads == "probe"
    terms = model.loss_terms(batch)
    (terms["bce_s1"] + terms["bce_s2"]).backward()
    assert all(p.grad is None for p in model.net.encoder.parameters())
    assert all(model.net.modality_classifier[m].weight.grad.abs().sum() > 0 for m in ("s1", "s2"))
    assert model.inference_model().heads == ("fused", "s1", "s2")  # still trained and exported


def test_joint_per_modality_heads_train_their_own_encoder(ben_v2):
    model, batch = _make(ben_v2, "supervised", modality_heads="joint")
    model.loss_terms(batch)["bce_s1"].backward()  # the ablation: the S1 head trains the S1 encoder, nothing of S2
    assert sum(p.grad.abs().sum() for p in model.net.encoder["s1"].parameters() if p.grad is not None) > 0
    assert all(p.grad is None for p in model.net.encoder["s2"].parameters())
    assert model.net.modality_classifier["s1"].weight.grad.abs().sum() > 0
    probe, batch = _make(ben_v2, "iai_simclr", modality_heads="joint")
    terms = probe.loss_terms(batch)
    (terms["bce_s1"] + terms["bce_s2"]).backward()  # a linear-probe strategy's heads stay probes
    assert all(p.grad is None for p in probe.net.encoder.parameters())
    with pytest.raises(ConfigError, match="modality_heads must be one of probe, joint"):
        _make(ben_v2, "supervised", modality_heads="both")


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_classifier_sees_one_view_per_step_in_every_strategy(ben_v2, strategy):
    """The classifiers (fused, S1, S2) get the B rows of one augmented view per step, whether the strategy makes one
    view (supervised) or two (the contrastive ones): the same number of augmented copies reaches every classifier."""
    model, batch = _make(ben_v2, strategy)
    views = []
    model.augment = lambda s2, s1: views.append(s2) or (s2 + len(views), s1)  # view k shifted by k: recognisable
    rows: dict[str, list[torch.Tensor]] = {}
    layers = {"fused": model.net.classifier, **dict(model.net.modality_classifier.items())}
    for name, layer in layers.items():
        layer.register_forward_hook(lambda m, args, out, name=name: rows.setdefault(name, []).append(args[0]))
    with torch.no_grad():
        model.loss_terms(batch)
        first = model.net.features(batch["s2"] + 1, batch["s1"])
    assert len(views) == (1 if strategy == "supervised" else 2)
    assert set(rows) == set(layers) and all(len(v) == 1 and v[0].shape[0] == 6 for v in rows.values()), rows.keys()
    for name, (inputs,) in rows.items():  # computed from the first view
        if name != "fused":
            torch.testing.assert_close(inputs, first[f"h_{name}"])


def test_single_modality_and_early_fusion_have_only_the_fused_head(ben_v2):
    assert MosaicModule(strategy="supervised", modalities="s1", backbone="resnet18").net.classifiers == ("fused",)
    early = MosaicModule(strategy="supervised", backbone="resnet18", fusion="early")
    assert early.weights == {"bce": 1.0} and early.inference_model().heads == ("fused",)
    both = MosaicModule(strategy="mosaic2", backbone="resnet18")
    assert both.net.classifiers == ("fused", "s1", "s2") and both.inference_model().heads == ("fused", "s1", "s2")


def test_checkpoints_from_before_the_heads_load_as_fused_only():
    torch.manual_seed(0)
    model = MosaicModule(strategy="supervised", backbone="resnet18", fusion_dim=64)
    old_state = {k: v for k, v in model.state_dict().items() if "modality_classifier" not in k}
    fresh = MosaicModule(strategy="supervised", backbone="resnet18", fusion_dim=64)
    checkpoint = {"state_dict": old_state}
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])  # strict: no missing or unexpected keys
    assert fresh.net.classifiers == ("fused",) and fresh.weights == {"bce": 1.0}
    assert fresh.inference_model().heads == ("fused",) and fresh.export_metadata()["heads"] == {}

"""``MosaicModule``: the LightningModule of every strategy (losses per :mod:`.strategies`).

Batches are the dataset sample dicts of ``docs/contracts.md`` (physical units). Two augmented views of each
S1+S2 pair are made on the batch's device (:class:`~mosaic.backend.data.transforms.PairAugment`, one shared
geometric draw for S1 and S2) when a contrastive term is active, one view otherwise; every classifier is trained on
the first view only, so each sees one augmented copy per sample and step in every strategy. Supervised terms use
only the rows with ``labelled = True``; self-supervised terms use every row. Under DDP the projections are gathered
across ranks with autograd (see :mod:`mosaic.backend.training.losses`).
"""

from __future__ import annotations

import copy
import math
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor

from ..data.bands import PATCH_SIZE_PX, S1_BANDS, band_ranges, band_stats, s2_bands
from ..data.classes import BEN19_CLASSES
from ..data.transforms import PairAugment
from ..errors import ConfigError, InputError
from ..models.network import InferenceModel, MosaicNet
from . import losses
from .checkpoints import read_checkpoint, unsafe_checkpoint_error
from .metrics import multilabel_metrics
from .momentum import LabelQueue, momentum_update
from .step_record import StepRecord
from .strategies import (
    CLASSIFIER_TERMS,
    STRATEGIES,
    TERM_MODALITIES,
    heads_for,
    modality_classifiers_for,
    resolve_weights,
)

#: Training stages: the strategy's pre-training, then the two evaluation stages every strategy goes through.
STAGES: tuple[str, ...] = ("pretrain", "linear_probe", "finetune")

#: IaI-SimCLR's augmentation of its inter-modal pair (official ``augmentations_inter``): a random resized crop of
#: 30–90 % of the area, drawn separately for S1 and S2, nothing else.
IAI_INTER_AUGMENT: dict[str, Any] = {
    "aligned": False,
    "scale": (0.3, 0.9),
    "hflip": 0.0,
    "vflip": 0.0,
    "rot90": False,
    "s2_brightness": 0.0,
    "s2_contrast": 0.0,
    "s1_noise_db": 0.0,
}
#: IaI-SimCLR's intra-modal augmentations (official ``augmentations_S1`` / ``augmentations_S2`` of
#: ``IaI_SimCLR.yaml``, ``augmentations.py: TransformsPostivePair``), drawn apart for S1 and S2: a random resized crop
#: of 30–90 % of the area, a horizontal flip (p 0.5), for S2 per-band brightness / contrast factors in [0.2, 1.8]
#: (p 0.8; torchvision ``ColorJitter(0.8, 0.8, …)`` band by band) or else greyscale (p 0.1), then a Gaussian blur
#: (p 0.3, kernel 10 % of the side, σ ∈ [0.1, 2]). No vertical flip, rotation or S1 noise.
IAI_INTRA_AUGMENT: dict[str, Any] = {
    "aligned": False,
    "scale": (0.3, 0.9),
    "hflip": 0.5,
    "vflip": 0.0,
    "rot90": False,
    "s2_brightness": 0.8,
    "s2_contrast": 0.8,
    "s2_jitter": 0.8,
    "s2_grey": 0.1,
    "blur": 0.3,
    "s1_noise_db": 0.0,
}
#: The pre-training views of each ``views`` reading: the protocol's ``augment``, or IaI-SimCLR's own.
VIEWS: tuple[str, ...] = ("protocol", "iai_simclr")
#: How the per-modality heads train: detached probes (default), or jointly with the encoders (an ablation).
MODALITY_HEADS: tuple[str, ...] = ("probe", "joint")


def _recorded_metrics(evaluation: dict) -> dict[str, float]:
    """The finite summary metrics of one head of an ``evaluate_checkpoint`` result: ``test/<name>`` from its
    ``metrics`` and ``cloudy/<name>`` from its ``cloudy_metrics`` (absent when the data had no such patches)."""
    out = {}
    for prefix, key in (("test", "metrics"), ("cloudy", "cloudy_metrics")):
        for k, v in (evaluation.get(key) or {}).items():
            if isinstance(v, float) and math.isfinite(v):
                out[f"{prefix}/{k}"] = v
    return out


@dataclass(frozen=True)
class _TrainingPlan:
    """What a strategy trains in a stage: loss ``weights``, a detached ``linear_probe``, the MulSupCon label
    ``queue`` size (0: in-batch), where the ``inter`` term's views come from, how the views are augmented
    (``views``), whether the ResNets keep their stem ``max_pool`` and which ``fused_head`` projection is built."""

    weights: dict[str, float]
    linear_probe: bool
    queue: int
    inter_views: str
    views: str = "protocol"
    max_pool: bool = True
    fused_head: str = "shared"

    @classmethod
    def of(
        cls,
        strategy: str,
        modalities: str,
        loss_weights: dict[str, float] | None,
        linear_probe: bool | None,
        mulsupcon_queue: int | None,
        inter_views: str | None,
        fusion: str,
        stage: str,
        views: str | None = None,
        max_pool: bool | None = None,
        fused_head: str | None = None,
    ) -> _TrainingPlan:
        """The strategy's defaults with the given overrides, checked; evaluation stages train the classifier's BCE
        only (no probe detach, no key network) on the protocol's views, with the pre-training's encoders."""
        defaults = STRATEGIES[strategy]
        weights = resolve_weights(strategy, modalities, loss_weights)
        if fusion == "early" and loss_weights is None:  # one encoder: no per-modality feature for the S1/S2 heads
            weights = {t: w for t, w in weights.items() if t not in ("bce_s1", "bce_s2")}
        queue = defaults.mulsupcon_queue if mulsupcon_queue is None else mulsupcon_queue
        if queue < 0 or (mulsupcon_queue and "mulsupcon_fused" not in weights):
            raise ConfigError(f"mulsupcon_queue={mulsupcon_queue} needs a size ≥ 0 and the mulsupcon_fused term")
        inter_views = defaults.inter_views if inter_views is None else inter_views
        if inter_views not in ("third", "intra"):
            raise ConfigError(f"inter_views must be 'third' or 'intra', not {inter_views!r}")
        _check_fusion(fusion, modalities, weights)
        if stage not in STAGES:
            raise ConfigError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
        probe = defaults.linear_probe if linear_probe is None else linear_probe
        views = defaults.views if views is None else views
        if views not in VIEWS:
            raise ConfigError(f"views must be one of {', '.join(VIEWS)}, not {views!r}")
        max_pool = defaults.max_pool if max_pool is None else bool(max_pool)
        fused_head = defaults.fused_head if fused_head is None else fused_head
        if fused_head not in ("shared", "mulsupcon"):
            raise ConfigError(f"fused_head must be 'shared' or 'mulsupcon', not {fused_head!r}")
        if stage != "pretrain":
            return cls({"bce": 1.0}, False, 0, inter_views, max_pool=max_pool)
        return cls(weights, probe, queue, inter_views, views, max_pool, fused_head)


def _check_fusion(fusion: str, modalities: str, weights: dict[str, float]) -> None:
    if fusion not in ("late", "early"):
        raise ConfigError(f"fusion must be 'late' or 'early', not {fusion!r}")
    per_modality = sorted(t for t in weights if TERM_MODALITIES[t])
    if fusion == "early" and (modalities != "s1s2" or per_modality):
        got = f"modalities {modalities!r}" if modalities != "s1s2" else f"terms {', '.join(per_modality)}"
        raise ConfigError(
            "fusion 'early' (one encoder on the stacked S2 + S1 bands) needs modalities 's1s2' and only terms "
            f"without per-modality features (bce, mulsupcon_fused), not {got}"
        )


def _check_loss_options(inter_form: str, mulsupcon_weighting: str, mulsupcon_momentum: float) -> None:
    if inter_form not in ("pooled", "cross"):
        raise ConfigError(f"inter_form must be 'pooled' or 'cross', not {inter_form!r}")
    if mulsupcon_weighting not in ("label", "sample"):
        raise ConfigError(f"mulsupcon_weighting must be 'label' or 'sample', not {mulsupcon_weighting!r}")
    if not 0.0 <= mulsupcon_momentum < 1.0:
        raise ConfigError(f"mulsupcon_momentum must be in [0, 1), not {mulsupcon_momentum}")


def _normalisation(
    s2_bands, s1_bands, upsampling: str, statistics: str, norm_mean: dict | None, norm_std: dict | None
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-band mean and std per modality: the given ones, else the ``statistics`` published for ``upsampling``."""
    mean, std = dict(norm_mean or {}), dict(norm_std or {})
    for key, bands in (("s2", s2_bands), ("s1", s1_bands)):
        if key in mean and key in std:
            continue
        try:
            default_mean, default_std = band_stats(list(bands), upsampling, statistics)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        mean.setdefault(key, default_mean)
        std.setdefault(key, default_std)
    return mean, std


class MosaicModule(pl.LightningModule):
    """Encoders + fusion + heads (:class:`MosaicNet`) trained with the loss terms of ``strategy``.

    Args:
        strategy: ``supervised``, ``simclr``, ``iai_simclr``, ``mulsupcon``, ``mosaic1`` or ``mosaic2``.
        modalities: ``s1s2``, ``s1`` or ``s2``.
        backbone: timm encoder name (``resnet18``, ``resnet50``, ``convnextv2_atto`` … ``convnextv2_tiny``).
        pretrained: ImageNet weights from the timm hub (needs internet; off by default).
        loss_weights: ``{term: weight}`` replacing the strategy's defaults (terms in :data:`.strategies.TERMS`).
        temperature: τ of the intra-modal NT-Xent and the inter-modal contrast.
        supcon_temperature: τ of the MulSupCon terms.
        inter_form: ``pooled`` (IaI-SimCLR, 2B views) or ``cross`` (CLIP-style) S1 ↔ S2 contrast.
        mulsupcon_weighting: ``label`` (mean over (anchor, label) rows) or ``sample`` (1/|y_i| per anchor).
        mulsupcon_queue: size of the official MulSupCon label queue for ``mulsupcon_fused`` (momentum key network,
            queries from view 1, keys of view 2 + queue; :mod:`.momentum`); 0: the in-batch symmetric form
            (:func:`~mosaic.backend.losses.mulsupcon_views`); ``None``: the strategy's default (2048 for
            ``mulsupcon``, 0 otherwise).
        mulsupcon_momentum: ``m`` of the key network's moving average (official 0.999).
        inter_views: ``third`` (IaI-SimCLR: the ``inter`` term on a third pair drawn with ``inter_augment``) or
            ``intra`` (the ``inter`` term on the two intra-modal views, mean over both); ``None``: the strategy's
            default (``third`` for ``iai_simclr``).
        inter_augment: options of the third pair's :class:`PairAugment` (``aligned`` and the
            :class:`~mosaic.backend.data.transforms.ModalityAugment` options) over :data:`IAI_INTER_AUGMENT`.
        fusion: ``late`` (one encoder per modality) or ``early`` (one encoder on the 12 stacked S2 + S1 bands; only
            terms without per-modality features: ``bce``, ``mulsupcon_fused``).
        linear_probe: classifier on the detached fused feature (``None``: the strategy's default).
        modality_heads: ``probe`` (default: the S1-only / S2-only heads of ``bce_s1`` / ``bce_s2`` are trained on
            the detached ``h_s1`` / ``h_s2``, in every strategy alike, so they never shape the encoders) or ``joint``
            (an ablation: their gradients reach the encoders).
        views: how the two pre-training views are augmented: ``protocol`` (the protocol's ``augment``, one
            geometric draw for S1 and S2) or ``iai_simclr`` (:data:`IAI_INTRA_AUGMENT`, IaI-SimCLR's official
            intra-modal augmentations at the protocol's ``size``); ``None``: the strategy's default
            (``iai_simclr`` for ``iai_simclr``). Evaluation stages always use the protocol's.
        max_pool: keep a ResNet's stem max-pool (``None``: the strategy's default; IaI-SimCLR's code drops it).
        fused_head: the ``fused`` projection: ``shared`` (SimCLR-style, ``projection_dim``) or ``mulsupcon``
            (official MulSupCon ``models.py: MLP``, 256-d, :func:`~mosaic.backend.models.heads.mulsupcon_head`);
            ``None``: the strategy's default (``mulsupcon`` for ``mulsupcon``).
        drop_rate, drop_path_rate: timm dropout of the pooled feature and stochastic depth of every encoder (the
            reBEN models use 0.15 and 0.15).
        fusion_dim, projection_dim: widths of the fused feature and of the projections.
        lr, weight_decay, warmup_steps: AdamW, linear warm-up then cosine decay to 0 over all steps.
        augment: options of :class:`PairAugment` (``scale``, ``hflip``, ``s1_noise_db``, …).
        class_names, s2_bands, s1_bands, upsampling, patch_size_px: data description (linked from the data).
        statistics: whose published normalisation statistics apply (the dataset name, linked from the data:
            ``bigearthnet_v2`` or ``sen12ms``; :data:`~mosaic.backend.data.bands.STATISTICS`).
        norm_mean, norm_std: ``{"s2": [...], "s1": [...]}``; default: the ``statistics`` for ``upsampling``.
        training_data: ``{"dataset", "licence", "label_fraction", ...}`` recorded in exported models.
        init_checkpoint: start from the network weights of this checkpoint (e.g. a pre-training run).
        init_published: folders of published reBEN checkpoints whose weights start the encoders (late fusion: the
            S1-only and S2-only models; early fusion: the S1+S2 model), first-layer channels in this network's band
            order (:mod:`~mosaic.backend.published.encoders`); projection heads and classifiers start fresh.
        stage: ``pretrain`` (the strategy's loss terms) or an evaluation stage on the encoders of
            ``init_checkpoint``, the same for every strategy: only the encoders are loaded (as the official
            MulSupCon fine-tuning loads the backbone only) and ``linear_probe`` (encoders frozen and kept in eval
            mode, BatchNorm statistics included; one linear layer on the concatenated pooled encoder features,
            trained with BCE) or ``finetune`` (a fresh fusion MLP and classifier, every weight trained with BCE,
            the encoders at ``encoder_lr_scale × lr``). Evaluation stages use only the labelled patches.
        encoder_lr_scale: learning-rate factor of the encoders in ``finetune``.
    """

    def __init__(
        self,
        strategy: str = "mosaic1",
        modalities: str = "s1s2",
        backbone: str = "resnet50",
        pretrained: bool = False,
        loss_weights: dict[str, float] | None = None,
        temperature: float = 0.5,
        supcon_temperature: float = 0.1,
        inter_form: str = "pooled",
        mulsupcon_weighting: str = "label",
        linear_probe: bool | None = None,
        fusion_dim: int = 512,
        projection_dim: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 0,
        augment: dict[str, Any] | None = None,
        class_names: Sequence[str] = BEN19_CLASSES,
        s2_bands: Sequence[str] = s2_bands("s2_10"),
        s1_bands: Sequence[str] = S1_BANDS,
        upsampling: str = "nearest",
        patch_size_px: int = PATCH_SIZE_PX,
        statistics: str = "bigearthnet_v2",
        norm_mean: dict[str, list[float]] | None = None,
        norm_std: dict[str, list[float]] | None = None,
        training_data: dict[str, Any] | None = None,
        init_checkpoint: str | None = None,
        init_published: list[str] | None = None,
        mulsupcon_queue: int | None = None,
        mulsupcon_momentum: float = 0.999,
        inter_views: str | None = None,
        inter_augment: dict[str, Any] | None = None,
        fusion: str = "late",
        stage: str = "pretrain",
        encoder_lr_scale: float = 0.1,
        modality_heads: str = "probe",
        views: str | None = None,
        max_pool: bool | None = None,
        fused_head: str | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        plan = _TrainingPlan.of(
            strategy,
            modalities,
            loss_weights,
            linear_probe,
            mulsupcon_queue,
            inter_views,
            fusion,
            stage,
            views,
            max_pool,
            fused_head,
        )
        _check_loss_options(inter_form, mulsupcon_weighting, mulsupcon_momentum)
        if modality_heads not in MODALITY_HEADS:
            raise ConfigError(f"modality_heads must be one of {', '.join(MODALITY_HEADS)}, not {modality_heads!r}")
        self.plan = plan
        self.weights, self.linear_probe = plan.weights, plan.linear_probe
        mean, std = _normalisation(s2_bands, s1_bands, upsampling, statistics, norm_mean, norm_std)
        self.save_hyperparameters(ignore=["norm_mean", "norm_std"])
        self.hparams.update(
            norm_mean=mean,
            norm_std=std,
            class_names=list(class_names),
            s2_bands=list(s2_bands),
            s1_bands=list(s1_bands),
        )
        self.net = self._network(mean, std, pretrained)
        self.augment = PairAugment(aligned=True, **{"size": patch_size_px, **(augment or {})})
        if plan.views == "iai_simclr":
            rgb = tuple(list(s2_bands).index(b) for b in ("B04", "B03", "B02"))
            self.augment = PairAugment(**{"size": self.augment.s2.size, "rgb": rgb, **IAI_INTRA_AUGMENT})
        self.inter_augment: PairAugment | None = None
        if plan.inter_views == "third" and "inter" in self.weights:
            options = {"size": self.augment.s2.size, **IAI_INTER_AUGMENT, **(inter_augment or {})}
            self.inter_augment = PairAugment(**options)
        self.val_metrics: dict[str, float] = {}
        self._val_outputs: list[tuple[Tensor, Tensor]] = []
        self._unchecked: StepRecord | None = None  # the previous step's loss, checked one step late on accelerators
        if init_published:  # before init_checkpoint: a run started from them and saved keeps its own weights
            from ..published.encoders import load_published_encoders

            load_published_encoders(self.net, init_published, backbone, s2_bands, s1_bands)
        if init_checkpoint:
            self._load_network(init_checkpoint)
        self.key_net: MosaicNet | None = None
        self.label_queue: LabelQueue | None = None
        if plan.queue and "mulsupcon_fused" in self.weights:  # after init_checkpoint: keys start from those weights
            self.key_net = copy.deepcopy(self.net).requires_grad_(False)
            key_dim = self.net.heads["fused"][-1].out_features
            self.label_queue = LabelQueue(plan.queue, key_dim, len(class_names))

    def _network(self, mean: dict[str, list[float]], std: dict[str, list[float]], pretrained: bool) -> MosaicNet:
        """The network of the hyper-parameters; a linear probe's classifier is one linear layer on the pooled
        features of frozen encoders."""
        h = self.hparams
        net = MosaicNet(
            h.modalities,
            h.backbone,
            mean["s2"],
            std["s2"],
            mean["s1"],
            std["s1"],
            len(h.class_names),
            h.fusion_dim,
            h.projection_dim,
            pretrained,
            heads=heads_for(self.weights),
            fusion=h.fusion,
            modality_classifiers=modality_classifiers_for(self.weights),
            valid_ranges={
                "s2": band_ranges(h.s2_bands, h.statistics),
                "s1": band_ranges(h.s1_bands, h.statistics),
            },
            fused_head=self.plan.fused_head,
            max_pool=self.plan.max_pool,
            drop_rate=h.drop_rate,
            drop_path_rate=h.drop_path_rate,
        )
        if h.stage == "linear_probe":
            width = sum(encoder.num_features for encoder in net.encoder.values())
            net.fusion = torch.nn.Identity()
            net.classifier = torch.nn.Linear(width, len(h.class_names))
            net.encoder.requires_grad_(False).eval()  # from the start: Lightning's loops restore, not reset, modes
        return net

    # ------------------------------------------------------------------ network parts
    def _load_network(self, path: str) -> None:
        state = read_checkpoint(path)["state_dict"]
        own = self.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if self.hparams.stage != "pretrain":  # the pre-trained encoders; a fresh fusion MLP and classifier
            usable = {k: v for k, v in usable.items() if k.startswith(("net.encoder.", "net.norm."))}
        encoder = [k for k in own if k.startswith("net.encoder.")]
        missing = [k for k in encoder if k not in usable]
        if len(missing) == len(encoder) or (self.hparams.stage != "pretrain" and missing):
            raise ConfigError(
                f"init_checkpoint {path} lacks {len(missing)} of the {len(encoder)} encoder tensors of this "
                f"backbone/modalities (e.g. {missing[0]}); give a checkpoint of the same model.backbone and modalities"
            )
        self.load_state_dict(usable, strict=False)

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.hparams.stage != "pretrain" and not self.hparams.init_checkpoint:
            raise ConfigError(
                f"model.stage {self.hparams.stage} evaluates pre-trained encoders: give model.init_checkpoint"
            )

    def train(self, mode: bool = True) -> MosaicModule:
        """Training mode, except for the encoders of a linear probe: always eval mode, so their BatchNorm layers
        use and keep their pre-trained running statistics."""
        super().train(mode)
        if self.hparams.get("stage") == "linear_probe":
            self.net.encoder.eval()
        return self

    def inference_model(self) -> torch.nn.Module:
        """The exported model (every classification head of the network: fused, then S1 / S2 where trained):
        ``forward(s2, s1)`` → probabilities ``[B, n_classes]`` per head, physical inputs, CPU fp32."""
        net = copy.deepcopy(self.net).float().cpu()
        return InferenceModel(net, net.classifiers).eval()

    def export_metadata(self, evaluation: dict | None = None) -> dict:
        """Model-specific ONNX metadata parts; ``evaluation`` (from ``evaluate_checkpoint``) adds tuned
        thresholds and test metrics (``test/<name>``, and ``cloudy/<name>`` on the snow / cloud / shadow patches)
        of every head, otherwise the last validation metrics are recorded (fused head; none for the others)."""
        h = self.hparams
        parts = {
            "class_names": list(h.class_names),
            "s2_bands": list(h.s2_bands),
            "s1_bands": list(h.s1_bands),
            "upsampling": h.upsampling,
            "norm_mean": {k: list(v) for k, v in h.norm_mean.items()},
            "norm_std": {k: list(v) for k, v in h.norm_std.items()},
            "strategy": h.strategy,
            "modalities": h.modalities,
            "backbone": h.backbone,
            "patch_size_px": int(h.patch_size_px),
            "training": dict(h.training_data or {"dataset": "unknown", "licence": "unknown"}),
            "metrics": dict(self.val_metrics),
        }
        heads = [h for h in self.net.classifiers if h != "fused"]
        parts["heads"] = {h: {"metrics": {}} for h in heads}
        if evaluation is not None:
            parts["thresholds"] = list(evaluation["thresholds"])
            parts["metrics"] = _recorded_metrics(evaluation)
            parts["heads"] = {
                h: {
                    "thresholds": list(evaluation["heads"][h]["thresholds"]),
                    "metrics": _recorded_metrics(evaluation["heads"][h]),
                }
                for h in heads
            }
        return parts

    # ------------------------------------------------------------------ losses
    def _project(self, head: str, x: Tensor) -> Tensor:
        return losses.gather_with_grad(self.net.project(head, x))

    def loss_terms(self, batch: dict) -> dict[str, Tensor]:
        """Every active loss term (unweighted) for one batch."""
        s2, s1, y = batch["s2"], batch["s1"], batch["label"]
        labelled = batch["labelled"].bool()
        contrastive = any(t not in CLASSIFIER_TERMS for t in self.weights)
        views = [self.augment(s2, s1) for _ in range(2 if contrastive else 1)]
        inter_pair = self.inter_augment(s2, s1) if self.inter_augment is not None else None  # after the views
        feats = [self.net.features(v2, v1) for v2, v1 in views]
        y_all = losses.gather_no_grad(y)
        lab_all = losses.gather_no_grad(labelled)
        cache: dict[str, list[Tensor]] = {}

        def projections(head: str, feature: str) -> list[Tensor]:
            if head not in cache:
                cache[head] = [self._project(head, f[feature]) for f in feats]
            return cache[head]

        out: dict[str, Tensor] = {}
        t, ts = self.hparams.temperature, self.hparams.supcon_temperature
        for m in self.net.used:
            if f"intra_{m}" in self.weights:
                out[f"intra_{m}"] = losses.nt_xent(*projections(f"intra_{m}", f"h_{m}"), t)
        if "inter" in self.weights:
            if inter_pair is not None:  # IaI-SimCLR: S1 <-> S2 of the third, independently augmented pair
                third = self.net.features(*inter_pair)
                pairs = [(self._project("inter_s1", third["h_s1"]), self._project("inter_s2", third["h_s2"]))]
            else:
                pairs = zip(projections("inter_s1", "h_s1"), projections("inter_s2", "h_s2"))
            out["inter"] = torch.stack([losses.inter_modal(a, b, t, self.hparams.inter_form) for a, b in pairs]).mean()
        for term, head, feature in (
            ("mulsupcon_fused", "fused", "fused"),
            ("mulsupcon_s1", "intra_s1", "h_s1"),
            ("mulsupcon_s2", "intra_s2", "h_s2"),
        ):
            if term in self.weights:
                z1, z2 = projections(head, feature)
                if term == "mulsupcon_fused" and self.key_net is not None:
                    out[term] = (
                        self._mulsupcon_momentum(z1, views[1], y_all, lab_all)
                        if lab_all.any()
                        else (z1.sum() + z2.sum()) * 0.0  # keeps every parameter in the graph (DDP), zero gradient
                    )
                else:  # labelled rows by mask, not by indexing: no host synchronisation; 0 when there are none
                    out[term] = losses.mulsupcon_views(z1, z2, y_all, ts, self.hparams.mulsupcon_weighting, lab_all)
        for term, head in CLASSIFIER_TERMS.items():
            if term in self.weights:  # the first view only, in every strategy
                out[term] = losses.bce(self._classify(head, feats[0]), y, labelled)
        return out

    def _classify(self, head: str, feats: dict[str, Tensor]) -> Tensor:
        """Logits of classification ``head``: the fused classifier on :meth:`_probe_input`, or the per-modality
        classifier on ``h_s1`` / ``h_s2``, detached unless ``modality_heads: joint`` (and always with a linear
        probe, like the fused probe's input)."""
        if head == "fused":
            return self.net.classifier(self._probe_input(feats))
        h = feats[f"h_{head}"]
        joint = self.hparams.modality_heads == "joint" and not self.linear_probe
        return self.net.modality_classifier[head](h if joint else h.detach())

    def _mulsupcon_momentum(self, query: Tensor, key_view: tuple[Tensor, Tensor], y: Tensor, rows: Tensor) -> Tensor:
        """Official MulSupCon with momentum keys and label queue (:mod:`.momentum`), on the labelled ``rows``.

        Queries: the ``fused`` projections of view 1 (``query``, gathered over ranks). Keys: the key network's
        L2-normalised ``fused`` projections of view 2 (``key_view``), gathered over ranks, followed by the queue
        once it is full; :func:`losses.mulsupcon` with ``key_labels = [y; queue labels]``. In training the batch's
        keys and labels are then enqueued (the same on every rank, as they were gathered).
        """
        with torch.no_grad():
            keys = self.key_net.project("fused", self.key_net.features(*key_view)["fused"])
            keys = losses.gather_no_grad(nnf.normalize(keys.float(), dim=1))[rows]
        labels = y[rows].float()
        queued_keys, queued_labels = self.label_queue.contents()
        loss = losses.mulsupcon(
            query[rows],
            torch.cat([keys, queued_keys]),
            labels,
            self.hparams.supcon_temperature,
            self.hparams.mulsupcon_weighting,
            key_labels=torch.cat([labels, queued_labels]),
        )
        if self.training:
            self.label_queue.push(keys, labels)
        return loss

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """MulSupCon's key network follows the query network before each step (official order)."""
        if self.key_net is not None:
            momentum_update(self.key_net, self.net, self.hparams.mulsupcon_momentum)

    def _probe_input(self, feats: dict[str, Tensor]) -> Tensor:
        """The classifier's input: the fused feature, or with a linear probe a detached representation.

        Probe: if MulSupCon trains the fusion MLP, the classifier sees the detached fused feature; otherwise the
        fusion MLP belongs to the probe and is trained by BCE on the detached encoder features.
        """
        if not self.linear_probe:
            return feats["fused"]
        if "mulsupcon_fused" in self.weights:
            return feats["fused"].detach()
        return self.net.fusion(torch.cat([feats[f"h_{b}"].detach() for b in self.net.branches], dim=1))

    def training_step(self, batch: dict, batch_idx: int) -> dict:
        terms = self.loss_terms(batch)
        loss = sum(self.weights[t] * v for t, v in terms.items())
        return {"loss": loss, "record": self._report(loss, terms, batch["label"].shape[0])}

    def _report(self, loss: Tensor, terms: dict[str, Tensor], batch_size: int) -> StepRecord:
        """Log the loss and its terms, and stop with the step and the terms when the loss is NaN/Inf; returns this
        step's record (the progress stream reads the same one).

        On CUDA the values are read one step late (:class:`~.step_record.StepRecord`), when the device is already
        past them: the check and the logged values lag one step (the last step is checked at the epoch's end).
        Elsewhere they are read at once.
        """
        record = StepRecord.of(self.global_step, self.current_epoch, loss, terms, batch_size)
        earlier = record
        if record.deferred:
            earlier, self._unchecked = self._unchecked, record
        if earlier is not None:
            self._log_record(earlier)
        return record

    def _log_record(self, record: StepRecord) -> None:
        named = record.checked()
        as_cpu = {k: torch.tensor(v) for k, v in named.items()}  # CPU tensors: logging them never waits on the device
        self.log("train/loss", as_cpu.pop("loss"), prog_bar=True, batch_size=record.batch_size)
        self.log_dict({f"train/{t}": v for t, v in as_cpu.items()}, batch_size=record.batch_size)

    def on_train_epoch_end(self) -> None:
        record, self._unchecked = self._unchecked, None
        if record is not None:
            record.checked()

    # ------------------------------------------------------------------ validation
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self.net(batch["s2"], batch["s1"]).float()
        self.log("val/bce", losses.bce(logits, batch["label"]), batch_size=logits.shape[0], sync_dist=True)
        self._val_outputs.append((torch.sigmoid(logits), batch["label"].float()))

    def on_validation_epoch_end(self) -> None:
        if not self._val_outputs:
            return
        probs = torch.cat([p for p, _ in self._val_outputs])
        target = torch.cat([t for _, t in self._val_outputs])
        self._val_outputs.clear()
        if self.trainer.world_size > 1:
            probs = self.all_gather(probs).flatten(0, 1)
            target = self.all_gather(target).flatten(0, 1)
        if not torch.isfinite(probs).all():  # raised before this epoch's checkpoint is written
            raise ConfigError(
                f"the model outputs became NaN/Inf after step {self.global_step} (epoch {self.current_epoch}): "
                "lower protocol.lr or check the input data for NaN/Inf values"
            )
        m = multilabel_metrics(probs.cpu().numpy(), target.cpu().numpy(), self.hparams.class_names)
        summary = {f"val/{k}": float(m[k]) for k in ("ap_macro", "ap_micro", "f1_macro", "f1_micro", "hamming_loss")}
        summary = {k: (v if np.isfinite(v) else 0.0) for k, v in summary.items()}
        ap = summary.pop("val/ap_macro")
        self.log("val/ap_macro", ap, prog_bar=True)
        self.log_dict(summary)
        summary["val/ap_macro"] = ap
        if not self.trainer.sanity_checking:
            self.val_metrics = summary

    # ------------------------------------------------------------------ optimisation and checkpoints
    def configure_optimizers(self) -> dict:
        """AdamW: weight decay on weight matrices only; in ``finetune`` the encoders at ``encoder_lr_scale × lr``."""
        h = self.hparams
        groups: dict[tuple[bool, bool], list] = {(e, d): [] for e in (False, True) for d in (True, False)}
        for name, p in self.named_parameters():
            if p.requires_grad:
                encoder = h.stage == "finetune" and name.startswith("net.encoder.")
                groups[encoder, not (p.ndim <= 1 or name.endswith(".bias"))].append(p)
        param_groups = []
        for (encoder, decay), params in groups.items():
            if params:
                lr = h.lr * h.encoder_lr_scale if encoder else h.lr
                param_groups.append({"params": params, "weight_decay": h.weight_decay if decay else 0.0, "lr": lr})
        optimizer = torch.optim.AdamW(
            param_groups,
            lr=h.lr,
            fused=self.device.type == "cuda",  # one kernel per step instead of several per parameter tensor
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(self.hparams.warmup_steps, total - 1)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["mosaic_val_metrics"] = dict(self.val_metrics)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.val_metrics = dict(checkpoint.get("mosaic_val_metrics", {}))
        state = checkpoint.get("state_dict", {})
        for m in list(self.net.modality_classifier):
            if f"net.modality_classifier.{m}.weight" not in state:  # from before the per-modality heads: fused only
                del self.net.modality_classifier[m]
                self.weights.pop(f"bce_{m}", None)
        if self.key_net is not None and not any(k.startswith("key_net.") for k in state):
            # a checkpoint from before the momentum queue: keys start from the network, the queue empty
            state.update({f"key_net.{k[4:]}": v for k, v in list(state.items()) if k.startswith("net.")})
            state.update({f"label_queue.{k}": v for k, v in self.label_queue.state_dict().items()})


#: Architecture options added after checkpoints were written, with the value those checkpoints were trained with
#: (every ResNet kept its max-pool, every ``fused`` head was the shared one).
_EARLIER_ARCHITECTURE: dict[str, Any] = {"max_pool": True, "fused_head": "shared"}


def _architecture_of(checkpoint: Path) -> dict[str, Any]:
    """The architecture options a checkpoint written before them was trained with (the strategies' defaults have
    changed since), so it loads as it was trained."""
    try:
        saved = read_checkpoint(checkpoint).get("hyper_parameters") or {}
    except InputError:
        return {}  # loading it reports what is wrong with it
    return {k: v for k, v in _EARLIER_ARCHITECTURE.items() if k not in saved}


def load_module(checkpoint: str | os.PathLike):
    """The :class:`MosaicModule` of ``checkpoint`` on CPU, in eval mode."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise InputError(f"checkpoint {checkpoint} does not exist; give the path of a .ckpt file from `mosaic train`.")
    try:
        # the checkpoint's own weights replace any pre-training (init_checkpoint), which need not exist any more
        module = MosaicModule.load_from_checkpoint(
            checkpoint,
            map_location="cpu",
            weights_only=True,
            init_checkpoint=None,
            init_published=None,
            **_architecture_of(checkpoint),
        )
        return module.eval()
    except pickle.UnpicklingError as exc:
        raise unsafe_checkpoint_error(checkpoint, exc) from None
    except (OSError, RuntimeError, KeyError, ValueError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"cannot load checkpoint {checkpoint.name} ({reason}); give a .ckpt from `mosaic train`."
        ) from None

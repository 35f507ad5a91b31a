"""The MoSAiC network: normalisation → per-modality encoder → pooled features → fusion → heads / classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from .encoders import build_encoder
from .heads import fusion_mlp, mulsupcon_head, projection_head
from .normalization import BandNormalization

Modalities = Literal["s1", "s2", "s1s2"]
Fusion = Literal["late", "early"]
HEADS: tuple[str, ...] = ("intra_s1", "intra_s2", "inter_s1", "inter_s2", "fused")
#: Classification heads: the fused classifier and the per-modality (S1-only, S2-only) ones, in output order.
CLASSIFIERS: tuple[str, ...] = ("fused", "s1", "s2")


class MosaicNet(nn.Module):
    """Encoders for the used modalities, concatenation + MLP fusion, five projection heads, a classifier.

    ``modalities``: ``"s1s2"`` (both), ``"s1"`` or ``"s2"`` (the other input is ignored). Projection heads
    (each ``F_m → hidden → projection_dim``): ``intra_s1``/``intra_s2`` (views of one modality), ``inter_s1``/
    ``inter_s2`` (S1 ↔ S2 contrast), ``fused`` (supervised contrast on the fused feature); heads of a missing
    modality are absent, and only the ``heads`` asked for are built. The classifier is one linear layer on the
    fused feature (``fusion_dim``); ``modality_classifiers`` (``"s1"``, ``"s2"``, S1+S2 networks only) adds one
    linear layer per modality on that modality's pooled encoder feature ``h_m`` (``F_m → n_classes``), so its
    logits depend on that modality's input alone.

    ``fusion``: ``"late"`` (default: one encoder per modality, their pooled features concatenated into the fusion
    MLP) or ``"early"`` (S1+S2 only: one encoder whose input stacks the normalised S2 and S1 bands, 10 + 2 = 12
    channels for ``s2_10``; the fusion MLP and classifier follow unchanged; only the ``fused`` head). The inputs
    stay ``(s2, s1)`` either way, so an exported model has the same two inputs.

    ``valid_ranges`` (``{"s1": [(low, high), ...]}``, optional per modality) clips that modality's bands before
    normalising, as its training data was clipped (:data:`~mosaic.backend.data.bands.INPUT_RANGES`).

    ``fused_head``: ``"shared"`` (the SimCLR-style head of every projection) or ``"mulsupcon"`` (MulSupCon's
    official projection, :func:`~.heads.mulsupcon_head`, 256-d). ``max_pool``, ``drop_rate``, ``drop_path_rate``:
    options of every encoder (:func:`~.encoders.build_encoder`).
    """

    def __init__(
        self,
        modalities: Modalities,
        backbone: str,
        s2_mean: Sequence[float],
        s2_std: Sequence[float],
        s1_mean: Sequence[float],
        s1_std: Sequence[float],
        n_classes: int,
        fusion_dim: int = 512,
        projection_dim: int = 128,
        pretrained: bool = False,
        heads: Sequence[str] = HEADS,
        modality_classifiers: Sequence[str] = (),
        fusion: Fusion = "late",
        valid_ranges: dict[str, Sequence[tuple[float, float]] | None] | None = None,
        fused_head: Literal["shared", "mulsupcon"] = "shared",
        max_pool: bool = True,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if modalities not in ("s1", "s2", "s1s2"):
            raise ValueError(f"modalities must be 's1', 's2' or 's1s2', not {modalities!r}")
        if fusion not in ("late", "early"):
            raise ValueError(f"fusion must be 'late' or 'early', not {fusion!r}")
        if fusion == "early" and (modalities != "s1s2" or set(heads) - {"fused"} or modality_classifiers):
            raise ValueError("early fusion needs modalities 's1s2' and no per-modality heads or classifiers")
        self.modalities = modalities
        self.fusion_point = fusion
        self.norm = nn.ModuleDict()
        self.encoder = nn.ModuleDict()
        self.heads = nn.ModuleDict()
        unknown = sorted(set(heads) - set(HEADS))
        if unknown:
            raise ValueError(f"unknown projection heads {unknown}; choose from {HEADS}")
        stats = {"s1": (s1_mean, s1_std), "s2": (s2_mean, s2_std)}
        encoder_options = {"max_pool": max_pool, "drop_rate": drop_rate, "drop_path_rate": drop_path_rate}
        for m in self.used:
            mean, std = stats[m]
            self.norm[m] = BandNormalization(mean, std, (valid_ranges or {}).get(m))
            if fusion == "early":
                continue
            self.encoder[m] = build_encoder(backbone, len(mean), pretrained, **encoder_options)
            width = self.encoder[m].num_features
            for kind in ("intra", "inter"):
                if f"{kind}_{m}" in heads:
                    self.heads[f"{kind}_{m}"] = projection_head(width, width, projection_dim)
        if fusion == "early":  # one encoder on the stacked normalised bands, S2 then S1 (10 + 2 = 12 for s2_10)
            self.encoder["s1s2"] = build_encoder(backbone, len(s2_mean) + len(s1_mean), pretrained, **encoder_options)
        in_dim = sum(self.encoder[b].num_features for b in self.branches)
        self.fusion = fusion_mlp(in_dim, fusion_dim)
        if "fused" in heads and fused_head == "mulsupcon":
            self.heads["fused"] = mulsupcon_head(fusion_dim)
        elif "fused" in heads:
            self.heads["fused"] = projection_head(fusion_dim, fusion_dim, projection_dim)
        self.classifier = nn.Linear(fusion_dim, n_classes)
        if set(modality_classifiers) - {"s1", "s2"} or (modality_classifiers and modalities != "s1s2"):
            raise ValueError(f"modality_classifiers {tuple(modality_classifiers)} need 's1'/'s2' of an S1+S2 network")
        self.modality_classifier = nn.ModuleDict(
            {m: nn.Linear(self.encoder[m].num_features, n_classes) for m in self.used if m in modality_classifiers}
        )

    @property
    def used(self) -> tuple[str, ...]:
        """The modalities this network encodes, in the fixed order S1, S2."""
        return ("s1", "s2") if self.modalities == "s1s2" else (self.modalities,)

    @property
    def branches(self) -> tuple[str, ...]:
        """The encoders, i.e. the keys ``h_<branch>`` of :meth:`features`: the used modalities (late fusion) or
        ``("s1s2",)`` (early fusion)."""
        return ("s1s2",) if self.fusion_point == "early" else self.used

    def features(self, s2: Tensor, s1: Tensor) -> dict[str, Tensor]:
        """Pooled encoder features ``h_<branch>`` (:attr:`branches`) and the fused feature ``fused``.

        Late fusion: ``h_s1``, ``h_s2`` from one encoder per modality, ``fused = MLP([h_s1; h_s2])``. Early fusion:
        ``h_s1s2`` from one encoder on ``[norm(s2); norm(s1)]`` stacked along the band axis, ``fused = MLP(h_s1s2)``.
        """
        if self.fusion_point == "early":
            stacked = torch.cat([self.norm["s2"](s2), self.norm["s1"](s1)], dim=1)
            out = {"h_s1s2": self.encoder["s1s2"](stacked)}
        else:
            inputs = {"s1": s1, "s2": s2}
            out = {f"h_{m}": self.encoder[m](self.norm[m](inputs[m])) for m in self.used}
        out["fused"] = self.fusion(torch.cat([out[f"h_{b}"] for b in self.branches], dim=1))
        return out

    @property
    def classifiers(self) -> tuple[str, ...]:
        """The classification heads of this network in :data:`CLASSIFIERS` order (``"fused"`` first)."""
        return tuple(c for c in CLASSIFIERS if c == "fused" or c in self.modality_classifier)

    def head_logits(self, feats: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits ``[N, n_classes]`` of every classification head from :meth:`features`' output."""
        out = {"fused": self.classifier(feats["fused"])}
        out.update({m: layer(feats[f"h_{m}"]) for m, layer in self.modality_classifier.items()})
        return out

    def project(self, head: str, x: Tensor) -> Tensor:
        """The output of projection head ``head`` (one of :data:`HEADS`) for its input feature ``x``."""
        return self.heads[head](x)

    def forward(self, s2: Tensor, s1: Tensor) -> Tensor:
        """Class logits ``[N, n_classes]`` for physical-unit inputs."""
        return self.classifier(self.features(s2, s1)["fused"])


class InferenceModel(nn.Module):
    """The exported model: sigmoid probabilities ``[N, n_classes]`` of the classification ``heads``.

    ``heads`` (default ``("fused",)``, the graph of every model before per-modality heads) is a subset of
    ``net.classifiers`` starting with ``"fused"``. ``forward`` returns the fused probabilities for a fused-only
    model and a tuple in ``heads`` order otherwise (the ONNX outputs ``probabilities``, ``probabilities_s1``,
    ``probabilities_s2``).
    """

    def __init__(self, net: MosaicNet, heads: Sequence[str] = ("fused",)) -> None:
        super().__init__()
        heads = tuple(heads)
        if not heads or heads[0] != "fused" or not set(heads) <= set(net.classifiers):
            raise ValueError(f"heads {heads} must start with 'fused' and be among the network's {net.classifiers}")
        self.net = net
        self.heads = heads

    def probabilities(self, s2: Tensor, s1: Tensor) -> dict[str, Tensor]:
        """``{head: sigmoid(logits)}`` of every head in :attr:`heads`, from one pass through the encoders."""
        logits = self.net.head_logits(self.net.features(s2, s1))
        return {h: torch.sigmoid(logits[h]) for h in self.heads}

    def forward(self, s2: Tensor, s1: Tensor) -> Tensor | tuple[Tensor, ...]:
        probs = self.probabilities(s2, s1)
        return probs["fused"] if self.heads == ("fused",) else tuple(probs[h] for h in self.heads)

"""The MoSAiC network: normalisation → per-modality encoder → pooled features → fusion → heads / classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from .encoders import build_encoder
from .heads import fusion_mlp, projection_head
from .normalization import BandNormalization

Modalities = Literal["s1", "s2", "s1s2"]
HEADS: tuple[str, ...] = ("intra_s1", "intra_s2", "inter_s1", "inter_s2", "fused")


class MosaicNet(nn.Module):
    """Encoders for the used modalities, concatenation + MLP fusion, five projection heads, a classifier.

    ``modalities``: ``"s1s2"`` (both), ``"s1"`` or ``"s2"`` (the other input is ignored). Projection heads
    (each ``F_m → hidden → projection_dim``): ``intra_s1``/``intra_s2`` (views of one modality), ``inter_s1``/
    ``inter_s2`` (S1 ↔ S2 contrast), ``fused`` (supervised contrast on the fused feature); heads of a missing
    modality are absent, and only the ``heads`` asked for are built. The classifier is one linear layer on the
    fused feature (``fusion_dim``).
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
    ) -> None:
        super().__init__()
        if modalities not in ("s1", "s2", "s1s2"):
            raise ValueError(f"modalities must be 's1', 's2' or 's1s2', not {modalities!r}")
        self.modalities = modalities
        self.norm = nn.ModuleDict()
        self.encoder = nn.ModuleDict()
        self.heads = nn.ModuleDict()
        unknown = sorted(set(heads) - set(HEADS))
        if unknown:
            raise ValueError(f"unknown projection heads {unknown}; choose from {HEADS}")
        stats = {"s1": (s1_mean, s1_std), "s2": (s2_mean, s2_std)}
        for m in self.used:
            mean, std = stats[m]
            self.norm[m] = BandNormalization(mean, std)
            self.encoder[m] = build_encoder(backbone, len(mean), pretrained)
            width = self.encoder[m].num_features
            for kind in ("intra", "inter"):
                if f"{kind}_{m}" in heads:
                    self.heads[f"{kind}_{m}"] = projection_head(width, width, projection_dim)
        in_dim = sum(self.encoder[m].num_features for m in self.used)
        self.fusion = fusion_mlp(in_dim, fusion_dim)
        if "fused" in heads:
            self.heads["fused"] = projection_head(fusion_dim, fusion_dim, projection_dim)
        self.classifier = nn.Linear(fusion_dim, n_classes)

    @property
    def used(self) -> tuple[str, ...]:
        """The modalities this network encodes, in the fixed order S1, S2."""
        return ("s1", "s2") if self.modalities == "s1s2" else (self.modalities,)

    def features(self, s2: Tensor, s1: Tensor) -> dict[str, Tensor]:
        """Pooled encoder features ``h_s1``, ``h_s2`` (used modalities) and the fused feature ``fused``."""
        inputs = {"s1": s1, "s2": s2}
        out = {f"h_{m}": self.encoder[m](self.norm[m](inputs[m])) for m in self.used}
        out["fused"] = self.fusion(torch.cat([out[f"h_{m}"] for m in self.used], dim=1))
        return out

    def project(self, head: str, x: Tensor) -> Tensor:
        """The output of projection head ``head`` (one of :data:`HEADS`) for its input feature ``x``."""
        return self.heads[head](x)

    def forward(self, s2: Tensor, s1: Tensor) -> Tensor:
        """Class logits ``[N, n_classes]`` for physical-unit inputs."""
        return self.classifier(self.features(s2, s1)["fused"])


class InferenceModel(nn.Module):
    """The exported model: ``forward(s2, s1) -> probabilities [N, n_classes]`` (sigmoid of the logits)."""

    def __init__(self, net: MosaicNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, s2: Tensor, s1: Tensor) -> Tensor:
        return torch.sigmoid(self.net(s2, s1))

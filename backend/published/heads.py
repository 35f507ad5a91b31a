"""The inference graph of one or several published checkpoints, with this project's inputs and heads.

Inputs are this project's (``s2 [N, 10, P, P]`` in ESA order ``B02 … B12``, reflectance × 10000; ``s1 [N, 2, P, P]``
``VV, VH`` in dB). Each published network gets its own channels in its own order (a gather inside the graph), the
statistics it was trained with, then sigmoid:

``p = σ(f((x[:, order] − mean) / std))``

Heads from several checkpoints (:func:`assign_heads`): the S1+S2 checkpoint is the fused head, the S1-only one the
``s1`` head (what cloudy tiles get), the S2-only one the ``s2`` head (tiles without S1). One checkpoint alone is the
fused head of a model of its modalities.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import ModelError
from ..models.normalization import BandNormalization
from . import reben
from .checkpoint import PublishedCheckpoint


class PublishedHead(nn.Module):
    """One published network on the project's inputs: its ``bands`` gathered from ``s2`` / ``s1`` (named
    ``s2_bands`` / ``s1_bands``), normalised with the published statistics, classified, sigmoid."""

    def __init__(
        self, network: nn.Module, bands: Sequence[str], s2_bands: Sequence[str], s1_bands: Sequence[str]
    ) -> None:
        super().__init__()
        names = {"s2": tuple(s2_bands), "s1": tuple(s1_bands)}
        self.sources = tuple(m for m in ("s2", "s1") if set(bands) & set(names[m]))
        available = [b for m in self.sources for b in names[m]]
        missing = [b for b in bands if b not in available]
        if missing:
            raise ModelError(f"the published model needs band(s) {', '.join(missing)}, which this model's inputs lack.")
        self.register_buffer("order", torch.tensor([available.index(b) for b in bands]), persistent=False)
        self.norm = BandNormalization(*reben.statistics(bands))
        self.network = network

    def forward(self, s2: Tensor, s1: Tensor) -> Tensor:
        inputs = {"s2": s2, "s1": s1}
        x = torch.cat([inputs[m] for m in self.sources], dim=1) if len(self.sources) > 1 else inputs[self.sources[0]]
        return torch.sigmoid(self.network(self.norm(x.index_select(1, self.order))))


class PublishedModel(nn.Module):
    """The exported model (the contract of :class:`~mosaic.backend.models.network.InferenceModel`): ``heads``
    (``"fused"`` first), ``probabilities(s2, s1) → {head: [N, 19]}``; ``forward`` returns the fused probabilities,
    or the tuple in ``heads`` order (ONNX outputs ``probabilities``, ``probabilities_s1``, ``probabilities_s2``)."""

    def __init__(self, heads: dict[str, PublishedHead]) -> None:
        super().__init__()
        self.heads = tuple(h for h in ("fused", "s1", "s2") if h in heads)
        if not self.heads or self.heads[0] != "fused":
            raise ValueError(f"heads {tuple(heads)} must include 'fused'")
        self.networks = nn.ModuleDict(heads)

    def probabilities(self, s2: Tensor, s1: Tensor) -> dict[str, Tensor]:
        return {h: self.networks[h](s2, s1) for h in self.heads}

    def forward(self, s2: Tensor, s1: Tensor) -> Tensor | tuple[Tensor, ...]:
        probs = self.probabilities(s2, s1)
        return probs["fused"] if self.heads == ("fused",) else tuple(probs[h] for h in self.heads)


def assign_heads(checkpoints: Sequence[PublishedCheckpoint]) -> dict[str, PublishedCheckpoint]:
    """``{head: checkpoint}`` for a model of ``checkpoints`` (any subset of S1+S2, S1-only, S2-only but the S1 and
    S2 pair without S1+S2): the S1+S2 one is ``fused``, the others ``s1`` / ``s2``; one checkpoint alone is
    ``fused``. :class:`ModelError` for two of one kind, or S1-only and S2-only without an S1+S2 checkpoint."""
    by_config: dict[str, PublishedCheckpoint] = {}
    for ckpt in checkpoints:
        config = ckpt.model_id.band_config
        if config in by_config:
            raise ModelError(
                f"{by_config[config].folder} and {ckpt.folder} are both {config} models; give one checkpoint per "
                "modality (S1+S2, S1 only, S2 only)."
            )
        by_config[config] = ckpt
    if len(by_config) == 1:
        return {"fused": next(iter(by_config.values()))}
    if "all" not in by_config:
        raise ModelError(
            "an S1-only and an S2-only checkpoint make no fused head; add the S1+S2 (all) checkpoint of the same "
            "architecture, or import each on its own."
        )
    return {reben.HEAD_OF[config]: ckpt for config, ckpt in by_config.items()}


def modalities_of(heads: dict[str, PublishedCheckpoint]) -> str:
    """The model's modalities: those of its fused head's checkpoint."""
    return heads["fused"].modalities


def build_model(
    heads: dict[str, PublishedCheckpoint], s2_bands: Sequence[str], s1_bands: Sequence[str]
) -> PublishedModel:
    """The graph of ``heads`` (:func:`assign_heads`) on inputs named ``s2_bands`` / ``s1_bands``, in eval mode."""
    return PublishedModel(
        {h: PublishedHead(ckpt.build(), ckpt.bands, s2_bands, s1_bands) for h, ckpt in heads.items()}
    ).eval()

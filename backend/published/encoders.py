"""MoSAiC encoders initialised from published reBEN checkpoints (``mosaic train --model.init_published DIR...``).

Each encoder of the network (:attr:`~mosaic.backend.models.network.MosaicNet.branches`) takes the weights of the
published checkpoint of its modalities: late fusion the ``s1`` encoder from the S1-only model and the ``s2`` encoder
from the S2-only one; early fusion (one encoder on the stacked S2 + S1 bands) from the S1+S2 model; a one-modality
network from that modality's model. Projection heads, fusion and classifiers start fresh.

So that the same physical band meets the same weights, the first layer's input channels are permuted from the
checkpoint's band order (which depends on its version) to the network's: ``W[:, i] = W_published[:, j]`` where
network band ``i`` is checkpoint band ``j``. The network must normalise each band as the checkpoint was trained
(BigEarthNet v2.0 statistics, nearest upsampling) and use the same timm architecture; otherwise the run is refused
in one line before training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import ConfigError
from . import reben
from .checkpoint import PublishedCheckpoint, model_id_of_path, read_checkpoint

#: The band config whose checkpoint initialises each encoder branch of a network.
BRANCH_CONFIG: dict[str, str] = {"s1": "s1", "s2": "s2", "s1s2": "all"}


def load_published_encoders(
    net, folders: Sequence[str], backbone: str, s2_bands: Sequence[str], s1_bands: Sequence[str]
) -> dict[str, str]:
    """Load the encoders of ``net`` (a ``MosaicNet`` of timm ``backbone`` with inputs named ``s2_bands`` /
    ``s1_bands``) from the published checkpoints in ``folders``; returns ``{branch: model id}``."""
    checkpoints = _by_branch(net.branches, folders)
    names = {"s2": list(s2_bands), "s1": list(s1_bands), "s1s2": [*s2_bands, *s1_bands]}  # early fusion: S2, S1
    for branch, ckpt in checkpoints.items():
        if ckpt.model_id.architecture != backbone:
            raise ConfigError(
                f"model.init_published: {ckpt.model_id} holds {ckpt.model_id.architecture} encoders but "
                f"model.backbone is {backbone}; set --model.backbone {ckpt.model_id.architecture}."
            )
        for m in ("s2", "s1") if branch == "s1s2" else (branch,):
            _check_normalisation(net.norm[m], names[m], ckpt)
        net.encoder[branch].load_state_dict(encoder_state(ckpt, names[branch]), strict=True)
    return {branch: str(ckpt.model_id) for branch, ckpt in checkpoints.items()}


def _by_branch(branches: Sequence[str], folders: Sequence[str]) -> dict[str, PublishedCheckpoint]:
    """The checkpoint of each branch; :class:`ConfigError` when one is missing, given twice or not used."""
    given: dict[str, PublishedCheckpoint] = {}
    for folder in folders:
        if model_id_of_path(Path(folder)) is None:
            raise ConfigError(
                f"model.init_published: the reBEN version of {folder} is unknown (the band order differs between "
                "versions); use the folder `mosaic models get --no-import` downloads, or name it after its model "
                "id, e.g. resnet50-s2-v0.2.0."
            )
        ckpt = read_checkpoint(folder)
        if ckpt.model_id.band_config in given:
            raise ConfigError(f"model.init_published gives two {ckpt.model_id.band_config} checkpoints; give one.")
        given[ckpt.model_id.band_config] = ckpt
    needed = {BRANCH_CONFIG[b]: b for b in branches}
    if set(given) != set(needed):
        wanted = " and ".join(f"an {c} (for the {b} encoder)" for c, b in needed.items())
        got = ", ".join(str(c.model_id) for c in given.values()) or "none"
        raise ConfigError(f"model.init_published needs {wanted} checkpoint of this network; got {got}.")
    return {needed[config]: ckpt for config, ckpt in given.items()}


def _check_normalisation(norm, bands: Sequence[str], ckpt: PublishedCheckpoint) -> None:
    """Refuse a normalisation layer (``BandNormalization`` of ``bands``) that normalises a band otherwise than
    the checkpoint was trained."""
    try:
        mean, std = reben.statistics(bands)
    except ValueError as exc:
        raise ConfigError(f"model.init_published: {exc}") from None
    for band, got_mean, got_std, want_mean, want_std in zip(
        bands, norm.mean.flatten().tolist(), norm.std.flatten().tolist(), mean, std
    ):
        if not (math.isclose(got_mean, want_mean, rel_tol=1e-6) and math.isclose(got_std, want_std, rel_tol=1e-6)):
            raise ConfigError(
                f"model.init_published: {ckpt.model_id} was trained on {band} normalised with mean {want_mean:.4g}, "
                f"std {want_std:.4g} (BigEarthNet v2.0, nearest upsampling), but this run uses {got_mean:.4g}, "
                f"{got_std:.4g}; use data.upsampling nearest and no model.norm_mean / norm_std."
            )


def encoder_state(ckpt: PublishedCheckpoint, bands: Sequence[str]) -> dict[str, torch.Tensor]:
    """The published network's weights without its classifier (timm ``reset_classifier(0)``), its first layer's
    input channels reordered to ``bands``; :class:`ConfigError` when ``bands`` are not the checkpoint's bands."""
    if sorted(bands) != sorted(ckpt.bands):
        raise ConfigError(
            f"model.init_published: {ckpt.model_id} takes the bands {' '.join(ckpt.bands)}, but this encoder takes "
            f"{' '.join(bands)}; use data.s2_bands s2_10 (and S1 VV, VH)."
        )
    model = ckpt.build()
    model.reset_classifier(0)
    state = model.state_dict()
    first = f"{model.pretrained_cfg['first_conv']}.weight"
    order = torch.tensor([list(ckpt.bands).index(b) for b in bands])
    state[first] = state[first].index_select(1, order).clone()
    return state

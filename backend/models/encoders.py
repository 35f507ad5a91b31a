"""One image encoder per modality, from timm, returning globally pooled features ``[N, F]``."""

from __future__ import annotations

import timm
from torch import nn

from ..errors import ConfigError

#: Backbones tested with MoSAiC (any timm model with ``num_classes=0`` pooling works; these are documented).
BACKBONES: tuple[str, ...] = (
    "resnet18",
    "resnet50",
    "convnextv2_atto",
    "convnextv2_femto",
    "convnextv2_pico",
    "convnextv2_nano",
    "convnextv2_tiny",
    "convnextv2_base",
)


def build_encoder(backbone: str, in_chans: int, pretrained: bool = False) -> nn.Module:
    """A timm ``backbone`` with ``in_chans`` input bands and no classifier (``forward`` → pooled ``[N, F]``).

    ``pretrained`` loads ImageNet weights from the timm hub (first conv adapted by timm to ``in_chans``);
    off by default, as the training machines may have no internet.
    """
    if backbone not in timm.list_models():
        raise ConfigError(f"unknown backbone {backbone!r}; choose a timm model such as {', '.join(BACKBONES)}")
    return timm.create_model(backbone, pretrained=pretrained, in_chans=in_chans, num_classes=0)

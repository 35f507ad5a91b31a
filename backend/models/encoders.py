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


def build_encoder(
    backbone: str,
    in_chans: int,
    pretrained: bool = False,
    max_pool: bool = True,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
) -> nn.Module:
    """A timm ``backbone`` with ``in_chans`` input bands and no classifier (``forward`` → pooled ``[N, F]``).

    ``pretrained`` loads ImageNet weights from the timm hub (first conv adapted by timm to ``in_chans``);
    off by default, as the training machines may have no internet. ``max_pool=False`` drops a ResNet's stem
    max-pool (IaI-SimCLR's ``model.py: ResNetEncoder`` does; no effect on backbones without one, e.g. ConvNeXt).
    ``drop_rate`` (dropout on the pooled feature) and ``drop_path_rate`` (stochastic depth) are timm's.
    """
    if backbone not in timm.list_models():
        raise ConfigError(f"unknown backbone {backbone!r}; choose a timm model such as {', '.join(BACKBONES)}")
    encoder = timm.create_model(
        backbone,
        pretrained=pretrained,
        in_chans=in_chans,
        num_classes=0,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
    )
    if not max_pool and isinstance(getattr(encoder, "maxpool", None), nn.MaxPool2d):
        encoder.maxpool = nn.Identity()
    return encoder

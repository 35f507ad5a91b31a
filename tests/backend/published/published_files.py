"""Published-format reBEN checkpoints made by the tests: the official architecture built by ``configilm`` (the
library the models were trained and published with) at random weights with non-trivial BatchNorm statistics, saved
as the model pages hold them: ``config.json`` (``json.dumps(config.as_dict(), sort_keys=True, indent=2)``) and
``model.safetensors`` (the Lightning module's state dict: keys ``model.vision_encoder.<timm key>``)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

CHANNELS = {"s1": 2, "s2": 10, "all": 12}
#: The model cards' band orders (written out here independently of backend/published/reben.py).
CARD_ORDERS = {
    "0.1.1": {
        "s1": ["VH", "VV"],
        "s2": ["B02", "B03", "B04", "B08", "B05", "B06", "B07", "B11", "B12", "B8A"],
        "all": ["B02", "B03", "B04", "B08", "B05", "B06", "B07", "B11", "B12", "B8A", "VH", "VV"],
    },
    "0.2.0": {
        "s1": ["VV", "VH"],
        "s2": ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"],
        "all": ["VV", "VH", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"],
    },
}


def official_model(timm_name: str, band_config: str, seed: int = 0):
    """The configilm model (``ConfigILM.ConfigILM``) of a published checkpoint, random weights: every parameter
    that timm initialises to a constant (norm weights and biases, GRN, layer scales) and every BatchNorm running
    mean / variance drawn at random."""
    from configilm import ConfigILM

    config = ConfigILM.ILMConfiguration(
        timm_model_name=timm_name,
        channels=CHANNELS[band_config],
        classes=19,
        image_size=120,
        drop_rate=0.15,
        drop_path_rate=0.15,
    )
    torch.manual_seed(seed)
    model = ConfigILM.ConfigILM(config)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if (p.numel() > 1 and float(p.std()) == 0.0) or p.numel() == 1:
                p.add_(0.2 * torch.randn(p.shape, generator=generator))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.3 * torch.randn(b.shape, generator=generator))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=generator))
    return model.eval(), config


def write_published(folder: Path, timm_name: str, band_config: str, seed: int = 0):
    """Save the :func:`official_model` in the published format into ``folder`` (created); returns the model."""
    from safetensors.torch import save_model

    model, config = official_model(timm_name, band_config, seed)
    holder = nn.Module()
    holder.model = model  # the published Lightning module holds the configilm model as ``model``
    folder.mkdir(parents=True, exist_ok=True)
    save_model(holder, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config.as_dict(), sort_keys=True, indent=2), encoding="utf-8")
    return model

"""Fusion and projection heads."""

from __future__ import annotations

from torch import nn


def projection_head(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """SimCLR-style projection ``Linear → BatchNorm → ReLU → Linear`` (contrastive losses act on its output)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )


def fusion_mlp(in_dim: int, out_dim: int, dropout: float = 0.1) -> nn.Sequential:
    """Fuses the concatenated pooled S1 and S2 features: ``Linear → LayerNorm → GELU → Dropout``."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.GELU(), nn.Dropout(dropout))

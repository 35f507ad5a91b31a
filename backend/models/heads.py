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


def mulsupcon_head(in_dim: int, out_dim: int = 256, dropout: float = 0.1) -> nn.Sequential:
    """MulSupCon's projection (official ``models.py: MLP``, one hidden layer): ``Linear(d → d') → BatchNorm → ReLU →
    Dropout(0.1) → Linear(d' → out_dim)`` with the hidden width halved, ``d' = d // 2`` when ``d ≥ 2 · out_dim``,
    else ``d' = out_dim`` (ResNet-50's 2048 → 1024 → 256)."""
    hidden = in_dim // 2 if in_dim >= 2 * out_dim else out_dim
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_dim),
    )


def fusion_mlp(in_dim: int, out_dim: int, dropout: float = 0.1) -> nn.Sequential:
    """Fuses the concatenated pooled S1 and S2 features: ``Linear → LayerNorm → GELU → Dropout``."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.GELU(), nn.Dropout(dropout))

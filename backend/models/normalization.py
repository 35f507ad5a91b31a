"""Per-band input normalisation inside the network, so the model takes physical units."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class BandNormalization(nn.Module):
    """``x_norm = (clip_b(x) - mean_b) / std_b`` per band ``b``; NaN (S1 nodata) becomes 0, i.e. the band mean.

    ``clip_b`` limits band ``b`` to ``valid_range[b] = (low, high)`` when given (the range its training data was
    clipped to; NaN stays NaN). ``mean`` and ``std`` are buffers, so they travel with every checkpoint and into the
    ONNX graph; the range is rebuilt from the model's configuration and is a constant of the graph.
    Input ``[N, C, H, W]`` in physical units (S2 reflectance × 10000, S1 dB).
    """

    def __init__(
        self, mean: Sequence[float], std: Sequence[float], valid_range: Sequence[tuple[float, float]] | None = None
    ) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"{len(mean)} band means but {len(std)} standard deviations")
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))
        self.clipped = valid_range is not None
        if valid_range is not None:
            if len(valid_range) != len(mean):
                raise ValueError(f"{len(mean)} band means but {len(valid_range)} valid ranges")
            low, high = range_bounds(valid_range)
            self.register_buffer("low", low, persistent=False)
            self.register_buffer("high", high, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.clipped:
            x = clip_bands(x, self.low, self.high)
        return torch.nan_to_num((x - self.mean) / self.std, nan=0.0)


def range_bounds(valid_range: Sequence[tuple[float, float]]) -> tuple[Tensor, Tensor]:
    """``(low, high)`` as float32 ``[1, C, 1, 1]`` tensors of the per-band ``(low, high)`` pairs."""
    low, high = zip(*valid_range, strict=True)
    return tuple(torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in (low, high))


def clip_bands(x: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """``x [N, C, H, W]`` limited to ``[low_b, high_b]`` per band (``low``, ``high``: ``[1, C, 1, 1]``); NaN stays
    NaN, since comparisons with it are false (in ONNX: Less / Greater and Where)."""
    x = torch.where(x < low, low, x)
    return torch.where(x > high, high, x)

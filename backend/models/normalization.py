"""Per-band input normalisation inside the network, so the model takes physical units."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class BandNormalization(nn.Module):
    """``x_norm = (x - mean_b) / std_b`` per band ``b``; NaN (S1 nodata) becomes 0, i.e. the band mean.

    ``mean`` and ``std`` are buffers, so they travel with every checkpoint and into the ONNX graph.
    Input ``[N, C, H, W]`` in physical units (S2 reflectance × 10000, S1 dB).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"{len(mean)} band means but {len(std)} standard deviations")
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.nan_to_num((x - self.mean) / self.std, nan=0.0)

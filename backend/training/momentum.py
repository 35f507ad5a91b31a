"""MulSupCon's momentum key network and label queue (official MulSupCon code, MoCo-style; Zhang & Wu 2024).

The key network is a copy of the query network that is never trained by gradients; before every training step it
moves towards the query network by an exponential moving average of the parameters::

    θ_k ← m · θ_k + (1 - m) · θ_q        (m = 0.999, the official default)

:class:`LabelQueue` keeps the L2-normalised key projections of the last ``size`` labelled samples with their
multi-hot labels (a ring buffer; the official default holds 2048). As in the official code, the queue joins the
keys only once it has been filled completely, and a batch's own keys are enqueued after its loss. Everything is a
buffer, so checkpoints carry the queue and resumed runs continue exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


@torch.no_grad()
def momentum_update(key_net: nn.Module, query_net: nn.Module, momentum: float) -> None:
    """``θ_k ← m · θ_k + (1 - m) · θ_q`` for every parameter pair (buffers such as BatchNorm statistics stay the
    key network's own, as in the official code)."""
    for p_k, p_q in zip(key_net.parameters(), query_net.parameters(), strict=True):
        p_k.mul_(momentum).add_(p_q.detach(), alpha=1.0 - momentum)


class LabelQueue(nn.Module):
    """Ring buffer of ``size`` key projections ``[size, dim]`` and their labels ``[size, n_classes]``."""

    def __init__(self, size: int, dim: int, n_classes: int) -> None:
        super().__init__()
        if size <= 0:
            raise ValueError(f"the label queue needs a positive size, not {size}")
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("labels", torch.zeros(size, n_classes))
        self.register_buffer("position", torch.zeros((), dtype=torch.long))
        self.register_buffer("full", torch.zeros((), dtype=torch.bool))

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    def contents(self) -> tuple[Tensor, Tensor]:
        """The queued ``(keys, labels)`` once the queue is full, two empty tensors before."""
        if bool(self.full):
            return self.keys, self.labels
        return self.keys[:0], self.labels[:0]

    @torch.no_grad()
    def push(self, keys: Tensor, labels: Tensor) -> None:
        """Write ``keys`` ``[n, dim]`` and ``labels`` ``[n, n_classes]`` at the write position, wrapping around
        (the oldest entries are replaced; of more than ``size`` rows only the last ``size`` stay)."""
        keys, labels = keys[-self.size :], labels[-self.size :]
        n = keys.shape[0]
        if n == 0:
            return
        rows = (self.position + torch.arange(n, device=self.keys.device)) % self.size
        self.keys[rows] = keys.to(self.keys.dtype)
        self.labels[rows] = labels.to(self.labels.dtype)
        end = int(self.position) + n
        self.full.fill_(bool(self.full) or end >= self.size)
        self.position.fill_(end % self.size)

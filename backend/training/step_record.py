"""``StepRecord``: one training step's loss and terms, read from the device without stalling it.

Reading a device value (``.item()``) makes the host wait until the device has run everything queued so far, which
leaves it idle while the next step is prepared. :meth:`StepRecord.defer` therefore copies the values to pinned host
memory without waiting (a CUDA event marks the copy); :meth:`StepRecord.read` one step later waits for that copy
only, which the device finished long before. On CPU the values are copied at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError


@dataclass
class StepRecord:
    """One step's loss and terms (``values``: ``[loss, *terms]``, named by ``names``), possibly still on the device."""

    step: int
    epoch: int
    names: list[str]
    batch_size: int
    values: Tensor
    ready: Any = None  # a device event after the copy to pinned host memory

    @classmethod
    def of(cls, step: int, epoch: int, loss: Tensor, terms: dict[str, Tensor], batch_size: int = 0) -> StepRecord:
        """The record of ``loss`` and ``terms`` (detached, as float32), its copy to the host started."""
        values = torch.stack([loss.detach(), *(v.detach() for v in terms.values())]).float()
        record = cls(step, epoch, ["loss", *terms], batch_size, values)
        record.defer()
        return record

    @property
    def deferred(self) -> bool:
        """Whether reading it may still wait for the device (CUDA): then read it one step later."""
        return self.ready is not None

    def defer(self) -> None:
        """On CUDA, start the copy to pinned host memory without waiting for the device (other devices: copy)."""
        if self.values.device.type != "cuda":
            self.values = self.values.cpu()
            return
        host = torch.empty(self.values.shape, dtype=self.values.dtype, pin_memory=True)
        host.copy_(self.values, non_blocking=True)
        self.ready = torch.cuda.Event()
        self.ready.record()
        self.values = host

    def read(self) -> dict[str, float]:
        """``{name: value}`` as floats (waits for the copy only, not for the work queued after it)."""
        if self.ready is not None:
            self.ready.synchronize()
        return dict(zip(self.names, self.values.tolist(), strict=True))

    def checked(self) -> dict[str, float]:
        """:meth:`read`, or a :class:`ConfigError` naming the step and every term when the loss is NaN/Inf."""
        named = self.read()
        if not math.isfinite(named["loss"]):
            parts = ", ".join(f"{t}={v:.4g}" for t, v in list(named.items())[1:])
            raise ConfigError(
                f"the loss became {named['loss']} at step {self.step} (epoch {self.epoch}; {parts}): "
                "lower protocol.lr or check the input data for NaN/Inf values"
            )
        return named

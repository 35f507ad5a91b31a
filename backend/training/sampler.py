"""``EpochSampler``: the train shuffle as a pure function of (seed, epoch), so a run resumes mid-epoch exactly.

The order of epoch ``e`` is ``torch.randperm(n, generator=manual_seed(seed + e))``; ``seed`` is drawn once from
the global torch RNG when the sampler is built (so ``seed_everything`` fixes it) and travels in checkpoints
(:meth:`MosaicDataModule.state_dict`). After :meth:`resume` the resumed epoch yields only the samples of the
batches not yet trained, in the same order; later epochs are whole. The sampler draws nothing from the global
RNG while iterating, so augmentations see the same random stream whether a run was interrupted or not.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """Random permutation of ``range(n)`` per epoch (Lightning calls :meth:`set_epoch` at every epoch start)."""

    def __init__(self, n: int, seed: int | None = None) -> None:
        self.n = n
        self.seed = int(torch.empty((), dtype=torch.int64).random_().item()) if seed is None else int(seed)
        self.epoch = 0
        self._skip: tuple[int, int] | None = None  # (epoch, samples already trained in it)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, samples_done: int) -> None:
        """Make epoch ``epoch`` start after its first ``samples_done`` samples (once)."""
        self._skip = (epoch, samples_done)

    def order(self, epoch: int) -> list[int]:
        """The full sample order of ``epoch``."""
        generator = torch.Generator().manual_seed((self.seed + epoch) % 2**63)
        return torch.randperm(self.n, generator=generator).tolist()

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)
        if self._skip is not None and self._skip[0] == self.epoch:
            order = order[self._skip[1] :]
        self._skip = None
        return iter(order)

    def __len__(self) -> int:
        return self.n  # Lightning counts the epoch's batches from this, resumed or not

"""Train orders as pure functions of (seed, epoch), so a run resumes mid-epoch exactly.

:class:`EpochSampler`: the order of epoch ``e`` is ``torch.randperm(n, generator=manual_seed(seed + e))``.
:class:`SceneSampler`: IaI-SimCLR's location sampler (official ``batchSampler.py: LocationSampler`` with
``percentageRandom: 0``): every batch of the epoch is drawn from one scene.

``seed`` is the protocol's seed (``protocol.seed``), never drawn from the global RNG, so the order does not depend
on what was built before the loader (a model with more heads draws more initial weights). It travels in checkpoints
(:meth:`MosaicDataModule.state_dict`). After :meth:`EpochSampler.resume` the resumed epoch yields only the samples
of the batches not yet trained, in the same order; later epochs are whole. The samplers draw nothing from the
global RNG while iterating, so augmentations see the same random stream whether a run was interrupted or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

#: A BigEarthNet v2 / ``mosaic prepare`` patch id: the S2 product (tile and date) followed by ``_<row>_<col>``.
_PATCH_IN_PRODUCT = re.compile(r"^(?P<scene>.+)_\d+_\d+$")


class EpochSampler(Sampler[int]):
    """Random permutation of ``range(n)`` per epoch (Lightning calls :meth:`set_epoch` at every epoch start)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = int(seed)
        self.epoch = 0
        self._skip: tuple[int, int] | None = None  # (epoch, samples already trained in it)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, samples_done: int) -> None:
        """Make epoch ``epoch`` start after its first ``samples_done`` samples (once)."""
        self._skip = (epoch, samples_done)

    def generator(self, epoch: int) -> torch.Generator:
        """The generator of ``epoch``'s order: seeded with ``seed + epoch``."""
        return torch.Generator().manual_seed((self.seed + epoch) % 2**63)

    def order(self, epoch: int) -> list[int]:
        """The full sample order of ``epoch``."""
        return torch.randperm(self.n, generator=self.generator(epoch)).tolist()

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)
        if self._skip is not None and self._skip[0] == self.epoch:
            order = order[self._skip[1] :]
        self._skip = None
        return iter(order)

    def __len__(self) -> int:
        return self.n  # Lightning counts the epoch's batches from this, resumed or not


class SceneSampler(EpochSampler):
    """IaI-SimCLR's location sampler: ``n // batch_size`` batches per epoch, each from one scene.

    For every batch a scene is drawn uniformly (the official code draws a season, then a scene of it) and
    ``batch_size`` of its patches without replacement; a scene with fewer patches is filled up with patches of other
    scenes drawn at random, as in the official code. Patches may recur across the batches of an epoch and some are
    not drawn in it (as there). The loader must take consecutive ``batch_size`` chunks (``drop_last``).
    """

    def __init__(self, scenes: Sequence[str], batch_size: int, seed: int) -> None:
        super().__init__(len(scenes), seed)
        groups: dict[str, list[int]] = {}
        for index, scene in enumerate(scenes):
            groups.setdefault(scene, []).append(index)
        self.groups = [groups[s] for s in sorted(groups)]
        self.batch_size = batch_size

    def order(self, epoch: int) -> list[int]:
        generator = self.generator(epoch)
        out: list[int] = []
        for _ in range(self.n // self.batch_size):
            group = self.groups[int(torch.randint(len(self.groups), (1,), generator=generator))]
            pick = torch.randperm(len(group), generator=generator)[: self.batch_size].tolist()
            batch = [group[i] for i in pick]
            if len(batch) < self.batch_size:  # distinct candidates, enough of them outside the scene
                taken = set(group)
                candidates = torch.randperm(self.n, generator=generator)[: self.batch_size + len(group)].tolist()
                batch += [i for i in candidates if i not in taken][: self.batch_size - len(batch)]
            out += batch
        return out


def scene_of(dataset, index: int) -> str:
    """The scene of sample ``index``: ``dataset.scene(index)`` where the dataset knows it (SEN12MS), else the S2
    product of a ``<product>_<row>_<col>`` patch id (BigEarthNet v2, ``mosaic prepare``), else the patch itself."""
    if hasattr(dataset, "scene"):
        return str(dataset.scene(index))
    patch = str(dataset.patch_id(index))
    found = _PATCH_IN_PRODUCT.match(patch)
    return found["scene"] if found else patch

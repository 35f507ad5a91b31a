"""The fast training input path: compact native-resolution batches from the workers, assembled on the device.

A sample as the contract defines it (``docs/contracts.md``) is float32 ``[C, 120, 120]``: for BigEarthNet's 10 S2
bands + 2 S1 bands, 691 KB, of which a worker process spends more time handing over than reading. Here a worker
reads a whole batch per call (:meth:`NativeBatches.__getitems__`, one LMDB transaction) into preallocated arrays
at the stored resolution and type (S2 uint16 at 120/60/20 px, S1 float32: ~275 KB a sample). With workers
(:func:`native_loader`) the arrays are a slot of the loader's :class:`BatchRing`, shared memory allocated once, so
only ``(slot, rows)`` crosses the process boundary and no page is mapped or zeroed per batch. The main process moves
the batch to the device (pinned, non-blocking) and :func:`assemble_batch` upsamples, converts and stacks it there
as batched tensor ops,
with the same arithmetic as :func:`~mosaic.backend.data.readers.stack_bands` (:func:`~.readers.upsample`), so
the model sees the same numbers as through ``dataset[i]``.

A compact batch is a dict of tensors: ``s2@<px>`` (S2 bands stored at ``px × px``, stored dtype), ``s1@<px>``,
``label`` ``float32 [B, n_classes]``, ``labelled`` ``bool [B]``, ``index`` ``int64 [B]`` (dataset rows; no
per-sample strings). :class:`BatchLayout` says which band of the model's order sits in which group and slot.
"""

from __future__ import annotations

import copy
import os
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from ..errors import InputError
from .bands import Upsampling
from .readers import upsample

#: A group key: modality and stored side in pixels, e.g. ``("s2", 60)`` → batch key ``"s2@60"``.
Group = tuple[str, int]


def group_key(group: Group) -> str:
    """The compact batch's key of ``group``: ``"s2@60"``."""
    return f"{group[0]}@{group[1]}"


@dataclass(frozen=True)
class BatchLayout:
    """Where each band of the model's order lives in a compact batch.

    ``groups[(modality, px)]`` lists the bands stored at ``px × px`` (in the model's order), ``channels`` the
    model-order channel of each of them, ``dtypes`` the stored numpy dtype per group.
    """

    s2_bands: tuple[str, ...]
    s1_bands: tuple[str, ...]
    size: int
    upsampling: Upsampling
    groups: Mapping[Group, tuple[str, ...]]
    channels: Mapping[Group, tuple[int, ...]]
    dtypes: Mapping[Group, np.dtype]

    @classmethod
    def from_patch(
        cls,
        s2: Mapping[str, np.ndarray],
        s1: Mapping[str, np.ndarray],
        s2_bands: Sequence[str],
        s1_bands: Sequence[str],
        size: int,
        upsampling: Upsampling,
    ) -> BatchLayout:
        """The layout of one patch's stored arrays ``{band: array}`` (every patch of a dataset shares it)."""
        groups: dict[Group, list[str]] = {}
        channels: dict[Group, list[int]] = {}
        dtypes: dict[Group, np.dtype] = {}
        for modality, arrays, bands in (("s2", s2, s2_bands), ("s1", s1, s1_bands)):
            for channel, band in enumerate(bands):
                if band not in arrays:
                    raise InputError(f"band {band} is missing from the patch; it holds {sorted(arrays)}")
                a = arrays[band]
                px = int(a.shape[-1])
                if a.ndim != 2 or a.shape[0] != px or size % px:
                    raise InputError(
                        f"band {band} is {'×'.join(map(str, a.shape))} px, which does not divide "
                        f"the {size} px patch grid"
                    )
                groups.setdefault((modality, px), []).append(band)
                channels.setdefault((modality, px), []).append(channel)
                dtypes[(modality, px)] = np.dtype(a.dtype).newbyteorder("=")
        return cls(
            tuple(s2_bands),
            tuple(s1_bands),
            size,
            upsampling,
            {g: tuple(b) for g, b in groups.items()},
            {g: tuple(c) for g, c in channels.items()},
            dtypes,
        )

    @property
    def sample_bytes(self) -> int:
        """Bytes of one sample's stored bands (BigEarthNet: 10 S2 bands 158 KB + 2 S1 bands 115 KB = 274 KB)."""
        return sum(len(b) * g[1] ** 2 * self.dtypes[g].itemsize for g, b in self.groups.items())


#: Batches the consumer may still read after taking a newer one (Lightning's fetcher looks one batch ahead).
HELD_BATCHES = 2

#: The rings of this process by token: a worker names a slot, the main process finds the arrays here.
_RINGS: weakref.WeakValueDictionary[str, BatchRing] = weakref.WeakValueDictionary()


def _shared_array(shape: tuple[int, ...], dtype: np.dtype) -> torch.Tensor:
    """An uninitialised tensor allocated directly in shared memory (no private copy first)."""
    t = torch.from_numpy(np.empty(0, dtype=dtype))
    storage = t.untyped_storage()._new_shared(int(np.prod(shape)) * t.element_size())
    return t.new_empty(0).set_(storage).view(shape)


#: Where POSIX shared memory (torch's worker batches) lives on Linux; only its free space is read (statvfs),
#: nothing is written there by this module.
SHARED_MEMORY = "/dev/shm"  # noqa: S108  # nosec B108


def _check_shared_memory(nbytes: int, folder: str = SHARED_MEMORY) -> None:
    """Refuse a ring larger than the free shared memory (a worker writing past it dies of SIGBUS)."""
    if not os.path.isdir(folder):
        return
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    if nbytes > free:
        raise InputError(
            f"the loader's batch ring needs {nbytes / 2**30:.1f} GiB of shared memory but {folder} has "
            f"{free / 2**30:.1f} GiB free: use fewer loader workers or a smaller batch, or give "
            f"{folder} more room (docker run --shm-size)"
        )


class BatchRing:
    """The compact batch slots of one worker loader, allocated once in shared memory.

    Worker ``w`` fills its own ``per_worker`` slots in turn (a shared counter each, so restarted workers go on
    where the last ones stopped). A ``DataLoader`` hands its workers the batches in turn and dispatches batch ``g``
    when the consumer takes batch ``g − P`` (``P = prefetch_factor × workers`` in flight). With
    ``per_worker = prefetch_factor + ⌈(HELD_BATCHES + 1) / workers⌉`` batch ``g`` goes into the slot of batch
    ``g − per_worker × workers ≤ g − P − HELD_BATCHES − 1``: the consumer took it more than ``HELD_BATCHES``
    batches ago, and the pinning thread, when there is one, copied it before that. Memory:
    ``workers × per_worker × batch_size × bytes per sample`` (17.5 MB a slot for BigEarthNet's 10+2 bands at 64).
    """

    def __init__(self, layout: BatchLayout, n_classes: int, batch_size: int, workers: int, prefetch_factor: int):
        self.workers = workers
        self.per_worker = prefetch_factor + -(-(HELD_BATCHES + 1) // workers)
        slots = workers * self.per_worker
        _check_shared_memory(slots * batch_size * (layout.sample_bytes + n_classes * 4 + 1 + 8))
        self.arrays = {
            group_key(g): _shared_array((slots, batch_size, len(bands), g[1], g[1]), layout.dtypes[g])
            for g, bands in layout.groups.items()
        }
        self.arrays["label"] = _shared_array((slots, batch_size, n_classes), np.dtype(np.float32))
        self.arrays["labelled"] = _shared_array((slots, batch_size), np.dtype(bool))
        self.arrays["index"] = _shared_array((slots, batch_size), np.dtype(np.int64))
        self.counters = _shared_array((workers,), np.dtype(np.int64)).zero_()
        self.token = uuid.uuid4().hex
        _RINGS[self.token] = self

    def claim(self, worker: int) -> int:
        """The next slot of ``worker`` (called in that worker only)."""
        count = int(self.counters[worker])
        self.counters[worker] = count + 1
        return worker * self.per_worker + count % self.per_worker

    def batch(self, slot: int, rows: int) -> dict[str, torch.Tensor]:
        """The first ``rows`` rows of ``slot`` as a compact batch of views."""
        return {key: a[slot, :rows] for key, a in self.arrays.items()}


class _SlotRef:
    """What a worker returns for a batch it wrote into a ring: it unpickles, in the main process, as the slot's
    views (``BatchRing.batch``), so a few bytes cross the process boundary instead of the arrays."""

    def __init__(self, token: str, slot: int, rows: int) -> None:
        self.token, self.slot, self.rows = token, slot, rows

    def __reduce__(self):
        return _ring_batch, (self.token, self.slot, self.rows)


def _ring_batch(token: str, slot: int, rows: int) -> dict[str, torch.Tensor]:
    return _RINGS[token].batch(slot, rows)


class NativeBatches(Dataset):
    """A map-style view of ``dataset`` whose ``__getitems__`` returns one compact batch (see module docstring).

    ``dataset`` must provide ``read_native(indices) -> iterator of (s2 arrays, s1 arrays)`` (``{band: array}``
    at the stored resolution) and ``labels``, ``labelled_mask``, ``s2_bands``, ``s1_bands``, ``patch_size_px``,
    ``upsampling``. Use it with ``DataLoader(..., collate_fn=keep_batch)``.
    """

    def __init__(self, dataset) -> None:
        self.dataset = dataset
        self.ring: BatchRing | None = None
        s2, s1 = next(iter(dataset.read_native([0])))
        self.layout = BatchLayout.from_patch(
            s2, s1, dataset.s2_bands, dataset.s1_bands, dataset.patch_size_px, dataset.upsampling
        )

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor] | _SlotRef:
        """One compact batch of the dataset rows ``indices``: in a worker of a :func:`native_loader`, written
        into the next slot of its ring (returned as a reference to it), else into new arrays."""
        n = len(indices)
        worker = get_worker_info()
        slot = self.ring.claim(worker.id) if self.ring is not None and worker is not None else None
        if slot is not None:
            out = self.ring.batch(slot, n)
        else:
            out = {
                group_key(g): torch.empty((n, len(b), g[1], g[1]), dtype=_torch_dtype(self.layout.dtypes[g]))
                for g, b in self.layout.groups.items()
            }
        views = {group: out[group_key(group)].numpy() for group in self.layout.groups}
        for row, (s2, s1) in enumerate(self.dataset.read_native(indices)):
            for group, bands in self.layout.groups.items():
                arrays = s2 if group[0] == "s2" else s1
                for j, band in enumerate(bands):
                    try:
                        views[group][row, j] = arrays[band]
                    except (KeyError, ValueError):
                        raise InputError(
                            f"patch row {indices[row]}: band {band} is missing or not {group[1]}×{group[1]} px like "
                            "the first patch's; every patch of a dataset must store its bands alike"
                        ) from None
        index = np.asarray(indices, dtype=np.int64)
        labels = np.asarray(self.dataset.labels[index], dtype=np.float32)
        labelled = np.asarray(self.dataset.labelled_mask, dtype=bool)[index]
        if slot is not None:
            out["label"].numpy()[:] = labels
            out["labelled"].numpy()[:] = labelled
            out["index"].numpy()[:] = index
            return _SlotRef(self.ring.token, slot, n)
        out.update(label=torch.from_numpy(labels), labelled=torch.from_numpy(labelled), index=torch.from_numpy(index))
        return out


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=dtype)).dtype


def native_loader(native: NativeBatches, batch_size: int, num_workers: int = 0, **options) -> DataLoader:
    """A ``DataLoader`` of compact batches of ``native``; with workers, they fill a :class:`BatchRing` of their own
    (this loader's batch size, workers and ``prefetch_factor``). ``options`` are further ``DataLoader`` arguments."""
    if num_workers > 0:
        ring = BatchRing(
            native.layout, native.dataset.labels.shape[1], batch_size, num_workers, options.get("prefetch_factor") or 2
        )
        native = copy.copy(native)
        native.ring = ring
    return DataLoader(native, batch_size=batch_size, num_workers=num_workers, collate_fn=keep_batch, **options)


def keep_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``collate_fn`` of a :class:`NativeBatches` loader: the batch is already assembled by ``__getitems__``."""
    return batch


def _stack(batch: Mapping[str, torch.Tensor], layout: BatchLayout, modality: str) -> torch.Tensor:
    """``float32 [B, C, size, size]`` of ``modality``'s bands in the model's order, upsampled per group."""
    size = layout.size
    n_bands = len(layout.s2_bands if modality == "s2" else layout.s1_bands)
    groups = [g for g in layout.groups if g[0] == modality]
    first = batch[group_key(groups[0])]
    out = torch.empty((first.shape[0], n_bands, size, size), dtype=torch.float32, device=first.device)
    for group in groups:
        x = batch[group_key(group)].float()
        if group[1] != size:
            x = upsample(x, size, layout.upsampling)
        channels = layout.channels[group]
        if channels == tuple(range(channels[0], channels[0] + len(channels))):
            out[:, channels[0] : channels[0] + len(channels)] = x
        else:
            out.index_copy_(1, torch.tensor(channels, device=out.device), x)
    return out


def assemble_batch(batch: Mapping[str, torch.Tensor], layout: BatchLayout) -> dict[str, torch.Tensor]:
    """The contract's batch (``s2``, ``s1`` float32 ``[B, C, size, size]`` in physical units, ``label``,
    ``labelled``, ``index``) from a compact batch, computed on the batch's device."""
    return {
        "s2": _stack(batch, layout, "s2"),
        "s1": _stack(batch, layout, "s1"),
        # copies: nothing of the batch refers to a ring slot once assembled (the slot is refilled soon)
        "label": batch["label"].to(torch.float32, copy=True),
        "labelled": batch["labelled"].to(torch.bool, copy=True),
        "index": batch["index"].clone(),
    }

"""The fast training input path: compact native-resolution batches from the workers, assembled on the device.

A sample as the contract defines it (``docs/contracts.md``) is float32 ``[C, 120, 120]``: for BigEarthNet's 10 S2
bands + 2 S1 bands, 691 KB, of which a worker process spends more time handing over than reading. Here a worker
reads a whole batch per call (:meth:`NativeBatches.__getitems__`, one LMDB transaction) into preallocated arrays
at the stored resolution and type (S2 uint16 at 120/60/20 px, S1 float32: ~275 KB a sample), allocated in shared
memory so that only a handle crosses the process boundary. The main process moves the batch to the device
(pinned, non-blocking) and :func:`assemble_batch` upsamples, converts and stacks it there as batched tensor ops,
with the same arithmetic as :func:`~mosaic.backend.data.readers.stack_bands` (:func:`~.readers.upsample`), so
the model sees the same numbers as through ``dataset[i]``.

A compact batch is a dict of tensors: ``s2@<px>`` (S2 bands stored at ``px × px``, stored dtype), ``s1@<px>``,
``label`` ``float32 [B, n_classes]``, ``labelled`` ``bool [B]``, ``index`` ``int64 [B]`` (dataset rows; no
per-sample strings). :class:`BatchLayout` says which band of the model's order sits in which group and slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

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
        cls, s2: Mapping[str, np.ndarray], s1: Mapping[str, np.ndarray], s2_bands: Sequence[str],
        s1_bands: Sequence[str], size: int, upsampling: Upsampling,
    ) -> BatchLayout:  # fmt: skip
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
                    raise InputError(f"band {band} is {'×'.join(map(str, a.shape))} px, which does not divide "
                                     f"the {size} px patch grid")  # fmt: skip
                groups.setdefault((modality, px), []).append(band)
                channels.setdefault((modality, px), []).append(channel)
                dtypes[(modality, px)] = np.dtype(a.dtype).newbyteorder("=")
        return cls(tuple(s2_bands), tuple(s1_bands), size, upsampling, {g: tuple(b) for g, b in groups.items()},
                   {g: tuple(c) for g, c in channels.items()}, dtypes)  # fmt: skip


def _batch_array(shape: tuple[int, ...], dtype: np.dtype) -> tuple[torch.Tensor, np.ndarray]:
    """An uninitialised tensor (and its numpy view); in a loader worker, allocated directly in shared memory."""
    t = torch.from_numpy(np.empty(0, dtype=dtype))
    if get_worker_info() is not None:  # as torch's default_collate: the batch is born shared, not copied there
        storage = t.untyped_storage()._new_shared(int(np.prod(shape)) * t.element_size())
        t = t.new_empty(0).set_(storage).view(shape)
    else:
        t = t.new_empty(shape)
    return t, t.numpy()


class NativeBatches(Dataset):
    """A map-style view of ``dataset`` whose ``__getitems__`` returns one compact batch (see module docstring).

    ``dataset`` must provide ``read_native(indices) -> iterator of (s2 arrays, s1 arrays)`` (``{band: array}``
    at the stored resolution) and ``labels``, ``labelled_mask``, ``s2_bands``, ``s1_bands``, ``patch_size_px``,
    ``upsampling``. Use it with ``DataLoader(..., collate_fn=keep_batch)``.
    """

    def __init__(self, dataset) -> None:
        self.dataset = dataset
        s2, s1 = next(iter(dataset.read_native([0])))
        self.layout = BatchLayout.from_patch(
            s2, s1, dataset.s2_bands, dataset.s1_bands, dataset.patch_size_px, dataset.upsampling
        )

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        n = len(indices)
        out: dict[str, torch.Tensor] = {}
        views: dict[Group, np.ndarray] = {}
        for group, bands in self.layout.groups.items():
            out[group_key(group)], views[group] = _batch_array((n, len(bands), group[1], group[1]),
                                                                self.layout.dtypes[group])  # fmt: skip
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
        out["label"] = torch.from_numpy(np.ascontiguousarray(self.dataset.labels[index]))
        out["labelled"] = torch.from_numpy(np.asarray(self.dataset.labelled_mask, dtype=bool)[index])
        out["index"] = torch.from_numpy(index)
        return out


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
        "label": batch["label"].float(),
        "labelled": batch["labelled"].bool(),
        "index": batch["index"],
    }

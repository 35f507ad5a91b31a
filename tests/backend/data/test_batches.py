"""The compact native-resolution batch path gives the model exactly what ``dataset[i]`` gives, on real patches."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mosaic.backend.data import batches
from mosaic.backend.data.batches import BatchRing, NativeBatches, assemble_batch, keep_batch, native_loader
from mosaic.backend.data.bigearthnet import BigEarthNetV2
from mosaic.backend.data.replicate import replicate_dataset
from mosaic.backend.errors import InputError


def _reference(ds, indices):
    samples = [ds[i] for i in indices]
    return {k: torch.stack([s[k] for s in samples]) for k in ("s2", "s1", "label", "labelled")}


@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
@pytest.mark.parametrize("band_set", ["s2_10", "s2_12"])
@pytest.mark.parametrize("source", ["lmdb", "folders"])
def test_assembled_batch_equals_dataset_samples(ben_v2, upsampling, band_set, source):
    """All 24 real pairs (snow/cloud ones included), both storages, both band sets and upsamplings: equal to 1e-6."""
    lmdb = {"lmdb_path": ben_v2 / "BigEarthNet-V2-LMDB"} if source == "lmdb" else {}
    ds = BigEarthNetV2(ben_v2, split="all", include_snow_cloud=True, upsampling=upsampling, s2_bands=band_set, **lmdb)
    native = NativeBatches(ds)
    indices = list(range(len(ds)))[::-1]  # any order
    compact = native.__getitems__(indices)
    assert compact["s2@120"].dtype == torch.uint16 and compact["s1@120"].dtype == torch.float32
    assert compact["s2@60"].shape == (len(ds), 6, 60, 60)
    assert ("s2@20" in compact) == (band_set == "s2_12")
    got, want = assemble_batch(compact, native.layout), _reference(ds, indices)
    for key in ("s2", "s1", "label"):
        assert got[key].dtype == torch.float32 and got[key].shape == want[key].shape
        torch.testing.assert_close(got[key], want[key], atol=1e-6, rtol=0)
    assert torch.equal(got["labelled"], want["labelled"])
    assert got["index"].tolist() == indices
    # the compact batch carries about 0.4x the bytes of the float32 samples
    compact_bytes = sum(t.numel() * t.element_size() for k, t in compact.items() if "@" in k)
    assert compact_bytes < 0.45 * (want["s2"].numel() + want["s1"].numel()) * 4


@pytest.mark.parametrize("ring", [False, True])
def test_worker_loader_delivers_the_same_batches_as_the_sample_loader(ben_v2, ring):
    """Two worker processes, a fixed order: the same tensors as the per-sample loader, through the plain
    ``DataLoader`` (batches sent whole) and through the trainer's ring loader."""
    ds = BigEarthNetV2(ben_v2, split="train", lmdb_path=ben_v2 / "BigEarthNet-V2-LMDB")
    native = NativeBatches(ds)
    order = torch.Generator().manual_seed(3)
    if ring:
        fast = native_loader(native, 4, num_workers=2, shuffle=True, generator=order)
    else:
        fast = DataLoader(native, batch_size=4, shuffle=True, generator=order, num_workers=2, collate_fn=keep_batch)
    slow = DataLoader(ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(3))
    n = 0
    for compact, sample in zip(fast, slow, strict=True):
        got = assemble_batch(compact, native.layout)
        for key in ("s2", "s1", "label", "labelled"):
            assert torch.equal(got[key], sample[key]), key
        n += len(got["label"])
    assert n == len(ds)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_ring_loader_delivers_the_same_batches_as_the_sample_loader(ben_v2, context):
    """Two workers writing into the loader's shared ring (inherited, or sent to spawned workers), two epochs."""
    ds = BigEarthNetV2(ben_v2, split="all", include_snow_cloud=True, lmdb_path=ben_v2 / "BigEarthNet-V2-LMDB")
    native = NativeBatches(ds)
    fast = native_loader(
        native,
        5,
        num_workers=2,
        shuffle=True,
        generator=torch.Generator().manual_seed(4),
        persistent_workers=True,
        multiprocessing_context=context,
    )
    for _epoch in range(2):
        rows = []
        for compact in fast:
            got = assemble_batch(compact, native.layout)
            want = _reference(ds, got["index"].tolist())
            for key in ("s2", "s1", "label", "labelled"):
                assert torch.equal(got[key], want[key]), key
            rows += got["index"].tolist()
        assert sorted(rows) == list(range(len(ds)))  # the last batch holds 4 rows: a slot's first rows only


@pytest.mark.parametrize(("held", "overwritten"), [(batches.HELD_BATCHES, False), (0, True)])
def test_ring_keeps_the_batches_a_consumer_still_holds(ben_v2, monkeypatch, held, overwritten):
    """A consumer keeping its newest batch and two older ones (as Lightning's fetcher does) while the workers run
    ahead: with the ring as sized, no held batch changes over 3 epochs; one slot fewer per worker
    (``HELD_BATCHES = 0``) and the workers overwrite a held batch, which shows the check can fail."""
    monkeypatch.setattr(batches, "HELD_BATCHES", held)
    ds = BigEarthNetV2(ben_v2, split="all", include_snow_cloud=True, lmdb_path=ben_v2 / "BigEarthNet-V2-LMDB")
    native = NativeBatches(ds)
    loader = native_loader(
        native, 1, num_workers=2, shuffle=True, generator=torch.Generator().manual_seed(0), persistent_workers=True
    )
    assert loader.dataset.ring.per_worker == (4 if held else 3)
    kept: deque = deque(maxlen=3)
    changed = 0
    for _epoch in range(3):
        for compact in loader:
            kept.append((compact, {k: v.clone() for k, v in compact.items()}))
            time.sleep(0.03)  # the workers finish the batches just dispatched
            changed += sum(any(not torch.equal(view[k], copy[k]) for k in copy) for view, copy in kept)
    assert (changed > 0) == overwritten
    if not overwritten:  # and what was delivered is right
        _view, copy = kept[-1]
        want = native.__getitems__(copy["index"].tolist())
        assert all(torch.equal(copy[k], want[k]) for k in want)


def test_a_ring_larger_than_free_shared_memory_is_refused(ben_v2):
    native = NativeBatches(BigEarthNetV2(ben_v2, split="train", lmdb_path=ben_v2 / "BigEarthNet-V2-LMDB"))
    with pytest.raises(InputError, match=r"batch ring needs [0-9.]+ GiB of shared memory but /dev/shm has"):
        BatchRing(native.layout, 19, batch_size=10**7, workers=2, prefetch_factor=2)


def test_a_patch_stored_unlike_the_first_is_refused(ben_v2):
    ds = BigEarthNetV2(ben_v2, split="train", lmdb_path=ben_v2 / "BigEarthNet-V2-LMDB")
    native = NativeBatches(ds)
    real = ds.read_native

    def damaged(indices):
        for s2, s1 in real(indices):
            yield {**s2, "B05": np.asarray(s2["B05"])[:30, :30]}, s1

    ds.read_native = damaged
    with pytest.raises(InputError, match="band B05 is missing or not 60×60 px"):
        native.__getitems__([0, 1])


def test_replica_repeats_real_pairs_under_new_names(ben_v2, tmp_path):
    """3 copies: 3x every split, same pixels and labels as the source rows; a second call reuses the replica."""
    dest = replicate_dataset(ben_v2, ben_v2 / "BigEarthNet-V2-LMDB", tmp_path / "rep", 3)
    src = BigEarthNetV2(ben_v2, split="train", lmdb_path=ben_v2 / "BigEarthNet-V2-LMDB")
    rep = BigEarthNetV2(dest, split="train", lmdb_path=dest / "lmdb")
    assert len(rep) == 3 * len(src)
    last = rep.metadata.index[rep.metadata["patch_id"] == f"{src.metadata['patch_id'][1]}_r2"][0]
    a, b = rep[last], src[1]
    assert torch.equal(a["s2"], b["s2"]) and torch.equal(a["s1"], b["s1"]) and torch.equal(a["label"], b["label"])
    stamp = (dest / "metadata.parquet").stat().st_mtime_ns
    assert replicate_dataset(ben_v2, ben_v2 / "BigEarthNet-V2-LMDB", dest, 3) == dest
    assert (dest / "metadata.parquet").stat().st_mtime_ns == stamp


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
def test_batch_assembled_on_the_gpu_equals_dataset_samples(ben_v2, upsampling):
    """The trainer's route: pinned compact batch, non-blocking copy, assembly on CUDA; equal to CPU ``dataset[i]``."""
    ds = BigEarthNetV2(
        ben_v2, split="all", include_snow_cloud=True, upsampling=upsampling, lmdb_path=ben_v2 / "BigEarthNet-V2-LMDB"
    )
    native = NativeBatches(ds)
    indices = list(range(len(ds)))
    compact = {k: v.pin_memory().to("cuda", non_blocking=True) for k, v in native.__getitems__(indices).items()}
    got, want = assemble_batch(compact, native.layout), _reference(ds, indices)
    for key in ("s2", "s1", "label"):
        assert got[key].is_cuda
        torch.testing.assert_close(got[key].cpu(), want[key], atol=1e-6 if upsampling == "nearest" else 1e-3, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_ring_loader_pins_batches_that_assemble_on_the_gpu(ben_v2):
    """The trainer's CUDA route: ring slots copied to pinned memory by the loader's pinning thread, moved without
    blocking and assembled on the GPU; equal to ``dataset[i]`` (nearest: 1e-6)."""
    ds = BigEarthNetV2(ben_v2, split="all", include_snow_cloud=True, lmdb_path=ben_v2 / "BigEarthNet-V2-LMDB")
    native = NativeBatches(ds)
    loader = native_loader(native, 5, num_workers=2, pin_memory=True)
    for compact in loader:
        assert compact["s2@120"].is_pinned()
        got = assemble_batch({k: v.to("cuda", non_blocking=True) for k, v in compact.items()}, native.layout)
        want = _reference(ds, got["index"].tolist())
        for key in ("s2", "s1", "label"):
            torch.testing.assert_close(got[key].cpu(), want[key], atol=1e-6, rtol=0)

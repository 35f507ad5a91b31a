"""MulSupCon's momentum key network and label queue: the ring buffer, the moving average, the loss on real patches
against the paper's formula evaluated by hand, and exact resume with the queue in the checkpoint."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mosaic.backend.errors import ConfigError
from mosaic.backend.training.callbacks import RngState
from mosaic.backend.training.datamodule import MosaicDataModule
from mosaic.backend.training.module import MosaicModule
from mosaic.backend.training.momentum import LabelQueue, momentum_update

#: Views equal to the input (full crop box at the patch size, no flips, turns or radiometric changes).
IDENTITY = {
    "scale": (1.0, 1.0),
    "ratio": (1.0, 1.0),
    "hflip": 0.0,
    "vflip": 0.0,
    "rot90": False,
    "s2_brightness": 0.0,
    "s2_contrast": 0.0,
    "s1_noise_db": 0.0,
}


def test_label_queue_is_a_ring_buffer_used_once_full():
    q = LabelQueue(5, dim=2, n_classes=3)
    keys, labels = torch.arange(16.0).view(8, 2), torch.eye(3).repeat(3, 1)[:8]
    q.push(keys[:3], labels[:3])
    assert q.contents()[0].shape == (0, 2) and q.contents()[1].shape == (0, 3)  # not full: no queue keys yet
    assert int(q.position) == 3 and not bool(q.full)
    q.push(keys[3:7], labels[3:7])  # 4 rows: 2 fill the end, 2 overwrite the oldest
    assert int(q.position) == 2 and bool(q.full)
    k, y = q.contents()
    torch.testing.assert_close(k, keys[[5, 6, 2, 3, 4]])
    torch.testing.assert_close(y, labels[[5, 6, 2, 3, 4]])
    q.push(keys, labels)  # more rows than the queue: the last 5 stay, written from position 2
    torch.testing.assert_close(q.contents()[0], keys[[6, 7, 3, 4, 5]])
    assert int(q.position) == 2
    with pytest.raises(ValueError, match="positive size"):
        LabelQueue(0, 2, 3)


def test_momentum_update_is_the_moving_average_of_the_parameters():
    torch.manual_seed(0)
    query, key = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.clone() for p in key.parameters()]
    momentum_update(key, query, 0.9)
    for p_k, old, p_q in zip(key.parameters(), before, query.parameters(), strict=True):
        torch.testing.assert_close(p_k, 0.9 * old + 0.1 * p_q)


def _module(ben_v2: Path, **model_kw) -> tuple[MosaicModule, MosaicDataModule]:
    data = MosaicDataModule(root=str(ben_v2), batch_size=6, num_workers=0)
    model = MosaicModule(
        strategy="mulsupcon",
        backbone="resnet18",
        fusion_dim=32,
        projection_dim=16,
        class_names=data.class_names,
        s2_bands=data.s2_band_names,
        s1_bands=data.s1_band_names,
        upsampling=data.upsampling,
        **model_kw,
    )
    return model, data


def _hand_mulsupcon(q, k, y, queue_k, queue_y, tau):
    """The paper's loss, one (anchor, label) row at a time: ``ℓ_ic = -1/|P_c| Σ_{p∈P_c} log(exp(q·k_p/τ) /
    Σ_j exp(q·k_j/τ))`` over the keys ``[k; queue]``, mean over all rows (official ``with_weight: False``)."""
    keys = [k[i] / k[i].norm() for i in range(len(k))] + [queue_k[j] for j in range(len(queue_k))]
    key_labels = [y[i] for i in range(len(y))] + [queue_y[j] for j in range(len(queue_y))]
    total, rows = 0.0, 0
    for i in range(len(q)):
        qi = q[i] / q[i].norm()
        scores = [float(qi @ key) / tau for key in keys]
        log_norm = math.log(sum(math.exp(s) for s in scores))
        for c in range(y.shape[1]):
            if y[i, c] == 1:
                positives = [j for j in range(len(keys)) if key_labels[j][c] == 1]
                total += -sum(scores[j] - log_norm for j in positives) / len(positives)
                rows += 1
    return total / rows


def test_mulsupcon_with_queue_equals_the_formula_by_hand_on_real_patches(ben_v2):
    """Queries of view 1 from the network, keys of view 2 from the momentum network plus a full queue, labelled rows
    only; the batch's keys are enqueued after the loss; a queue that is not full is not used."""
    pl.seed_everything(0)
    model, data = _module(ben_v2, mulsupcon_queue=8, augment=IDENTITY)
    batch = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    batch["labelled"] = torch.tensor([True, False, True, True, False, True])
    model.train()
    for m in [*model.net.modules(), *model.key_net.modules()]:
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0  # dropout off (fusion MLP, official MulSupCon head): the hand computation sees the same features
    with torch.no_grad():
        for p in model.key_net.parameters():  # the key network lags behind: keys must come from it
            p.add_(0.05 * torch.randn_like(p))
    queue_k = torch.nn.functional.normalize(torch.randn(8, 256), dim=1)  # the official head's 256-d keys
    queue_y = (torch.rand(8, len(data.class_names)) < 0.3).float()
    model.label_queue.keys.copy_(queue_k)
    model.label_queue.labels.copy_(queue_y)
    model.label_queue.position.fill_(3)
    model.label_queue.full.fill_(True)

    got = model.loss_terms(batch)["mulsupcon_fused"].item()
    with torch.no_grad():
        q = model.net.project("fused", model.net.features(batch["s2"], batch["s1"])["fused"])
        k = model.key_net.project("fused", model.key_net.features(batch["s2"], batch["s1"])["fused"])
    rows = batch["labelled"]
    y = batch["label"].float()
    expected = _hand_mulsupcon(q[rows], k[rows], y[rows], queue_k, queue_y, 0.1)
    assert got == pytest.approx(expected, abs=1e-5)
    assert got != pytest.approx(_hand_mulsupcon(q[rows], q[rows], y[rows], queue_k, queue_y, 0.1), abs=1e-3)
    # the 4 labelled keys went in at positions 3..6, normalised, with their labels
    assert int(model.label_queue.position) == 7
    torch.testing.assert_close(model.label_queue.keys[3:7], torch.nn.functional.normalize(k[rows], dim=1))
    torch.testing.assert_close(model.label_queue.labels[3:7], y[rows])
    torch.testing.assert_close(model.label_queue.keys[[0, 1, 2, 7]], queue_k[[0, 1, 2, 7]])

    model.label_queue.full.fill_(False)  # not yet full: in-batch keys only, as the official code
    got = model.loss_terms(batch)["mulsupcon_fused"].item()
    assert got == pytest.approx(_hand_mulsupcon(q[rows], k[rows], y[rows], queue_k[:0], queue_y[:0], 0.1), abs=1e-5)


def test_queue_defaults_and_switches():
    mulsupcon = MosaicModule(strategy="mulsupcon", backbone="resnet18", fusion_dim=16, projection_dim=8)
    assert mulsupcon.label_queue.size == 2048 and mulsupcon.hparams.mulsupcon_momentum == 0.999
    assert mulsupcon.hparams.supcon_temperature == 0.1
    assert not any(p.requires_grad for p in mulsupcon.key_net.parameters())
    off = MosaicModule(strategy="mulsupcon", backbone="resnet18", fusion_dim=16, projection_dim=8, mulsupcon_queue=0)
    assert off.key_net is None and off.label_queue is None
    assert not any(k.startswith(("key_net.", "label_queue.")) for k in off.state_dict())
    assert MosaicModule(strategy="mosaic1", backbone="resnet18", fusion_dim=16).key_net is None  # in-batch reading
    with pytest.raises(ConfigError, match="mulsupcon_fused term"):
        MosaicModule(strategy="simclr", modalities="s2", backbone="resnet18", mulsupcon_queue=16)


class StopAfter(pl.Callback):
    def __init__(self, steps: int):
        self.steps = steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step >= self.steps:
            trainer.should_stop = True


def _fit(ben_v2: Path, root: Path, callbacks=(), ckpt_path=None) -> tuple[MosaicModule, pl.Trainer]:
    pl.seed_everything(0)
    model, data = _module(ben_v2, mulsupcon_queue=6, augment={"size": 64})
    t = pl.Trainer(
        max_steps=4,
        default_root_dir=root,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[RngState(), *callbacks],
    )
    t.fit(model, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    return model, t


def test_resume_with_the_queue_is_exact(ben_v2, tmp_path):
    """4 steps straight == 2 steps, checkpoint, 2 more: the queue (full after step 1 with 6 labelled rows of 6)
    and the key network come back with the checkpoint, so weights, keys and queue match bit for bit."""
    straight, _ = _fit(ben_v2, tmp_path / "a")
    assert bool(straight.label_queue.full)
    first, t1 = _fit(ben_v2, tmp_path / "b", [StopAfter(2)])
    assert t1.global_step == 2
    ckpt = tmp_path / "half.ckpt"
    t1.save_checkpoint(ckpt)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    torch.testing.assert_close(state["label_queue.keys"], first.label_queue.keys)
    torch.manual_seed(123)
    resumed, t2 = _fit(ben_v2, tmp_path / "c", ckpt_path=ckpt)
    assert t2.global_step == 4
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and any(k.startswith("key_net.") for k in a)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    moved = [not torch.equal(p, q) for p, q in zip(straight.key_net.parameters(), straight.net.parameters())]
    assert any(moved)  # the key network lags behind the trained network


def test_a_checkpoint_from_before_the_queue_loads_with_keys_from_the_network():
    torch.manual_seed(0)
    old = MosaicModule(strategy="mulsupcon", backbone="resnet18", fusion_dim=16, projection_dim=8, mulsupcon_queue=0)
    checkpoint = {"state_dict": old.state_dict()}
    new = MosaicModule(strategy="mulsupcon", backbone="resnet18", fusion_dim=16, projection_dim=8)
    new.on_load_checkpoint(checkpoint)  # Lightning calls it before load_state_dict (strict)
    new.load_state_dict(checkpoint["state_dict"])
    for (name, p_k), p_q in zip(new.key_net.named_parameters(), old.net.parameters(), strict=True):
        torch.testing.assert_close(p_k, p_q, msg=name)
    assert not bool(new.label_queue.full) and int(new.label_queue.position) == 0


def _two_steps_of_queue_loss(ben_v2: Path, rows: slice) -> tuple[list[float], MosaicModule]:
    """The queued MulSupCon term of two calls on ``rows`` of the first real batch (queue of 6: full after one),
    with per-sample features (BatchNorm in eval mode, dropout off) so that ranks and one process see equal values."""
    torch.manual_seed(0)
    model, data = _module(ben_v2, mulsupcon_queue=6, augment=IDENTITY)
    batch = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    batch = {k: v[rows] for k, v in batch.items() if isinstance(v, torch.Tensor)}
    model.train()
    for m in [*model.net.modules(), *model.key_net.modules()]:
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d | torch.nn.Dropout):
            m.eval()
    with torch.no_grad():
        values = [model.loss_terms(batch)["mulsupcon_fused"].item() for _ in range(2)]
    return values, model


def _ddp_worker(rank: int, world: int, out_dir: str, ben_v2: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/store", rank=rank, world_size=world)
    try:
        values, model = _two_steps_of_queue_loss(Path(ben_v2), slice(rank * 3, rank * 3 + 3))
        queue = {"keys": model.label_queue.keys.tolist(), "labels": model.label_queue.labels.tolist()}
        (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps({"values": values, **queue}))
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned gloo processes (≈ 80 s on 2 cores)
def test_queue_under_ddp_equals_one_process_on_the_whole_batch(ben_v2, tmp_path, monkeypatch):
    """2 gloo ranks with 3 real patches each: the keys of both ranks are gathered before the loss and the enqueue,
    so every rank holds the queue of one process on all 6 patches and the same loss (first step in-batch keys,
    second step with the full queue)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    worker = importlib.import_module("test_momentum")._ddp_worker
    mp.spawn(worker, args=(2, str(tmp_path), str(ben_v2)), nprocs=2, join=True)
    values, model = _two_steps_of_queue_loss(ben_v2, slice(0, 6))
    assert bool(model.label_queue.full) and values[0] != pytest.approx(values[1], abs=1e-3)
    for rank in range(2):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got["values"] == pytest.approx(values, abs=1e-5)
        torch.testing.assert_close(torch.tensor(got["keys"]), model.label_queue.keys, atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.tensor(got["labels"]), model.label_queue.labels)

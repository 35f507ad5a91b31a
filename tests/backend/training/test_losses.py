"""Losses against the values of the public reference implementations (shared/reference/loss_reference_values.json)."""

from __future__ import annotations

import gc
import importlib
import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as nnf

from mosaic.backend.training import losses

TAUS = ("0.5", "0.1", "0.07")


@pytest.fixture(scope="module")
def reference(shared_data: Path) -> dict:
    return json.loads((shared_data.parent / "reference" / "loss_reference_values.json").read_text())


@pytest.fixture(scope="module")
def fixture1(reference: dict) -> dict:
    f = reference["fixture1"]
    return {
        "z1": torch.tensor(f["z1"], dtype=torch.float32),
        "z2": torch.tensor(f["z2"], dtype=torch.float32),
        "y": torch.tensor(f["y"], dtype=torch.float32),
        "expected": f["expected"],
    }


@pytest.mark.parametrize("tau", TAUS)
def test_nt_xent_matches_lightly_and_iai(fixture1, tau):
    got = losses.nt_xent(fixture1["z1"], fixture1["z2"], float(tau)).item()
    exp = fixture1["expected"][f"tau={tau}"]
    assert got == pytest.approx(exp["lightly.NTXentLoss(z1,z2)"], abs=1e-5)
    assert got == pytest.approx(exp["IaI.NT_Xent_SingGPU(z1,z2)"], abs=1e-5)
    pooled = losses.inter_modal(fixture1["z1"], fixture1["z2"], float(tau), form="pooled").item()
    assert pooled == pytest.approx(exp["IaI.NT_Xent_SingGPU(z1,z2)"], abs=1e-5)


@pytest.mark.parametrize("tau", TAUS)
def test_supcon_matches_hobbitlong(fixture1, tau):
    z1, z2, y = fixture1["z1"], fixture1["z2"], fixture1["y"]
    exp = fixture1["expected"][f"tau={tau}"]
    feats = torch.stack([z1, z2], dim=1)
    t = float(tau)
    assert losses.supcon(feats, temperature=t).item() == pytest.approx(
        exp["HobbitLong.SupConLoss(labels=None, base_t=t)"], abs=1e-5
    )
    any_shared = ((y @ y.T) > 0).float()
    assert losses.supcon(feats, mask=any_shared, temperature=t).item() == pytest.approx(
        exp["HobbitLong.SupConLoss(mask=any-shared-label, base_t=t)"], abs=1e-5
    )
    exact = (y[:, None] == y[None]).all(-1).float()
    assert losses.supcon(feats, mask=exact, temperature=t).item() == pytest.approx(
        exp["HobbitLong.SupConLoss(mask=exact-label-set, base_t=t)"], abs=1e-5
    )
    # labels=multi-hot means "exact label set"; this fixture has 8 distinct sets, so it is NT-Xent again
    assert losses.supcon(feats, labels=y, temperature=t).item() == pytest.approx(
        exp["HobbitLong.SupConLoss(mask=exact-label-set, base_t=t)"], abs=1e-5
    )


@pytest.mark.parametrize("tau", TAUS)
def test_mulsupcon_matches_official(fixture1, tau):
    z1, z2, y = fixture1["z1"], fixture1["z2"], fixture1["y"]
    exp = fixture1["expected"][f"tau={tau}"]
    t = float(tau)
    assert losses.mulsupcon(z1, z2, y, t, weighting="label").item() == pytest.approx(
        exp["MulSupCon.WeightedSupCon(pattern=MulSupCon, with_weight=False)"], abs=1e-5
    )
    assert losses.mulsupcon(z1, z2, y, t, weighting="sample").item() == pytest.approx(
        exp["MulSupCon.WeightedSupCon(pattern=MulSupCon, with_weight=True)"], abs=1e-5
    )
    any_shared = ((y @ y.T) > 0).float()
    assert losses.query_key_supcon(z1, z2, any_shared, t).item() == pytest.approx(
        exp["MulSupCon.SupCon(pattern=any)"], abs=1e-5
    )
    exact = (y[:, None] == y[None]).all(-1).float()
    assert losses.query_key_supcon(z1, z2, exact, t).item() == pytest.approx(
        exp["MulSupCon.SupCon(pattern=all)"], abs=1e-5
    )


def _mulsupcon_loop(q, k, y, tau, weighting):
    """Direct transcription of the official per-(anchor, label) loop, for cases the fixture lacks."""
    lp = torch.log_softmax(nnf.normalize(q, dim=1) @ nnf.normalize(k, dim=1).T / tau, dim=1)
    rows, weights = [], []
    b = len(y)
    for i in range(b):
        n_i = int(y[i].sum())
        for c in torch.nonzero(y[i]).flatten():
            pos = y[:, c] == 1
            rows.append(-lp[i, pos].mean())
            weights.append(1 / (n_i * b) if weighting == "sample" else None)
    if weighting == "label":
        return torch.stack(rows).mean()
    return sum(r * w for r, w in zip(rows, weights))


@pytest.mark.parametrize("weighting", ["label", "sample"])
def test_mulsupcon_zero_label_samples_are_keys_not_anchors(weighting):
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    y = torch.tensor([[1, 0, 1], [0, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 0], [0, 0, 1]], dtype=torch.float32)
    got = losses.mulsupcon(q, k, y, 0.2, weighting=weighting)
    assert got.item() == pytest.approx(_mulsupcon_loop(q, k, y, 0.2, weighting).item(), abs=1e-6)


def test_mulsupcon_views_reduces_to_nt_xent_and_supcon(fixture1):
    z1, z2 = fixture1["z1"], fixture1["z2"]
    one_label_each = torch.eye(8)
    assert losses.mulsupcon_views(z1, z2, one_label_each, 0.1).item() == pytest.approx(
        losses.nt_xent(z1, z2, 0.1).item(), abs=1e-5
    )
    # single labels with repeats: each sample one row, positives = same class -> SupCon with labels
    single = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3])
    assert losses.mulsupcon_views(z1, z2, nnf.one_hot(single, 4).float(), 0.1).item() == pytest.approx(
        losses.supcon(torch.stack([z1, z2], 1), labels=single, temperature=0.1).item(), abs=1e-5
    )


def test_inter_modal_cross_is_symmetric_clip(fixture1):
    z1, z2 = fixture1["z1"], fixture1["z2"]
    s = nnf.normalize(z1, dim=1) @ nnf.normalize(z2, dim=1).T / 0.1
    expected = 0.5 * (-torch.log_softmax(s, 1).diag().mean() - torch.log_softmax(s.T, 1).diag().mean())
    assert losses.inter_modal(z1, z2, 0.1, form="cross").item() == pytest.approx(expected.item(), abs=1e-6)
    assert losses.inter_modal(z1, z2, 0.1, form="cross").item() == pytest.approx(
        losses.inter_modal(z2, z1, 0.1, form="cross").item(), abs=1e-6
    )
    with pytest.raises(ValueError, match="pooled"):
        losses.inter_modal(z1, z2, 0.1, form="both")


def test_bce_matches_formula(fixture1):
    x, y = fixture1["z1"][:, :8], fixture1["y"][:, :8]
    p = torch.sigmoid(x)
    expected = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    assert losses.bce(x, y).item() == pytest.approx(expected.item(), abs=1e-6)


# --------------------------------------------------------------------------- DDP (2 CPU processes, gloo)

ALL_LOSSES = {
    "nt_xent": lambda a, b, y: losses.nt_xent(a, b, 0.1),
    "supcon": lambda a, b, y: losses.supcon(torch.stack([a, b], 1), mask=((y @ y.T) > 0).float(), temperature=0.1),
    "mulsupcon": lambda a, b, y: losses.mulsupcon(a, b, y, 0.1, "sample"),
    "mulsupcon_views": lambda a, b, y: losses.mulsupcon_views(a, b, y, 0.1),
    "inter_cross": lambda a, b, y: losses.inter_modal(a, b, 0.1, "cross"),
}


def _data():
    g = torch.Generator().manual_seed(3)
    x1, x2 = torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g)
    y = (torch.rand(8, 5, generator=g) > 0.5).float()
    return x1, x2, y


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(6, 4)


def _losses_and_grads_on_rank(rank: int) -> dict:
    """Each loss and the DDP-averaged weight gradient from this rank's half of the batch.

    The autograd graphs die when this returns: the gather's graph nodes hold the process group, and a group
    released only after destroy_process_group aborts the process at exit ("terminate called without an active
    exception", 1 run in 10 here)."""
    x1, x2, y = _data()
    part = slice(rank * 4, rank * 4 + 4)
    model = torch.nn.parallel.DistributedDataParallel(_model())
    results = {}
    for name, fn in ALL_LOSSES.items():
        model.zero_grad()
        a = losses.gather_with_grad(model(x1[part]))
        b = losses.gather_with_grad(model(x2[part]))
        loss = fn(a, b, losses.gather_no_grad(y[part]))
        loss.backward()
        results[name] = (loss.item(), model.module.weight.grad.clone().tolist())
    return results


def _ddp_worker(rank: int, world: int, out_dir: str) -> None:
    # a file store: no TCP port to pick, so no race with other processes for it
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/store", rank=rank, world_size=world)
    try:
        results = _losses_and_grads_on_rank(rank)
        (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(results))
        gc.collect()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_losses_under_ddp_equal_single_process_on_concatenated_batch(tmp_path, monkeypatch):
    # spawned children unpickle the worker by module name: import this file as the top-level module
    # "test_losses" from a path they inherit (pytest's importlib mode gives it a name they cannot import)
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    worker = importlib.import_module("test_losses")._ddp_worker
    mp.spawn(worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    x1, x2, y = _data()
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for name, fn in ALL_LOSSES.items():
        model = _model()
        loss = fn(model(x1), model(x2), y)
        loss.backward()
        for r in ranks:
            got_loss, got_grad = r[name]
            assert got_loss == pytest.approx(loss.item(), abs=1e-6), name
            torch.testing.assert_close(torch.tensor(got_grad), model.weight.grad, atol=1e-6, rtol=1e-5)
        assert model.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("weighting", ["label", "sample"])
def test_row_masks_equal_indexing_without_host_synchronisation(weighting):
    """``rows=`` (used in training so the step never waits for the device) gives the indexed subset's value."""
    g = torch.Generator().manual_seed(5)
    z1, z2 = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    labels = (torch.rand(8, 6, generator=g) < 0.4).float()
    rows = torch.tensor([True, False, True, True, False, True, False, True])
    labels[~rows] = 0.0  # unlabelled rows carry an all-zero label, as the datasets give them
    masked = losses.mulsupcon_views(z1, z2, labels, 0.1, weighting, rows=rows)
    indexed = losses.mulsupcon_views(z1[rows], z2[rows], labels[rows], 0.1, weighting)
    torch.testing.assert_close(masked, indexed, rtol=1e-6, atol=1e-6)
    logits = torch.randn(8, 6, generator=g)
    torch.testing.assert_close(losses.bce(logits, labels, rows), losses.bce(logits[rows], labels[rows]))


def test_row_masks_without_any_row_give_zero_and_finite_gradients():
    z1 = torch.randn(4, 8, requires_grad=True)
    z2 = torch.randn(4, 8, requires_grad=True)
    logits = torch.randn(4, 3, requires_grad=True)
    none = torch.zeros(4, dtype=torch.bool)
    loss = losses.mulsupcon_views(z1, z2, torch.zeros(4, 3), rows=none) + losses.bce(logits, torch.ones(4, 3), none)
    loss.backward()
    assert loss.item() == 0.0
    assert all(torch.equal(t.grad, torch.zeros_like(t)) for t in (z1, z2, logits))

"""``EpochSampler``: the train order is a function of (seed, epoch) and resumes after the batches already done."""

from __future__ import annotations

import torch

from mosaic.backend.training.sampler import EpochSampler


def test_each_epoch_is_a_permutation_fixed_by_seed_and_epoch():
    sampler = EpochSampler(10, seed=7)
    orders = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
        assert sorted(orders[-1]) == list(range(10))
    assert orders[0] != orders[1] != orders[2]  # reshuffled every epoch
    again = EpochSampler(10, seed=7)
    again.set_epoch(1)
    assert list(again) == orders[1] == sampler.order(1)
    assert list(EpochSampler(10, seed=8)) != orders[0]
    assert len(sampler) == 10


def test_seed_comes_from_the_global_rng_and_iterating_draws_nothing_from_it():
    torch.manual_seed(0)
    a = EpochSampler(10)
    torch.manual_seed(0)
    b = EpochSampler(10)
    assert a.seed == b.seed
    state = torch.get_rng_state()
    list(a)
    assert torch.equal(torch.get_rng_state(), state)  # augmentations see the same stream, resumed or not


def test_resume_skips_the_trained_samples_of_that_epoch_once():
    sampler = EpochSampler(12, seed=3)
    full = sampler.order(2)
    sampler.resume(epoch=2, samples_done=8)
    sampler.set_epoch(2)
    assert list(sampler) == full[8:]
    assert list(sampler) == full  # only the resumed pass is short
    sampler.resume(epoch=2, samples_done=8)
    sampler.set_epoch(3)
    assert list(sampler) == sampler.order(3)  # a resume point of another epoch does not apply

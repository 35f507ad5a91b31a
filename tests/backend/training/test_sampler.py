"""Train orders: a function of (seed, epoch) that resumes after the batches already done, seeded by the protocol
(not by what was built before), and IaI-SimCLR's location sampler drawing every batch from one scene."""

from __future__ import annotations

import torch

from mosaic.backend.training.datamodule import MosaicDataModule
from mosaic.backend.training.sampler import EpochSampler, SceneSampler, scene_of


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


def test_the_order_follows_the_protocol_seed_whatever_was_drawn_before(ben_v2):
    """The shuffle seed is ``protocol.seed`` (``data.seed``), so models that draw more initial weights than others
    (more heads, another backbone) do not shuffle differently; iterating draws nothing from the global RNG."""
    orders = []
    for draws in (0, 1000):
        torch.manual_seed(0)
        torch.rand(draws)  # a bigger model would draw more before the loader is built
        data = MosaicDataModule(root=str(ben_v2), batch_size=2, num_workers=0, seed=3)
        data.train_dataloader()
        orders.append(data.train_sampler.order(0))
        assert data.train_sampler.seed == 3
        state = torch.get_rng_state()
        list(data.train_sampler)
        assert torch.equal(torch.get_rng_state(), state)  # augmentations see the same stream, resumed or not
    assert orders[0] == orders[1] == EpochSampler(6, seed=3).order(0)
    assert (
        MosaicDataModule(root=str(ben_v2), batch_size=2, num_workers=0, seed=4)._train_sampler(4).order(0)
        != (orders[0])
    )


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


def test_scene_sampler_draws_every_batch_from_one_scene_and_fills_short_scenes():
    scenes = ["a"] * 7 + ["b"] * 5 + ["c"] * 2  # c holds fewer patches than a batch
    sampler = SceneSampler(scenes, batch_size=4, seed=1)
    for epoch in range(20):
        order = sampler.order(epoch)
        assert len(order) == 12  # 14 // 4 batches of 4
        for k in range(3):
            batch = order[4 * k : 4 * k + 4]
            assert len(set(batch)) == 4  # no patch twice in a batch
            names = [scenes[i] for i in batch]
            if "c" in names[:1]:  # a batch of scene c: its two patches, then two of other scenes
                assert names[:2] == ["c", "c"] and "c" not in names[2:]
            else:
                assert len(set(names)) == 1, names
    drawn = {scenes[sampler.order(e)[0]] for e in range(20)}
    assert drawn == {"a", "b", "c"}  # every scene is drawn
    assert SceneSampler(scenes, 4, seed=1).order(3) == sampler.order(3) != SceneSampler(scenes, 4, seed=2).order(3)


def test_iai_simclr_batches_come_from_one_scene_of_a_sen12ms_miniature(sen12ms_scenes):
    """``data.batches: scene`` on a SEN12MS miniature of 4 scenes × 3 patches, batch 3: every training batch the loader
    gives holds the 3 patches of one scene."""
    data = MosaicDataModule(
        dataset="sen12ms",
        root=str(sen12ms_scenes),
        options={"validation_fraction": 0.0},
        batch_size=3,
        num_workers=0,
        batches="scene",
    )
    loader = data.train_dataloader()
    assert isinstance(data.train_sampler, SceneSampler)
    dataset = data.dataset("train")
    by_id = {dataset.patch_id(i): scene_of(dataset, i) for i in range(len(dataset))}
    assert len(set(by_id.values())) == 4
    seen = set()
    for epoch in range(3):
        data.train_sampler.set_epoch(epoch)
        batches = [batch["patch_id"] for batch in loader]
        assert len(batches) == 4
        for ids in batches:
            scenes = {by_id[i] for i in ids}
            assert len(ids) == 3 == len(set(ids)) and len(scenes) == 1, ids
            seen |= scenes
    assert len(seen) > 1
    shuffled = MosaicDataModule(dataset="sen12ms", root=str(sen12ms_scenes), options={"validation_fraction": 0.0})
    assert type(shuffled._train_sampler(0)) is EpochSampler  # data.batches: random (default)

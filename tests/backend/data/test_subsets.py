"""Label-scarce subsets on the full official reBEN training split (237,871 patches × 19 classes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mosaic.backend.data.bigearthnet import multi_hot
from mosaic.backend.data.classes import BEN19_CLASSES
from mosaic.backend.data.subsets import label_fraction_subset, label_scarce_rows
from mosaic.backend.errors import ConfigError


@pytest.fixture(scope="module")
def train_labels(shared_data) -> np.ndarray:
    meta = pd.read_parquet(shared_data / "reben-metadata" / "metadata.parquet", columns=["labels", "split"])
    meta = meta[meta.split == "train"]
    assert len(meta) == 237_871
    return multi_hot(meta["labels"], BEN19_CLASSES)


@pytest.fixture(scope="module")
def subset_seed0(train_labels) -> np.ndarray:
    return label_fraction_subset(train_labels, 0.1, seed=0)


def test_ten_percent_keeps_class_rates(train_labels, subset_seed0):
    n = len(train_labels)
    assert abs(int(subset_seed0.sum()) - round(0.1 * n)) <= 0.01 * n
    positives = train_labels.sum(0)
    full_rate = positives / n
    sub_rate = train_labels[subset_seed0].mean(0)
    common = positives >= 1000
    assert common.sum() >= 15
    rel = np.abs(sub_rate[common] / full_rate[common] - 1)
    assert rel.max() < 0.05, dict(zip(np.array(BEN19_CLASSES)[common], rel.round(4)))
    # rare classes (670 and 738 positives) are still represented at about 10 %
    rare = ~common
    assert np.all(train_labels[subset_seed0][:, rare].sum(0) >= 0.08 * positives[rare])


def test_same_seed_same_subset_other_seed_other_subset(train_labels, subset_seed0):
    again = label_fraction_subset(train_labels, 0.1, seed=0)
    assert np.array_equal(again, subset_seed0)
    other = label_fraction_subset(train_labels, 0.1, seed=1)
    overlap = (other & subset_seed0).sum() / subset_seed0.sum()
    assert overlap < 0.3  # independent 10 % draws share about 10 % of their rows


def test_fraction_one_keeps_everything():
    labels = np.eye(4, dtype=np.float32)
    assert label_fraction_subset(labels, 1.0).all()


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5, "ten"])
def test_fraction_outside_unit_interval_is_a_config_error(fraction):
    with pytest.raises(ConfigError, match=r"label_fraction must be .*\(0, 1\]"):
        label_fraction_subset(np.eye(4), fraction)


def test_label_scarce_rows_drop_or_blank_the_rows_outside_the_subset():
    labels = np.eye(6, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]  # three classes, two rows each
    subset = label_fraction_subset(labels, 0.5, seed=2)
    rows, kept, labelled = label_scarce_rows(labels, "train", 0.5, 2, keep_unlabelled=False)
    assert np.array_equal(rows, np.flatnonzero(subset)) and labelled.all()
    assert np.array_equal(kept, labels[subset])
    rows, kept, labelled = label_scarce_rows(labels, "train", 0.5, 2, keep_unlabelled=True)
    assert np.array_equal(rows, np.arange(6)) and np.array_equal(labelled, subset)
    assert np.array_equal(kept[subset], labels[subset]) and not kept[~subset].any()
    assert labels.sum() == 6  # the caller's labels are not blanked in place
    rows, kept, labelled = label_scarce_rows(labels, "validation", None, 0, keep_unlabelled=False)
    assert np.array_equal(rows, np.arange(6)) and labelled.all() and np.array_equal(kept, labels)


def test_label_fraction_outside_the_train_split_is_a_config_error():
    with pytest.raises(ConfigError, match=r"train and validation splits only \(got split='test'\)"):
        label_scarce_rows(np.eye(4), "test", 0.5, 0, keep_unlabelled=False)

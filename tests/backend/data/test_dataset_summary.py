"""The split sizes the training dialog checks its batch size against, and the labelled share of the train split."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mosaic.backend.data.dataset_summary import labelled_rows, split_sizes
from mosaic.backend.data.subsets import label_fraction_subset


def test_split_sizes_of_the_bundled_sample(ben_v2):
    assert split_sizes(ben_v2) == {"train": 6, "validation": 6, "test": 6}


def test_command_prints_one_json_line(ben_v2, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mosaic.backend.data.dataset_summary", str(ben_v2)], capture_output=True, text=True
    )
    assert done.returncode == 0 and json.loads(done.stdout) == {
        "event": "dataset",
        "splits": {"train": 6, "validation": 6, "test": 6},
    }
    done = subprocess.run(
        [sys.executable, "-m", "mosaic.backend.data.dataset_summary", str(tmp_path)], capture_output=True, text=True
    )
    event = json.loads(done.stdout)
    assert done.returncode == 2 and event["event"] == "error" and "metadata.parquet" in event["message"]


@pytest.mark.parametrize(("n", "fraction"), [(6, 1.0), (6, 0.1), (6, 0.5), (237, 0.1), (1000, 0.01), (40, 0.05)])
def test_labelled_rows_is_the_size_the_subset_draws(n, fraction):
    labels = np.random.default_rng(0).random((n, 5)) < 0.3
    assert labelled_rows(n, fraction) == int(label_fraction_subset(labels, fraction).sum())

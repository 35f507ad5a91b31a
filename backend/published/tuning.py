"""Decision thresholds of an imported model tuned on the validation split of a dataset (``--tune-on DATA``), as
``mosaic evaluate`` tunes them: per class and head, the threshold maximising F1 on validation
(:func:`~mosaic.backend.training.metrics.tune_thresholds`); the test split, when the dataset has one, is scored
with them (:func:`~mosaic.backend.training.metrics.multilabel_metrics`)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import reben


def split_probabilities(model, root: str | os.PathLike, split: str, batch_size: int = 32) -> dict[str, np.ndarray]:
    """``{head: probabilities [N, 19]}`` of ``model`` (:class:`~.heads.PublishedModel`) and ``target`` over the
    ``split`` of the BigEarthNet v2 layout dataset at ``root`` (labels by name in the published class order)."""
    import torch
    from torch.utils.data import DataLoader

    from ..data import make_dataset

    ds = make_dataset(
        "bigearthnet_v2",
        root=str(root),
        split=split,
        s2_bands="s2_10",
        upsampling=reben.UPSAMPLING,
        class_names=reben.CLASS_NAMES,
    )
    out: dict[str, list] = {"target": [np.zeros((0, len(reben.CLASS_NAMES)), dtype=np.float32)]}
    with torch.no_grad():
        for batch in DataLoader(ds, batch_size=batch_size):
            for head, probs in model.probabilities(batch["s2"], batch["s1"]).items():
                out.setdefault(head, []).append(probs.numpy())
            out.setdefault("target", []).append(batch["label"].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def tune_thresholds_on(model, root: str | os.PathLike, batch_size: int = 32) -> dict:
    """``{"thresholds", "metrics", "heads": {head: {"thresholds", "metrics"}}, "validation_patches",
    "test_patches"}``: thresholds of every head tuned on the ``validation`` split of ``root``, and the summary
    metrics of the ``test`` split with them (``test/<name>``; none when the test split is empty)."""
    from ..training.metrics import multilabel_metrics, tune_thresholds

    if not Path(root).is_dir():
        raise InputError(f"--tune-on {root}: no such folder; give a dataset folder (BigEarthNet v2 layout).")
    val = split_probabilities(model, root, "validation", batch_size)
    if not len(val["target"]):
        raise InputError(f"the validation split of {root} is empty; --tune-on needs validation patches to tune on.")
    test = split_probabilities(model, root, "test", batch_size)
    if not len(test["target"]):
        test = None

    def scores(head: str) -> dict:
        thresholds = tune_thresholds(val[head], val["target"])
        summary = {} if test is None else multilabel_metrics(test[head], test["target"], reben.CLASS_NAMES, thresholds)
        metrics = {f"test/{k}": v for k, v in summary.items() if isinstance(v, float) and math.isfinite(v)}
        return {"thresholds": thresholds.tolist(), "metrics": metrics}

    fused = scores("fused")
    return {
        **fused,
        "heads": {head: scores(head) for head in model.heads if head != "fused"},
        "validation_patches": len(val["target"]),
        "test_patches": 0 if test is None else len(test["target"]),
    }

"""Evaluating a trained model (``mosaic evaluate``): metrics, per-class thresholds, t-SNE plots and a report.

Probabilities of the evaluated split (default ``test``) are scored with :func:`multilabel_metrics`: macro / micro
AP, macro / micro F1 and Hamming loss at 0.5 and at per-class thresholds that maximise F1 on the *validation*
split, plus per-class AP, F1, Hamming loss and Brier score. Classes without a positive in the evaluated set are
listed and left out of the macro means (torchmetrics 1.9 would count them as AP = 0). t-SNE maps of the pooled
S1, S2 and fused embeddings are drawn with scikit-learn + matplotlib (Agg). Outputs in ``--out``: ``metrics.json``,
``report.md`` and ``tsne_<embedding>.png``; each file is written under a temporary name and renamed when complete.

Every classification head is scored: the fused one and, for S1+S2 models, the S1-only and S2-only heads (each
with its own thresholds tuned on validation). Besides the evaluated split, the heads are scored on BigEarthNet's
patches with seasonal snow or cloud / shadow (``metadata_for_patches_with_snow_cloud_or_shadow.parquet`` beside
the dataset's ``metadata.parquet``): all of them when training left them out (the BigEarthNet default), only
those of the evaluated split when it used them (``include_snow_cloud``). Datasets without that file skip it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..errors import OutputError
from ..training.metrics import multilabel_metrics, tune_thresholds
from ..training.module import load_module
from .checkpoint_data import checkpoint_dataset, cloudy_dataset
from .report import markdown_report, tsne_plot


def dataset_probabilities(module, dataset, batch_size: int = 64, num_workers: int = 0) -> dict[str, np.ndarray]:
    """Probabilities of every head (``probs`` fused, ``probs_s1``, ``probs_s2`` where the model has them), targets
    and pooled embeddings (``h_s1``, ``h_s2``, ``fused``) over ``dataset``."""
    import torch
    from torch.utils.data import DataLoader

    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = module.net.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    out: dict[str, list] = {}
    with torch.no_grad():
        for batch in loader:
            feats = net.features(batch["s2"].to(device), batch["s1"].to(device))
            for head, logits in net.head_logits(feats).items():
                feats["probs" if head == "fused" else f"probs_{head}"] = torch.sigmoid(logits)
            feats["target"] = batch["label"]
            for k, v in feats.items():
                out.setdefault(k, []).append(v.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def _json_safe(value: Any) -> Any:
    """NaN / Inf → None (JSON has no NaN), recursively."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike | None = None,
    split: str = "test",
    val_split: str = "validation",
    out_dir: str | os.PathLike | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    tsne: bool = True,
    tsne_max: int = 3000,
    dataset_options: dict[str, Any] | None = None,
) -> dict:
    """Evaluate a training checkpoint; returns ``{"metrics", "thresholds", "validation_metrics", ...}``.

    ``thresholds`` (per class, canonical order) maximise F1 on ``val_split`` and are what
    ``MosaicModule.export_metadata(evaluation=result)`` records; ``cloudy_metrics`` scores the same head on the snow
    / cloud / shadow patches (:func:`cloudy_dataset`; ``cloudy_patches`` of them, ``None`` when there are none).
    These top-level keys are the fused head's; ``heads`` holds the same keys for the ``s1`` / ``s2`` heads of an
    S1+S2 model. With ``out_dir``, writes ``metrics.json``, ``report.md`` and the t-SNE PNGs there.
    """

    module = load_module(checkpoint)
    names = list(module.hparams.class_names)

    def load(split_name: str):
        ds = checkpoint_dataset(checkpoint, split_name, names, data_root, dataset_options)
        return dataset_probabilities(module, ds, batch_size, num_workers)

    val = load(val_split)
    test = load(split)
    cloudy_ds = cloudy_dataset(checkpoint, split, names, data_root, dataset_options)
    cloudy = (
        dataset_probabilities(module, cloudy_ds, batch_size, num_workers)
        if cloudy_ds is not None and len(cloudy_ds)
        else None
    )

    def scores(key: str) -> dict:
        thresholds = tune_thresholds(val[key], val["target"])
        return {
            "thresholds": thresholds.tolist(),
            "metrics": multilabel_metrics(test[key], test["target"], names, thresholds),
            "validation_metrics": multilabel_metrics(val[key], val["target"], names, thresholds),
            "cloudy_metrics": None
            if cloudy is None
            else multilabel_metrics(cloudy[key], cloudy["target"], names, thresholds),
        }

    result = {
        "checkpoint": str(checkpoint),
        "split": split,
        "val_split": val_split,
        "class_names": names,
        **scores("probs"),
        "cloudy_patches": 0 if cloudy is None else len(cloudy["target"]),
        "cloudy_split": None if cloudy_ds is None else cloudy_ds.split,
        "heads": {head: scores(f"probs_{head}") for head in module.net.classifiers if head != "fused"},
    }
    if out_dir is not None:
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder {out}: {exc.strerror}") from None
        plots = []
        if tsne and len(test["target"]) >= 4:
            pick = np.random.default_rng(0).permutation(len(test["target"]))[:tsne_max]
            for key, title in (("h_s1", "S1"), ("h_s2", "S2"), ("fused", "fused S1+S2")):
                if key in test:
                    name = f"tsne_{key.removeprefix('h_')}.png"
                    tsne_plot(test[key][pick], test["target"][pick], names, title, out / name)
                    plots.append(name)
        result["files"] = ["metrics.json", "report.md", *plots]
        text = json.dumps(_json_safe(result), indent=2, allow_nan=False)
        atomic_write(out / "metrics.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
        report = markdown_report(result, plots)
        atomic_write(out / "report.md", lambda tmp: tmp.write_text(report, encoding="utf-8"))
    return result

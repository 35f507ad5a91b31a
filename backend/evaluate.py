"""``mosaic evaluate CHECKPOINT``: metrics, per-class thresholds, t-SNE plots and a report for a trained model.

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

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write
from .checkpoint_file import checkpoint_dataset, read_checkpoint
from .errors import OutputError
from .training.metrics import multilabel_metrics, tune_thresholds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mosaic evaluate``."""
    parser.add_argument("checkpoint", help="a .ckpt file written by `mosaic train`")
    parser.add_argument("--data-root", help="dataset folder (default: the one the model was trained on)")
    parser.add_argument("--lmdb-path", help="read the pixels from this LMDB (faster than GeoTIFF folders)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--val-split", default="validation", help="split to tune per-class thresholds on")
    parser.add_argument("--out", "-o", default="evaluation", help="output folder (default: ./evaluation)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--no-tsne", action="store_true", help="skip the t-SNE plots")
    parser.add_argument("--tsne-max", type=int, default=3000, help="at most this many points per t-SNE plot")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the summary metrics."""
    options = {"lmdb_path": args.lmdb_path} if args.lmdb_path else None
    result = evaluate_checkpoint(
        args.checkpoint,
        data_root=args.data_root,
        split=args.split,
        val_split=args.val_split,
        out_dir=args.out,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        tsne=not args.no_tsne,
        tsne_max=args.tsne_max,
        dataset_options=options,
    )
    m = result["metrics"]
    print(
        f"{result['split']}: {m['n_samples']} patches; AP macro {m['ap_macro']:.4f} micro {m['ap_micro']:.4f}; "
        f"F1@0.5 macro {m['f1_macro']:.4f} micro {m['f1_micro']:.4f}; F1@tuned macro {m['f1_macro_tuned']:.4f}; "
        f"report: {Path(args.out) / 'report.md'}"
    )
    for head, row in head_rows(result):
        print(
            f"  {head}: "
            + "; ".join(
                f"{where} ({n} patches) AP macro {ap:.4f} micro {ap_mi:.4f}, F1@tuned macro {f1:.4f} micro {f1_mi:.4f}"
                for where, n, ap, ap_mi, f1, f1_mi in row
            )
        )
    return 0


def predict(module, dataset, batch_size: int = 64, num_workers: int = 0) -> dict[str, np.ndarray]:
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


def tsne_plot(embedding: np.ndarray, target: np.ndarray, class_names, title: str, path: Path, seed: int = 0) -> None:
    """2-D t-SNE of ``embedding`` coloured by each sample's rarest label (grey: no label) → PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    from .data.classes import class_colors

    n = embedding.shape[0]
    xy = TSNE(n_components=2, perplexity=float(min(30, max(2, (n - 1) // 3))), init="pca", random_state=seed)
    xy = xy.fit_transform(embedding.astype(np.float64))
    counts = target.sum(0)
    rarity = np.where(target > 0, counts[None, :], np.inf)
    primary = np.where(target.any(1), rarity.argmin(1), -1)
    colors = class_colors(list(class_names))
    fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
    for c in [-1, *sorted(set(primary.tolist()) - {-1})]:
        sel = primary == c
        if sel.any():
            ax.scatter(
                xy[sel, 0],
                xy[sel, 1],
                s=18,
                c="#999999" if c < 0 else colors[c],
                label="no label" if c < 0 else class_names[c],
                edgecolors="none",
            )
    ax.set_title(f"{title}: t-SNE of {n} patches, coloured by rarest label", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight"))
    plt.close(fig)


def _report(result: dict, plots: list[str]) -> str:
    m = result["metrics"]
    lines = [
        f"# MoSAiC evaluation: {result['checkpoint']}",
        "",
        f"Split `{result['split']}` ({m['n_samples']} patches); thresholds tuned on `{result['val_split']}`.",
        "Classes without positives are left out of the macro means: "
        + (", ".join(m["classes_without_positives"]) or "none")
        + ".",
        "",
        "| metric | at 0.5 | at tuned thresholds |",
        "|---|---|---|",
        f"| AP macro | {m['ap_macro']:.4f} | |",
        f"| AP micro | {m['ap_micro']:.4f} | |",
        f"| F1 macro | {m['f1_macro']:.4f} | {m['f1_macro_tuned']:.4f} |",
        f"| F1 micro | {m['f1_micro']:.4f} | {m['f1_micro_tuned']:.4f} |",
        f"| Hamming loss | {m['hamming_loss']:.4f} | {m['hamming_loss_tuned']:.4f} |",
        "",
        "| class | positives | AP | F1@0.5 | F1@tuned | threshold | Hamming | Brier |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def f(v):
        return "–" if v is None else f"{v:.4f}"

    for name, c in m["per_class"].items():
        lines.append(
            f"| {name} | {c['n_positives']} | {f(c['ap'])} | {f(c['f1'])} | {f(c['f1_tuned'])} | "
            f"{c['threshold']:.3f} | {c['hamming_loss']:.4f} | {c['brier']:.4f} |"
        )
    cloudy = (
        f"{result['cloudy_patches']} snow / cloud / shadow patches (split `{result['cloudy_split']}`)."
        if result.get("cloudy_patches")
        else "This dataset has no snow / cloud / shadow patches."
    )
    lines += [
        "",
        "## Heads on clean and on snow / cloud / shadow patches",
        "",
        "Each head at its own thresholds tuned on validation; the S1-only head never sees S2, so clouds cannot "
        f"reach it. {cloudy}",
        "",
        *heads_table(result),
    ]
    lines += ["", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)


def heads_table(result: dict) -> list[str]:
    """Markdown table lines: every head of an :func:`evaluate_checkpoint` result on the evaluated split and on the
    snow / cloud / shadow patches (:func:`head_rows`)."""
    lines = [
        "| head | patches | AP macro | AP micro | F1 macro (tuned) | F1 micro (tuned) |",
        "|---|---|---|---|---|---|",
    ]
    for head, row in head_rows(result):
        lines += [
            f"| {head}, {where} | {n} | {ap:.4f} | {ap_mi:.4f} | {f1:.4f} | {f1_mi:.4f} |"
            for where, n, ap, ap_mi, f1, f1_mi in row
        ]
    return lines


def head_rows(result: dict) -> list[tuple[str, list[tuple]]]:
    """``[(head, [(where, patches, AP macro, AP micro, F1 macro tuned, F1 micro tuned), ...]), ...]`` of an
    :func:`evaluate_checkpoint` result: every head on the evaluated split and on the snow / cloud / shadow patches."""
    rows = []
    for head, r in [("fused", result), *result.get("heads", {}).items()]:
        cells = []
        for where, m in ((result["split"], r["metrics"]), ("snow/cloud/shadow", r.get("cloudy_metrics"))):
            if m:
                cells.append(
                    (where, m["n_samples"], m["ap_macro"], m["ap_micro"], m["f1_macro_tuned"], m["f1_micro_tuned"])
                )
        rows.append((head, cells))
    return rows


def cloudy_dataset(checkpoint, split: str, class_names: list[str], data_root=None, dataset_options=None):
    """BigEarthNet's snow / cloud / shadow patches of the checkpoint's dataset (``None`` when it has none): all of
    them, or only those of ``split`` when training used them (``include_snow_cloud``)."""
    from .data.bigearthnet import SNOW_CLOUD_METADATA

    data_h = dict(read_checkpoint(checkpoint).get("datamodule_hyper_parameters") or {})
    root = data_root or data_h.get("root")
    extra = Path(root) / SNOW_CLOUD_METADATA if root else None
    if data_h.get("dataset", "bigearthnet_v2") != "bigearthnet_v2" or extra is None or not extra.is_file():
        return None
    options = {**(data_h.get("options") or {}), **(dataset_options or {})}
    trained_on_them = bool(options.get("include_snow_cloud"))
    options.update(metadata_path=str(extra), include_snow_cloud=False)
    return checkpoint_dataset(checkpoint, split if trained_on_them else "all", class_names, data_root, options)


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
    from .export import load_module

    module = load_module(checkpoint)
    names = list(module.hparams.class_names)

    def load(split_name: str):
        ds = checkpoint_dataset(checkpoint, split_name, names, data_root, dataset_options)
        return predict(module, ds, batch_size, num_workers)

    val = load(val_split)
    test = load(split)
    cloudy_ds = cloudy_dataset(checkpoint, split, names, data_root, dataset_options)
    cloudy = predict(module, cloudy_ds, batch_size, num_workers) if cloudy_ds is not None and len(cloudy_ds) else None

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
        report = _report(result, plots)
        atomic_write(out / "report.md", lambda tmp: tmp.write_text(report, encoding="utf-8"))
    return result

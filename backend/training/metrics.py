"""Multi-label metrics (numpy + scikit-learn), shared by validation and ``mosaic evaluate``.

Inputs: ``probs`` ``[N, C]`` probabilities (any monotone score works for AP), ``target`` ``[N, C]`` in {0, 1}.
Classes with no positive in the evaluated set have no defined AP / F1: they are listed in
``classes_without_positives`` and **left out of every macro mean** (torchmetrics 1.9 would score them AP = 0
and keep them in the macro mean, which drags small evaluation sets down). Micro means pool all entries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve


def _present(target: np.ndarray) -> np.ndarray:
    return target.sum(axis=0) > 0


def per_class_ap(probs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Average precision ``AP_c = Σ_n (R_n - R_{n-1}) P_n`` per class; NaN for classes without positives."""
    present = _present(target)
    return np.array(
        [average_precision_score(target[:, c], probs[:, c]) if present[c] else np.nan for c in range(target.shape[1])]
    )


def ap_macro(probs: np.ndarray, target: np.ndarray) -> float:
    """Mean AP over the classes that have at least one positive (NaN when none has)."""
    ap = per_class_ap(probs, target)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")


def tune_thresholds(probs: np.ndarray, target: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per-class threshold maximising F1 on (validation) data; ``default`` for classes without positives.

    Candidates are the distinct scores (``precision_recall_curve``); ``F1 = 2PR / (P + R)``.
    """
    out = np.full(target.shape[1], default, dtype=np.float64)
    for c in np.flatnonzero(_present(target)):
        precision, recall, thresholds = precision_recall_curve(target[:, c], probs[:, c])
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        out[c] = float(thresholds[int(np.argmax(f1))])
    return out


def _f1(target: np.ndarray, pred: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, float, float]:
    per_class = f1_score(target, pred, average=None, zero_division=0)
    macro = float(per_class[present].mean()) if present.any() else float("nan")
    return per_class, macro, float(f1_score(target, pred, average="micro", zero_division=0))


def multilabel_metrics(
    probs: np.ndarray,
    target: np.ndarray,
    class_names: Sequence[str],
    thresholds: np.ndarray | None = None,
) -> dict:
    """All metrics of ``mosaic evaluate`` as a JSON-ready dict.

    Summary: ``ap_macro``, ``ap_micro``, ``f1_macro``/``f1_micro`` at 0.5, ``hamming_loss`` at 0.5
    (``1/(N·C) Σ [ŷ ≠ y]``), and with per-class ``thresholds`` (e.g. tuned on validation) ``f1_macro_tuned``,
    ``f1_micro_tuned``, ``hamming_loss_tuned``. Per class: AP, F1 (0.5 / tuned), Hamming loss, Brier score
    ``1/N Σ_n (p_nc - y_nc)²``, number of positives, threshold.
    """
    probs = np.asarray(probs, dtype=np.float64)
    target = np.asarray(target).astype(np.int64)
    present = _present(target)
    ap = per_class_ap(probs, target)
    pred = (probs >= 0.5).astype(np.int64)
    f1_c, f1_macro, f1_micro = _f1(target, pred, present)
    out = {
        "n_samples": int(target.shape[0]),
        "ap_macro": float(np.nanmean(ap)) if present.any() else float("nan"),
        "ap_micro": float(average_precision_score(target.ravel(), probs.ravel())),
        "f1_macro": f1_macro,
        "f1_micro": f1_micro,
        "hamming_loss": float((pred != target).mean()),
        "classes_without_positives": [n for n, p in zip(class_names, present) if not p],
    }
    per_class = {
        name: {
            "n_positives": int(target[:, c].sum()),
            "ap": None if np.isnan(ap[c]) else float(ap[c]),
            "f1": float(f1_c[c]) if present[c] else None,
            "hamming_loss": float((pred[:, c] != target[:, c]).mean()),
            "brier": float(((probs[:, c] - target[:, c]) ** 2).mean()),
        }
        for c, name in enumerate(class_names)
    }
    if thresholds is not None:
        thresholds = np.asarray(thresholds, dtype=np.float64)
        tuned = (probs >= thresholds[None, :]).astype(np.int64)
        f1_t, out["f1_macro_tuned"], out["f1_micro_tuned"] = _f1(target, tuned, present)
        out["hamming_loss_tuned"] = float((tuned != target).mean())
        for c, name in enumerate(class_names):
            per_class[name]["threshold"] = float(thresholds[c])
            per_class[name]["f1_tuned"] = float(f1_t[c]) if present[c] else None
            per_class[name]["hamming_loss_tuned"] = float((tuned[:, c] != target[:, c]).mean())
    out["per_class"] = per_class
    return out

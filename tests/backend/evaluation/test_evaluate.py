"""Metrics against torchmetrics reference values and scikit-learn; ``evaluate_checkpoint`` on real patches."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, hamming_loss

from mosaic.backend.evaluation.evaluate import dataset_probabilities, evaluate_checkpoint
from mosaic.backend.training.datamodule import MosaicDataModule
from mosaic.backend.training.metrics import multilabel_metrics, tune_thresholds
from mosaic.backend.training.module import MosaicModule


@pytest.fixture(scope="module")
def metrics_fixture(shared_data: Path) -> dict:
    ref = json.loads((shared_data.parent / "reference" / "loss_reference_values.json").read_text())
    return ref["metrics_fixture"]


def test_metrics_match_torchmetrics_reference(metrics_fixture):
    logits = np.array(metrics_fixture["logits"], dtype=np.float64)
    target = np.array(metrics_fixture["target"])
    exp = metrics_fixture["expected"]
    probs = 1 / (1 + np.exp(-logits))
    m = multilabel_metrics(probs, target, [f"c{i}" for i in range(target.shape[1])])
    assert m["classes_without_positives"] == []  # so leaving them out changes nothing here
    assert m["ap_macro"] == pytest.approx(exp["MultilabelAveragePrecision_macro(sigmoid)"], abs=1e-5)
    assert m["ap_micro"] == pytest.approx(exp["MultilabelAveragePrecision_micro(sigmoid)"], abs=1e-5)
    assert m["f1_macro"] == pytest.approx(exp["MultilabelF1Score_macro(logits, thr=0.5)"], abs=1e-5)
    assert m["f1_micro"] == pytest.approx(exp["MultilabelF1Score_micro(logits, thr=0.5)"], abs=1e-5)
    # AP is rank-based: logits give the same value
    assert multilabel_metrics(logits, target, list(range(19)))["ap_macro"] == pytest.approx(m["ap_macro"], abs=1e-12)


def test_metrics_match_sklearn_and_leave_out_classes_without_positives(metrics_fixture):
    rng = np.random.default_rng(0)
    probs = rng.random((40, 5))
    target = (rng.random((40, 5)) < 0.4).astype(int)
    target[:, 3] = 0  # no positives
    names = ["a", "b", "c", "d", "e"]
    thr = np.array([0.3, 0.5, 0.7, 0.5, 0.6])
    m = multilabel_metrics(probs, target, names, thresholds=thr)
    present = [0, 1, 2, 4]
    assert m["classes_without_positives"] == ["d"]
    assert m["per_class"]["d"]["ap"] is None and m["per_class"]["d"]["f1"] is None
    assert m["ap_macro"] == pytest.approx(average_precision_score(target[:, present], probs[:, present]))
    assert m["ap_micro"] == pytest.approx(average_precision_score(target, probs, average="micro"))
    pred = (probs >= 0.5).astype(int)
    assert m["f1_macro"] == pytest.approx(f1_score(target[:, present], pred[:, present], average="macro"))
    assert m["f1_micro"] == pytest.approx(f1_score(target, pred, average="micro"))
    assert m["hamming_loss"] == pytest.approx(hamming_loss(target, pred))
    tuned = (probs >= thr).astype(int)
    assert m["f1_macro_tuned"] == pytest.approx(f1_score(target[:, present], tuned[:, present], average="macro"))
    assert m["hamming_loss_tuned"] == pytest.approx(hamming_loss(target, tuned))
    for c, name in enumerate(names):
        assert m["per_class"][name]["brier"] == pytest.approx(np.mean((probs[:, c] - target[:, c]) ** 2))
        assert m["per_class"][name]["hamming_loss"] == pytest.approx(np.mean(pred[:, c] != target[:, c]))
        assert m["per_class"][name]["n_positives"] == target[:, c].sum()


def test_tuned_thresholds_maximise_f1():
    rng = np.random.default_rng(1)
    target = (rng.random((60, 3)) < 0.3).astype(int)
    probs = np.clip(target * 0.3 + rng.random((60, 3)) * 0.7, 0, 1)
    thr = tune_thresholds(probs, target)
    for c in range(3):
        best = max(f1_score(target[:, c], probs[:, c] >= t) for t in np.unique(probs[:, c]))
        assert f1_score(target[:, c], probs[:, c] >= thr[c]) == pytest.approx(best)
    assert tune_thresholds(probs, np.zeros_like(target)).tolist() == [0.5, 0.5, 0.5]


def test_evaluate_checkpoint_on_real_patches(ben_v2, tmp_path):
    pl.seed_everything(0)
    data = MosaicDataModule(root=str(ben_v2), batch_size=6, num_workers=0)
    model = MosaicModule(strategy="supervised", backbone="resnet18", fusion_dim=32, class_names=data.class_names)
    trainer = pl.Trainer(
        max_steps=1,
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=data)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    out = tmp_path / "eval"
    result = evaluate_checkpoint(ckpt, out_dir=out, tsne=True)  # dataset folder comes from the checkpoint
    m = result["metrics"]
    assert m["n_samples"] == 6 and result["split"] == "test" and len(result["thresholds"]) == 19
    # the 6 test patches carry some classes only: those are reported and left out of the macro means
    test = data.dataset("test")
    absent = [n for n, k in zip(data.class_names, test.labels.sum(0)) if k == 0]
    assert m["classes_without_positives"] == absent and len(absent) > 0
    preds = dataset_probabilities(model.eval(), test)
    np.testing.assert_array_equal(preds["target"], test.labels)
    again = multilabel_metrics(preds["probs"], preds["target"], data.class_names, np.array(result["thresholds"]))
    assert m["ap_macro"] == pytest.approx(again["ap_macro"], abs=1e-6)
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json",
        "report.md",
        "tsne_fused.png",
        "tsne_s1.png",
        "tsne_s2.png",
    ]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["metrics"]["ap_macro"] == pytest.approx(m["ap_macro"])
    report = (out / "report.md").read_text()
    assert "| AP macro |" in report and "![tsne_fused.png](tsne_fused.png)" in report
    parts = model.export_metadata(evaluation=result)
    assert parts["thresholds"] == result["thresholds"]
    assert parts["metrics"]["test/ap_macro"] == pytest.approx(m["ap_macro"])
    _check_heads_on_clean_and_cloudy_patches(ben_v2, model.eval(), result, report, parts)


def _check_heads_on_clean_and_cloudy_patches(ben_v2: Path, model, result: dict, report: str, parts: dict) -> None:
    """Fused, S1-only and S2-only heads scored on the 6 test patches and on every real snow / cloud / shadow patch
    (left out of training), each at its own validation-tuned thresholds, and recorded for export."""
    import pandas as pd

    from mosaic.backend.data.bigearthnet import SNOW_CLOUD_METADATA, BigEarthNetV2

    cloudy_rows = pd.read_parquet(ben_v2 / SNOW_CLOUD_METADATA)
    assert len(cloudy_rows) == 6 and (cloudy_rows.contains_seasonal_snow | cloudy_rows.contains_cloud_or_shadow).all()
    assert result["cloudy_patches"] == 6 and result["cloudy_split"] == "all"
    assert set(result["heads"]) == {"s1", "s2"}
    cloudy = BigEarthNetV2(ben_v2, split="all", metadata_path=ben_v2 / SNOW_CLOUD_METADATA)
    preds = dataset_probabilities(model, cloudy)
    names = result["class_names"]
    for head, r in [("fused", result), *result["heads"].items()]:
        assert len(r["thresholds"]) == 19
        assert r["metrics"]["n_samples"] == 6 and r["cloudy_metrics"]["n_samples"] == 6
        for m in (r["metrics"], r["cloudy_metrics"], r["validation_metrics"]):
            assert all(np.isfinite(m[k]) and 0 <= m[k] <= 1 for k in ("ap_macro", "ap_micro", "f1_macro", "f1_micro"))
        key = "probs" if head == "fused" else f"probs_{head}"
        again = multilabel_metrics(preds[key], cloudy.labels, names, np.array(r["thresholds"]))
        assert r["cloudy_metrics"]["ap_macro"] == pytest.approx(again["ap_macro"], abs=1e-6)
        assert f"| {head}, snow/cloud/shadow | 6 | {r['cloudy_metrics']['ap_macro']:.4f} |" in report
        assert f"| {head}, test | 6 | {r['metrics']['ap_macro']:.4f} |" in report
    assert not np.allclose(preds["probs_s1"], preds["probs_s2"])  # three different heads, not one copied
    assert parts["metrics"]["cloudy/ap_macro"] == pytest.approx(result["cloudy_metrics"]["ap_macro"])
    for head in ("s1", "s2"):
        assert parts["heads"][head]["thresholds"] == result["heads"][head]["thresholds"]
        assert parts["heads"][head]["metrics"]["test/ap_macro"] == pytest.approx(
            result["heads"][head]["metrics"]["ap_macro"]
        )
        assert parts["heads"][head]["metrics"]["cloudy/f1_micro_tuned"] == pytest.approx(
            result["heads"][head]["cloudy_metrics"]["f1_micro_tuned"]
        )

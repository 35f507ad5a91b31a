"""ONNX export: parity with PyTorch on real BigEarthNet patches, dynamic batch, embedded schema-valid metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from mosaic.backend.data.classes import BEN19_CLASSES, class_colors
from mosaic.backend.errors import ModelError, OutputError
from mosaic.backend.export.metadata import build_metadata
from mosaic.backend.export.onnx_file import export_onnx
from mosaic.backend.inference.metadata import load_schema


@pytest.fixture(scope="module")
def real_batch(ben_v2):
    from mosaic.backend.data.bigearthnet import BigEarthNetV2

    ds = BigEarthNetV2(ben_v2, split="all", include_snow_cloud=True)
    samples = [ds[i] for i in range(0, len(ds), 3)]  # 8 real patches, Austria and Finland
    return torch.stack([s["s2"] for s in samples]), torch.stack([s["s1"] for s in samples])


def test_onnxruntime_equals_pytorch_on_real_patches(onnx_model_path, torch_model, real_batch):
    s2, s1 = real_batch
    session = ort.InferenceSession(onnx_model_path, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = torch_model(s2, s1).numpy()
    got = session.run(["probabilities"], {"s2": s2.numpy(), "s1": s1.numpy()})[0]
    assert got.shape == (8, 19)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    assert ref.std() > 1e-3  # the patches give different outputs: a real comparison, not constants
    one = session.run(["probabilities"], {"s2": s2[:1].numpy(), "s1": s1[:1].numpy()})[0]  # dynamic batch axis
    np.testing.assert_allclose(one, ref[:1], atol=1e-4, rtol=0)


def test_graph_signature_and_embedded_metadata(onnx_model_path, torch_model):
    proto = onnx.load(onnx_model_path)
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims == {"s2": ["batch", 10, 120, 120], "s1": ["batch", 2, 120, 120]}
    assert [o.name for o in proto.graph.output] == ["probabilities"]
    props = {p.key: p.value for p in proto.metadata_props}
    meta = json.loads(props["mosaic"])
    jsonschema.Draft202012Validator(load_schema()).validate(meta)
    assert meta["class_names"] == list(BEN19_CLASSES)
    assert meta["class_colors"] == class_colors(BEN19_CLASSES)
    assert meta["thresholds"] == [0.5] * 19 and meta["thresholds_tuned"] is False
    s2 = meta["inputs"]["s2"]
    assert s2["bands"] == ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    assert s2["units"] == "reflectance x 10000" and s2["nodata"] == 0 and s2["normalisation"]["in_graph"] is True
    np.testing.assert_allclose(
        s2["normalisation"]["mean"], torch_model.net.norm["s2"].mean.flatten().numpy(), rtol=1e-6
    )
    assert meta["inputs"]["s1"]["bands"] == ["VV", "VH"] and meta["inputs"]["s1"]["nodata"] == "nan"
    assert (meta["patch_size_px"], meta["gsd_m"], meta["upsampling"]) == (120, 10.0, "nearest")


def test_per_modality_heads_are_named_outputs_equal_to_pytorch(heads_onnx_model_path, heads_torch_model, real_batch):
    s2, s1 = real_batch
    proto = onnx.load(heads_onnx_model_path)
    assert [o.name for o in proto.graph.output] == ["probabilities", "probabilities_s1", "probabilities_s2"]
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["mosaic"])
    jsonschema.Draft202012Validator(load_schema()).validate(meta)
    assert meta["schema_version"] == 3 and meta["output"]["name"] == "probabilities"
    assert meta["heads"] == {
        h: {"output": f"probabilities_{h}", "thresholds": [0.5] * 19, "metrics": {}} for h in ("s1", "s2")
    }
    session = ort.InferenceSession(heads_onnx_model_path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"s2": s2.numpy(), "s1": s1.numpy()})
    with torch.no_grad():
        ref = heads_torch_model.probabilities(s2, s1)
    for head, probs in zip(("fused", "s1", "s2"), got):
        assert probs.shape == (8, 19) and ref[head].std() > 1e-3
        np.testing.assert_allclose(probs, ref[head].numpy(), atol=1e-5, rtol=0)


def test_metadata_must_list_the_heads_the_model_outputs(heads_torch_model, torch_model, tmp_path):
    from ..conftest import metadata_parts

    fused_only = build_metadata(metadata_parts(torch_model))
    with pytest.raises(ModelError, match=r"describes the heads \('fused',\) but the model outputs \('fused', 's1', "):
        export_onnx(heads_torch_model, fused_only, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_invalid_metadata_is_refused_before_anything_is_written(torch_model, tmp_path):
    meta = build_metadata(
        {"class_names": list(BEN19_CLASSES), "strategy": "supervised", "training": {"dataset": "x", "licence": "y"}}
    )
    meta["thresholds"] = meta["thresholds"][:3]
    out = tmp_path / "m.onnx"
    with pytest.raises(ModelError, match="thresholds has 3 entries for 19 classes"):
        export_onnx(torch_model, meta, out)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(onnx_model_path, torch_model):
    with pytest.raises(OutputError, match="exists already; pass --overwrite"):
        export_onnx(torch_model, {}, onnx_model_path)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, ben_v2):
    """A real Lightning checkpoint of ``MosaicModule`` (supervised, ResNet-18) after 2 steps on real patches."""
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader

    from mosaic.backend.data.bigearthnet import BigEarthNetV2
    from mosaic.backend.training.module import MosaicModule

    torch.manual_seed(0)
    training_data = {"dataset": "BigEarthNet v2.0 (24-pair sample)", "licence": "CDLA-Permissive-1.0"}
    module = MosaicModule(strategy="supervised", backbone="resnet18", training_data=training_data)
    trainer = pl.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(BigEarthNetV2(ben_v2, split="train"), batch_size=4))
    path = tmp_path_factory.mktemp("ckpt") / "last.ckpt"
    trainer.save_checkpoint(path)
    return path, module


@pytest.mark.slow
def test_mosaic_export_command_with_tuned_thresholds(checkpoint, real_batch, ben_v2, tmp_path):
    """Train 2 steps → ``mosaic evaluate`` → ``mosaic export --evaluation`` (≈ 1 min on 2 cores)."""
    from mosaic.backend.errors import InputError
    from mosaic.backend.evaluation.evaluate import evaluate_checkpoint
    from mosaic.backend.export.from_checkpoint import export_checkpoint

    path, module = checkpoint
    evaluation = evaluate_checkpoint(path, data_root=ben_v2, out_dir=tmp_path / "eval", tsne=False)
    out = tmp_path / "model.onnx"
    mosaic = str(Path(sys.executable).parent / "mosaic")
    cmd = [mosaic, "export", str(path), "-o", str(out), "--evaluation", str(tmp_path / "eval" / "metrics.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"wrote {out}" in proc.stdout and "heads fused, s1, s2" in proc.stdout
    s2, s1 = real_batch
    with torch.no_grad():
        ref = module.inference_model().probabilities(s2, s1)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {"s2": s2.numpy(), "s1": s1.numpy()})
    assert [o.name for o in session.get_outputs()] == ["probabilities", "probabilities_s1", "probabilities_s2"]
    for head, probs in zip(("fused", "s1", "s2"), got):  # the trained checkpoint's three heads, to 1e-5
        np.testing.assert_allclose(probs, ref[head].numpy(), atol=1e-5, rtol=0)
    meta = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}["mosaic"])
    assert meta["strategy"] == "supervised" and meta["architecture"] == {"backbone": "resnet18", "modalities": "s1s2"}
    assert meta["training"]["dataset"] == "BigEarthNet v2.0 (24-pair sample)"
    assert meta["class_names"] == list(BEN19_CLASSES)
    assert meta["thresholds_tuned"] is True
    np.testing.assert_allclose(meta["thresholds"], evaluation["thresholds"])
    assert meta["metrics"]["test/ap_macro"] == pytest.approx(evaluation["metrics"]["ap_macro"])
    assert meta["metrics"]["cloudy/ap_macro"] == pytest.approx(evaluation["cloudy_metrics"]["ap_macro"])
    for head in ("s1", "s2"):  # per-head thresholds tuned on validation and per-head test / cloudy metrics
        recorded, evaluated = meta["heads"][head], evaluation["heads"][head]
        assert recorded["output"] == f"probabilities_{head}"
        np.testing.assert_allclose(recorded["thresholds"], evaluated["thresholds"])
        assert recorded["metrics"]["test/ap_macro"] == pytest.approx(evaluated["metrics"]["ap_macro"])
        assert recorded["metrics"]["cloudy/ap_micro"] == pytest.approx(evaluated["cloudy_metrics"]["ap_micro"])
    assert meta["heads"]["s1"]["thresholds"] != meta["heads"]["s2"]["thresholds"]

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"class_names": ["Forest", "Water"], "thresholds": [0.4, 0.6], "metrics": {}}))
    with pytest.raises(InputError, match="computed for other classes than this checkpoint's"):
        export_checkpoint(path, tmp_path / "m2.onnx", evaluation=other)


def test_damaged_checkpoint_is_refused_in_one_sentence(torch_model, tmp_path):
    from mosaic.backend.errors import InputError
    from mosaic.backend.export.from_checkpoint import export_checkpoint

    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": torch_model.state_dict()}, bad)
    bad.write_bytes(bad.read_bytes()[:5000])
    with pytest.raises(InputError, match=r"^cannot load checkpoint bad.ckpt \(.*\); give a .ckpt") as exc:
        export_checkpoint(bad, tmp_path / "m.onnx")
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "m.onnx").exists()


@pytest.fixture(scope="module")
def precision_files(checkpoint, ben_v2, tmp_path_factory) -> dict[str, Path]:
    """fp32, fp16 and int8 files of the 2-step checkpoint; int8 calibrated on one batch of 4 validation patches."""
    from mosaic.backend.evaluation.checkpoint_data import checkpoint_dataset
    from mosaic.backend.export.from_checkpoint import export_checkpoint, reduce_precision

    path, _ = checkpoint
    out = tmp_path_factory.mktemp("precisions")
    files = {
        p: export_checkpoint(
            path, out / f"{p}.onnx", precision=p, data_root=ben_v2, calibration_batches=1, batch_size=4
        )
        for p in ("fp32", "int8")
    }
    val, test = (checkpoint_dataset(path, split, list(BEN19_CLASSES), ben_v2) for split in ("validation", "test"))
    files["fp16"] = reduce_precision(files["fp32"], out / "fp16.onnx", "fp16", val, test, batch_size=4)
    return files


def test_reduced_precisions_record_the_metrics_of_that_exact_file(precision_files, checkpoint, ben_v2):
    from mosaic.backend.evaluation.checkpoint_data import checkpoint_dataset
    from mosaic.backend.export.precision import onnx_probabilities
    from mosaic.backend.inference import load_model
    from mosaic.backend.training.metrics import multilabel_metrics

    meta = {p: load_model(f).metadata for p, f in precision_files.items()}
    assert meta["fp32"].raw["precision"] == {"dtype": "fp32"} and meta["fp32"].precision_metrics == {}
    assert (meta["fp16"].precision, meta["int8"].precision) == ("fp16", "int8")
    size = {p: f.stat().st_size for p, f in precision_files.items()}
    assert 0.45 < size["fp16"] / size["fp32"] < 0.55  # float16 weights: half the file
    assert size["int8"] / size["fp32"] < 0.3  # int8 weights + per-channel scales
    assert meta["int8"].precision_info["calibration"] == {"split": "validation", "patches": 4}
    assert "calibration" not in meta["fp16"].precision_info
    test = checkpoint_dataset(checkpoint[0], "test", list(BEN19_CLASSES), ben_v2)
    for p in ("fp16", "int8"):
        info = meta[p].precision_info
        assert info["test_patches"] == len(test) == 6
        for file, key in ((precision_files[p], "metrics"), (precision_files["fp32"], "fp32_metrics")):
            probs, target = onnx_probabilities(file, test)
            expected = multilabel_metrics(probs, target, BEN19_CLASSES, np.asarray(meta[p].thresholds))
            assert info[key]["test/ap_macro"] == pytest.approx(expected["ap_macro"], abs=1e-12)
            assert info[key]["test/hamming_loss"] == pytest.approx(expected["hamming_loss"], abs=1e-12)


def test_reduced_files_run_through_the_engine_close_to_fp32(precision_files, real_batch):
    """Tolerances, from the errors measured on these 8 patches (2026-11-27, this checkpoint): fp16 max 1.0e-4 —
    float16 rounds each weight and activation by ≤ 2⁻¹¹ relative, and σ' ≤ ¼ shrinks the logit error — so atol
    1e-3 (10×). int8 max 0.043, mean 0.0028 — each activation is rounded to one of 256 levels of its calibrated
    range (step ≈ range / 255), calibrated on 4 other patches — so atol 0.08 and mean 0.01 (2-3×)."""
    from mosaic.backend.inference import load_model

    s2, s1 = (x.numpy() for x in real_batch)
    heads = {p: load_model(f).predict_heads(s2, s1) for p, f in precision_files.items()}
    assert all(list(h) == ["fused", "s1", "s2"] for h in heads.values())  # reduced files keep every head
    for p, atol in (("fp16", 1e-3), ("int8", 0.08)):
        for head in ("s1", "s2"):
            np.testing.assert_allclose(heads[p][head], heads["fp32"][head], atol=atol, rtol=0)
    probs = {p: load_model(f).predict(s2, s1) for p, f in precision_files.items()}
    assert probs["fp32"].std() > 1e-2  # the patches give different outputs: a real comparison
    np.testing.assert_allclose(probs["fp16"], probs["fp32"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(probs["int8"], probs["fp32"], atol=0.08, rtol=0)
    assert np.abs(probs["int8"] - probs["fp32"]).mean() < 0.01
    assert probs["int8"].dtype == probs["fp16"].dtype == np.float32  # inputs and output stay float32


def test_inspect_shows_the_precision_and_both_metrics(precision_files):
    from mosaic.backend.export.inspection import describe
    from mosaic.backend.inference import load_model

    text = describe(load_model(precision_files["int8"])).splitlines()
    assert any(line.startswith("precision: int8 (onnxruntime static quantisation of the encoders") for line in text)
    assert "  calibrated on 4 validation patches" in text
    assert "  metrics of this file vs the fp32 graph on the same 6 test patches:" in text
    assert any(line.startswith("  test/ap_macro: ") and line.endswith(")") for line in text)
    assert "precision: fp32" in describe(load_model(precision_files["fp32"])).splitlines()

"""Opening exported models: damaged files and files without valid metadata are refused; predict() on real data."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from mosaic.backend.errors import ModelError
from mosaic.backend.inference import load_model, read_metadata


def _with_props(src: str, dst, props: dict | None) -> str:
    proto = onnx.load(src)
    del proto.metadata_props[:]
    if props is not None:
        onnx.helper.set_model_props(proto, props)
    onnx.save(proto, dst)
    return str(dst)


def test_truncated_onnx_file_is_refused(onnx_model_path, tmp_path):
    data = open(onnx_model_path, "rb").read()
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match=r"broken.onnx is not a readable ONNX model .*re-export or re-download it"):
        load_model(bad)


def test_not_an_onnx_file_is_refused(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("this is not a model")
    with pytest.raises(ModelError, match="is not a readable ONNX model"):
        load_model(bad)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope.onnx")


def test_model_without_metadata_is_refused(onnx_model_path, tmp_path):
    path = _with_props(onnx_model_path, tmp_path / "bare.onnx", None)
    with pytest.raises(ModelError, match=r"bare.onnx has no MoSAiC metadata .*mosaic export"):
        load_model(path)


def test_model_with_newer_schema_is_refused(onnx_model_path, tmp_path):
    meta = read_metadata(onnx_model_path).raw | {"schema_version": 7}
    path = _with_props(onnx_model_path, tmp_path / "future.onnx", {"mosaic": json.dumps(meta)})
    with pytest.raises(ModelError, match="update the MoSAiC plugin"):
        load_model(path)


def test_metadata_that_does_not_match_the_graph_is_refused(onnx_model_path, tmp_path):
    meta = read_metadata(onnx_model_path).raw
    meta = {
        **meta,
        "class_names": meta["class_names"][:5],
        "class_colors": meta["class_colors"][:5],
        "thresholds": meta["thresholds"][:5],
    }
    path = _with_props(onnx_model_path, tmp_path / "mismatch.onnx", {"mosaic": json.dumps(meta)})
    with pytest.raises(ModelError, match=r"output 'probabilities' is \['batch', 19\], but the metadata lists 5"):
        load_model(path)


def test_unavailable_provider_falls_back_to_the_cpu_with_a_note(onnx_model_path):
    model = load_model(onnx_model_path, providers=["NoSuchExecutionProvider"])
    assert model.providers == ["CPUExecutionProvider"]
    assert model.provider_note.startswith(
        "NoSuchExecutionProvider is not in this onnxruntime (it has CPUExecutionProvider), so the model runs on "
        "CPUExecutionProvider; install the onnxruntime build that has it."
    )


def test_predict_matches_torch_and_fills_nodata_with_the_band_mean(onnx_model_path, torch_model, ben_v2):
    from mosaic.backend.data.bigearthnet import BigEarthNetV2

    ds = BigEarthNetV2(ben_v2, split="test")
    s2 = torch.stack([ds[i]["s2"] for i in range(3)]).numpy()
    s1 = torch.stack([ds[i]["s1"] for i in range(3)]).numpy()
    model = load_model(onnx_model_path, threads=1)
    with torch.no_grad():
        ref = torch_model(torch.from_numpy(s2), torch.from_numpy(s1)).numpy()
    np.testing.assert_allclose(model.predict(s2, s1), ref, atol=1e-4)
    # NaN (nodata) pixels are replaced by the band mean, i.e. zero after normalisation
    holes = s2.copy()
    holes[:, :, :10, :10] = np.nan
    filled = s2.copy()
    filled[:, :, :10, :10] = np.asarray(model.metadata.s2.mean, dtype=np.float32)[None, :, None, None]
    np.testing.assert_allclose(model.predict(holes, s1), model.predict(filled, s1), atol=1e-6)
    assert not np.isnan(holes[:, :, 10:, 10:]).any()  # inputs are not modified


def test_engine_normalises_when_the_graph_does_not(torch_model, onnx_model_path, ben_v2, tmp_path):
    """The same weights exported without in-graph normalisation (identity statistics inside, real statistics in
    the metadata with in_graph false) give the same probabilities through the engine."""
    import copy

    from mosaic.backend.data.bigearthnet import BigEarthNetV2
    from mosaic.backend.export.onnx_file import export_onnx
    from mosaic.backend.models.normalization import BandNormalization

    raw_model = copy.deepcopy(torch_model)
    for m, n in (("s2", 10), ("s1", 2)):
        raw_model.net.norm[m] = BandNormalization([0.0] * n, [1.0] * n)
    meta = read_metadata(onnx_model_path).raw
    for m in ("s2", "s1"):
        meta["inputs"][m]["normalisation"]["in_graph"] = False
    path = export_onnx(raw_model, meta, tmp_path / "raw.onnx")
    model = load_model(path, threads=2)
    assert not model.metadata.s2.normalised_in_graph and not model.metadata.s1.normalised_in_graph
    ds = BigEarthNetV2(ben_v2, split="validation")
    s2 = torch.stack([ds[i]["s2"] for i in range(2)]).numpy()
    s1 = torch.stack([ds[i]["s1"] for i in range(2)]).numpy()
    with torch.no_grad():
        ref = torch_model(torch.from_numpy(s2), torch.from_numpy(s1)).numpy()
    np.testing.assert_allclose(model.predict(s2, s1), ref, atol=1e-4)
    unnormalised = model.run(s2.copy(), s1.copy())  # skipping the engine's normalisation changes the result
    assert np.abs(unnormalised - ref).max() > 1e-3


def _real_patches(ben_v2, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    from mosaic.backend.data.bigearthnet import BigEarthNetV2

    ds = BigEarthNetV2(ben_v2, split="test")
    return (torch.stack([ds[i]["s2"] for i in range(n)]).numpy(), torch.stack([ds[i]["s1"] for i in range(n)]).numpy())


def test_predict_heads_match_torch_and_the_s1_head_needs_no_s2(heads_onnx_model_path, heads_torch_model, ben_v2):
    s2, s1 = _real_patches(ben_v2)
    model = load_model(heads_onnx_model_path, threads=1)
    assert model.metadata.heads == ("fused", "s1", "s2")
    assert model.metadata.thresholds_for("s1") == (0.5,) * 19
    got = model.predict_heads(s2, s1)
    with torch.no_grad():
        ref = heads_torch_model.probabilities(torch.from_numpy(s2), torch.from_numpy(s1))
    assert list(got) == ["fused", "s1", "s2"]
    for head, probs in got.items():
        assert probs.dtype == np.float32 and probs.shape == (4, 19)
        np.testing.assert_allclose(probs, ref[head].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(got["fused"], model.predict(s2, s1))
    # an S1-only tile: S2 replaced by zeros or by nodata leaves the S1 head unchanged, but not the others
    for blind in (np.zeros_like(s2), np.full_like(s2, np.nan)):
        without_s2 = model.predict_heads(blind, s1)
        np.testing.assert_allclose(without_s2["s1"], got["s1"], atol=1e-7, rtol=0)
        assert np.abs(without_s2["fused"] - got["fused"]).max() > 1e-3
        assert np.abs(without_s2["s2"] - got["s2"]).max() > 1e-3
    without_s1 = model.predict_heads(s2, np.zeros_like(s1))  # and the S2 head needs no S1
    np.testing.assert_allclose(without_s1["s2"], got["s2"], atol=1e-7, rtol=0)


def test_version_2_files_are_fused_only_models(onnx_model_path, ben_v2, tmp_path):
    """A file written before per-modality heads (schema v2, one output) reads and predicts as before."""
    meta = read_metadata(onnx_model_path).raw | {"schema_version": 2}
    assert "heads" not in meta
    path = _with_props(onnx_model_path, tmp_path / "v2.onnx", {"mosaic": json.dumps(meta)})
    model = load_model(path, threads=1)
    assert model.metadata.schema_version == 2 and model.metadata.heads == ("fused",)
    assert model.metadata.thresholds_for("fused") == model.metadata.thresholds
    s2, s1 = _real_patches(ben_v2, 2)
    heads = model.predict_heads(s2, s1)
    assert list(heads) == ["fused"]
    np.testing.assert_array_equal(heads["fused"], load_model(onnx_model_path, threads=1).predict(s2, s1))
    with pytest.raises(ModelError, match=r"no 's1' head; its heads are fused\."):
        model.metadata.thresholds_for("s1")
    v2_with_heads = meta | {"heads": {"s1": {"output": "probabilities_s1", "thresholds": [0.5] * 19, "metrics": {}}}}
    bad = _with_props(onnx_model_path, tmp_path / "v2_heads.onnx", {"mosaic": json.dumps(v2_with_heads)})
    with pytest.raises(ModelError, match=r"unknown key 'heads'"):
        load_model(bad)


def test_metadata_heads_the_graph_lacks_are_refused(onnx_model_path, tmp_path):
    meta = read_metadata(onnx_model_path).raw
    meta["heads"] = {"s2": {"output": "probabilities_s2", "thresholds": [0.4] * 19, "metrics": {}}}
    path = _with_props(onnx_model_path, tmp_path / "missing_head.onnx", {"mosaic": json.dumps(meta)})
    with pytest.raises(ModelError, match=r"output 'probabilities_s2' is None, but the metadata lists 19 classes"):
        load_model(path)

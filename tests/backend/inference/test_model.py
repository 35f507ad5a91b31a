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
    meta = {**meta, "class_names": meta["class_names"][:5], "class_colors": meta["class_colors"][:5],
            "thresholds": meta["thresholds"][:5]}  # fmt: skip
    path = _with_props(onnx_model_path, tmp_path / "mismatch.onnx", {"mosaic": json.dumps(meta)})
    with pytest.raises(ModelError, match=r"output 'probabilities' is \['batch', 19\], but the metadata lists 5"):
        load_model(path)


def test_unavailable_provider_is_refused(onnx_model_path):
    with pytest.raises(ModelError, match="NoSuchExecutionProvider are not available here"):
        load_model(onnx_model_path, providers=["NoSuchExecutionProvider"])


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
    from mosaic.backend.export import export_onnx
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

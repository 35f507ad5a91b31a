"""ONNX export: parity with PyTorch on real BigEarthNet patches, dynamic batch, embedded schema-valid metadata."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from mosaic.backend.data.classes import BEN19_CLASSES, class_colors
from mosaic.backend.errors import ModelError, OutputError
from mosaic.backend.export import build_metadata, export_onnx
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


def test_invalid_metadata_is_refused_before_anything_is_written(torch_model, tmp_path):
    meta = build_metadata({"class_names": list(BEN19_CLASSES), "strategy": "supervised",
                           "training": {"dataset": "x", "licence": "y"}})  # fmt: skip
    meta["thresholds"] = meta["thresholds"][:3]
    out = tmp_path / "m.onnx"
    with pytest.raises(ModelError, match="thresholds has 3 entries for 19 classes"):
        export_onnx(torch_model, meta, out)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(onnx_model_path, torch_model):
    with pytest.raises(OutputError, match="exists already; pass --overwrite"):
        export_onnx(torch_model, {}, onnx_model_path)

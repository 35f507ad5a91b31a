"""int8 copies that are fast end to end: the input normalisation leaves the graph for the engine (exactly, and only
where the graph normalises without clipping), and onnxruntime's portable graph optimisation is saved in the file."""

from __future__ import annotations

import collections
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from mosaic.backend.data.bigearthnet import BigEarthNetV2
from mosaic.backend.export.onnx_file import save_model
from mosaic.backend.export.precision import preprocessed, strip_input_normalisation
from mosaic.backend.inference import load_model, read_metadata


@pytest.fixture(scope="module")
def patches(ben_v2) -> tuple[np.ndarray, np.ndarray]:
    """8 real patches in physical units (S2 reflectance × 10000, S1 dB), one with NaN as nodata."""
    ds = BigEarthNetV2(ben_v2, split="all", include_snow_cloud=True)
    samples = [ds[i] for i in range(0, len(ds), 3)]
    s2, s1 = (np.stack([s[k].numpy() for s in samples]) for k in ("s2", "s1"))
    s1[0, :, :30] = np.nan
    return s2, s1


GUARD = {"Sub", "IsNaN", "IsInf", "Where", "Less", "Greater", "And"}  #: the normalisation's ops but its Div


def _ops(proto) -> collections.Counter:
    return collections.Counter(n.op_type for n in proto.graph.node)


def _stripped_copy(fp32: str, out: Path) -> tuple[Path, tuple[str, ...]]:
    meta = read_metadata(fp32)
    with tempfile.TemporaryDirectory() as tmp:
        proto = onnx.load(str(preprocessed(fp32, tmp)))
    stripped = strip_input_normalisation(proto, {"s2": meta.s2, "s1": meta.s1})
    metadata = json.loads(json.dumps(meta.raw))
    for name in stripped:
        metadata["inputs"][name]["normalisation"]["in_graph"] = False
    return save_model(proto, metadata, out), stripped


def test_the_engine_normalises_exactly_as_the_graph_did(onnx_model_path, patches, tmp_path):
    """The float graph with its normalisation removed, run through the engine (which then fills nodata and computes
    ``(x − mean) / std``), gives the original file's probabilities."""
    path, stripped = _stripped_copy(onnx_model_path, tmp_path / "stripped.onnx")
    assert stripped == ("s2", "s1")
    ops = _ops(onnx.load(str(path)))
    assert not GUARD & set(ops) and ops["Conv"] == 40
    assert ops["Div"] == 1  # GELU's, in the fusion head
    model = load_model(path, threads=2)
    assert not model.metadata.s2.normalised_in_graph and not model.metadata.s1.normalised_in_graph
    np.testing.assert_allclose(
        model.predict(*patches), load_model(onnx_model_path, threads=2).predict(*patches), atol=1e-5
    )


def test_an_input_the_graph_clips_keeps_its_normalisation(tmp_path):
    """A SEN12MS-style model clips S1 to [−25, 0] dB in its graph (per-band bounds): that input keeps its
    normalisation in the graph; S2 (only normalised) leaves it to the engine."""
    from mosaic.backend.data.bands import S1_BANDS, band_stats, s2_bands
    from mosaic.backend.data.classes import BEN19_CLASSES
    from mosaic.backend.export.metadata import build_metadata
    from mosaic.backend.export.onnx_file import export_onnx
    from mosaic.backend.models.network import InferenceModel, MosaicNet

    (m2, sd2), (m1, sd1) = band_stats(s2_bands(), "nearest"), band_stats(S1_BANDS, "nearest")
    net = MosaicNet(
        "s1s2", "resnet18", m2, sd2, m1, sd1, n_classes=len(BEN19_CLASSES), valid_ranges={"s1": [(-25.0, 0.0)] * 2}
    )
    training = {"dataset": "none (untrained test network)", "licence": "none"}
    parts = {"class_names": list(BEN19_CLASSES), "strategy": "supervised", "training": training}
    fp32 = export_onnx(InferenceModel(net.eval()), build_metadata(parts), tmp_path / "clipped.onnx")
    path, stripped = _stripped_copy(str(fp32), tmp_path / "stripped.onnx")
    assert stripped == ("s2",)
    assert _ops(onnx.load(str(path)))["Where"] == _ops(onnx.load(str(fp32)))["Where"] // 2 + 1  # S1: clip + guard
    rng = np.random.default_rng(0)
    s2, s1 = rng.uniform(100, 3000, (2, 10, 120, 120)), rng.uniform(-40, 5, (2, 2, 120, 120))
    np.testing.assert_allclose(load_model(path).predict(s2, s1), load_model(fp32).predict(s2, s1), atol=1e-5)


def test_int8_copies_are_optimised_and_leave_normalisation_to_the_engine(onnx_model_path, ben_v2, patches, tmp_path):
    from mosaic.backend.export.from_checkpoint import reduce_precision

    val, test = (BigEarthNetV2(ben_v2, split=s) for s in ("validation", "test"))
    int8 = reduce_precision(Path(onnx_model_path), tmp_path / "int8.onnx", "int8", val, test, 1, 4)
    ops = _ops(onnx.load(str(int8)))
    # saved after onnxruntime's "extended" optimisation: the QDQ pairs are fused kernels already, no guard ops
    assert ops["QLinearConv"] == 40 and ops["QLinearAdd"] == 17 and ops["Div"] == 1  # GELU's, in the float head
    assert not GUARD & set(ops)
    meta = read_metadata(int8)
    assert meta.precision == "int8" and not meta.s2.normalised_in_graph and not meta.s1.normalised_in_graph
    assert "input normalisation in the engine; graph optimised" in meta.precision_info["method"]
    fp32, got = load_model(onnx_model_path).predict(*patches), load_model(int8).predict(*patches)
    assert np.abs(got - fp32).max() < 0.1 and np.abs(got - fp32).mean() < 0.01  # untrained, 4 calibration patches

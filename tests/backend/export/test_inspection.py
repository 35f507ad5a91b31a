"""``mosaic inspect``: the model states what it expects, including the S2 convention of its training data."""

from __future__ import annotations

from mosaic.backend.export.inspection import describe
from mosaic.backend.inference import load_model


def test_describe_states_the_s2_dn_convention(onnx_model_path):
    text = describe(load_model(onnx_model_path)).splitlines()
    assert text[0].endswith("valid MoSAiC model (metadata schema v3)")
    assert "heads: fused (fused only: no S1-only head for cloudy tiles)" in text
    assert "s2 radiometry: Level-2A, reflectance = (DN + 0) / 10000; inputs are harmonised to it" in text


def test_describe_lists_the_heads_with_their_outputs_and_metrics(heads_onnx_model_path, tmp_path):
    import json

    import onnx

    proto = onnx.load(heads_onnx_model_path)
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["mosaic"])
    meta["heads"]["s1"].update(thresholds=[0.2] * 18 + [0.7], metrics={"test/ap_macro": 0.41, "cloudy/ap_macro": 0.38})
    onnx.helper.set_model_props(proto, {"mosaic": json.dumps(meta)})
    onnx.save(proto, tmp_path / "heads.onnx")
    text = describe(load_model(tmp_path / "heads.onnx")).splitlines()
    assert "heads: fused, s1, s2" in text
    assert (
        "  s1 (S1 only, needs no S2 pixels): output probabilities_s1, thresholds 0.200-0.700; metrics: "
        "cloudy/ap_macro=0.3800, test/ap_macro=0.4100"
    ) in text
    assert "  s2 (S2 only, needs no S1 pixels): output probabilities_s2, thresholds 0.500-0.500; metrics: none" in text

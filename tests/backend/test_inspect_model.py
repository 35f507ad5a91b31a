"""``mosaic inspect``: the model states what it expects, including the S2 convention of its training data."""

from __future__ import annotations

from mosaic.backend.inference import load_model
from mosaic.backend.inspect_model import describe


def test_describe_states_the_s2_dn_convention(onnx_model_path):
    text = describe(load_model(onnx_model_path)).splitlines()
    assert text[0].endswith("valid MoSAiC model (metadata schema v2)")
    assert "s2 radiometry: Level-2A, reflectance = (DN + 0) / 10000; inputs are harmonised to it" in text

"""Metadata parsing: valid metadata round-trips, invalid or newer metadata is refused with one sentence."""

from __future__ import annotations

import json
import math

import pytest

from mosaic.backend.data.bands import band_stats
from mosaic.backend.data.classes import BEN19_CLASSES
from mosaic.backend.errors import ModelError
from mosaic.backend.export.metadata import build_metadata
from mosaic.backend.inference import SCHEMA_VERSION, parse_metadata


def _meta(**extra) -> dict:
    training = {"dataset": "BigEarthNet v2.0", "licence": "CDLA-Permissive-1.0"}
    return build_metadata({"class_names": list(BEN19_CLASSES), "strategy": "mosaic2", "training": training, **extra})


def _one_sentence(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.endswith(".")
    return msg


def test_default_metadata_fields():
    m = parse_metadata(json.dumps(_meta()))
    assert m.schema_version == SCHEMA_VERSION == 3
    assert m.heads == ("fused",) and "heads" not in m.raw  # no per-modality heads given: a fused-only model
    assert m.class_names == BEN19_CLASSES and m.n_classes == 19
    assert m.class_colors[0] == "#e6004d"  # CORINE 111 continuous urban fabric
    assert m.thresholds == (0.5,) * 19 and m.thresholds_tuned is False
    assert m.s2.bands == ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
    assert m.s2.gsd_m == (10, 10, 10, 20, 20, 20, 10, 20, 20, 20) and m.s2.nodata == 0
    assert m.s1.bands == ("VV", "VH") and math.isnan(m.s1.nodata) and m.s1.units == "dB"
    assert list(m.s2.mean) == band_stats(m.s2.bands, "nearest")[0]
    assert m.s2.normalised_in_graph and m.s1.normalised_in_graph
    assert (m.patch_size_px, m.gsd_m, m.upsampling) == (120, 10.0, "nearest")
    assert (m.s2.level, m.s2.quantification_value, m.s2.add_offset) == ("L2A", 10000.0, 0.0)
    assert m.raw["inputs"]["s2"]["radiometry"] == {"level": "L2A", "quantification_value": 10000, "add_offset": 0}


def test_version_1_files_are_read_with_the_bigearthnet_convention():
    d = _meta()
    d["schema_version"] = 1
    radiometry = d["inputs"]["s2"].pop("radiometry")
    m = parse_metadata(d)
    assert m.schema_version == 1
    assert (m.s2.level, m.s2.quantification_value, m.s2.add_offset) == ("L2A", 10000.0, 0.0)
    d["inputs"]["s2"]["radiometry"] = radiometry  # a v1 file cannot hold v2 fields
    with pytest.raises(ModelError, match=r"unknown key 'radiometry'"):
        parse_metadata(d)


def test_version_2_requires_the_s2_radiometry():
    d = _meta()
    d["inputs"]["s2"].pop("radiometry")
    with pytest.raises(ModelError, match=r"\$.inputs.s2 lacks the required key 'radiometry'"):
        parse_metadata(d)


def test_tuned_thresholds_are_flagged():
    m = parse_metadata(_meta(thresholds=[0.3] * 19))
    assert m.thresholds == (0.3,) * 19 and m.thresholds_tuned is True


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (None, "has no MoSAiC metadata"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
    ],
)
def test_missing_or_unparsable_metadata_is_refused(text, match):
    with pytest.raises(ModelError, match=match) as exc:
        parse_metadata(text, source="m.onnx")
    _one_sentence(exc)


def test_newer_schema_version_asks_to_update_the_plugin():
    d = _meta()
    d["schema_version"] = 4
    d["something_new"] = {"a": 1}
    with pytest.raises(ModelError, match=r"schema version 4 .* reads up to version 3; update the MoSAiC plugin") as exc:
        parse_metadata(d, source="m.onnx")
    _one_sentence(exc)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d["thresholds"].pop(), r"thresholds has 18 entries for 19 classes"),
        (lambda d: d["class_colors"].append("#000000"), r"class_colors has 20 entries for 19 classes"),
        (lambda d: d["class_names"].__setitem__(1, d["class_names"][0]), "class_names holds duplicates"),
        (lambda d: d["inputs"]["s1"]["normalisation"]["mean"].pop(), r"inputs.s1.normalisation.mean has 1 entries"),
        (lambda d: d["inputs"]["s2"]["gsd_m"].pop(), r"inputs.s2.gsd_m has 9 entries for 10 bands"),
        (lambda d: d.pop("inputs"), "lacks the required key 'inputs'"),
    ],
)
def test_invalid_metadata_is_refused_with_the_reason(mutate, match):
    d = _meta()
    mutate(d)
    with pytest.raises(ModelError, match=match) as exc:
        parse_metadata(d, source="m.onnx")
    assert "re-export the model" in _one_sentence(exc)


def test_files_without_precision_are_read_as_fp32():
    v2 = parse_metadata(_meta())
    assert "precision" not in v2.raw and (v2.precision, v2.precision_info, v2.precision_metrics) == ("fp32", {}, {})
    d = _meta()
    d["schema_version"] = 1
    d["inputs"]["s2"].pop("radiometry")
    assert parse_metadata(d).precision == "fp32"


def test_precision_metrics_pair_this_file_with_the_fp32_graph():
    d = _meta()
    d["precision"] = {
        "dtype": "int8",
        "method": "QDQ",
        "calibration": {"split": "validation", "patches": 6},
        "test_patches": 6,
        "metrics": {"test/ap_macro": 0.65, "test/f1_macro": 0.3},
        "fp32_metrics": {"test/ap_macro": 0.66, "test/f1_macro": 0.31},
    }
    m = parse_metadata(d)
    assert m.precision == "int8"
    assert m.precision_metrics == {"test/ap_macro": (0.65, 0.66), "test/f1_macro": (0.3, 0.31)}
    del d["precision"]["calibration"]  # an int8 file records its calibration; fp16 / fp32 files have none
    with pytest.raises(ModelError, match=r"precision\.calibration is recorded for int8 files and only for them"):
        parse_metadata(d)
    d["precision"]["dtype"] = "fp64"
    with pytest.raises(ModelError, match=r"precision\.dtype"):
        parse_metadata(d)


def test_per_modality_heads_carry_their_own_thresholds_and_metrics():
    heads = {
        "s1": {"thresholds": [0.2] * 19, "metrics": {"test/ap_macro": 0.4, "cloudy/ap_macro": float("nan")}},
        "s2": {"thresholds": [0.7] * 19, "metrics": {"test/ap_macro": 0.6}},
    }
    d = _meta(thresholds=[0.3] * 19, metrics={"test/ap_macro": 0.65}, heads=heads, modalities="s1s2")
    assert d["heads"]["s1"] == {
        "output": "probabilities_s1",
        "thresholds": [0.2] * 19,
        "metrics": {"test/ap_macro": 0.4},
    }
    m = parse_metadata(json.dumps(d))
    assert m.heads == ("fused", "s1", "s2") and m.thresholds_tuned
    assert [m.output_name(h) for h in m.heads] == ["probabilities", "probabilities_s1", "probabilities_s2"]
    assert (m.thresholds_for("fused"), m.thresholds_for("s1"), m.thresholds_for("s2")) == (
        (0.3,) * 19,
        (0.2,) * 19,
        (0.7,) * 19,
    )
    assert m.metrics_for("fused") == {"test/ap_macro": 0.65} and m.metrics_for("s2") == {"test/ap_macro": 0.6}
    only_s1 = parse_metadata(_meta(heads={"s1": {"metrics": {}}}))
    assert only_s1.heads == ("fused", "s1") and only_s1.thresholds_for("s1") == (0.5,) * 19
    with pytest.raises(ModelError, match=r"no 's2' head; its heads are fused, s1\."):
        only_s1.thresholds_for("s2")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d["heads"]["s1"]["thresholds"].pop(), r"heads\.s1\.thresholds has 18 entries for 19 classes"),
        (lambda d: d["heads"]["s2"].__setitem__("output", "probabilities"), r"heads\.s2\.output must be"),
        (lambda d: d["heads"].__setitem__("s3", d["heads"]["s1"]), r"unknown key 's3'"),
        (lambda d: d["architecture"].__setitem__("modalities", "s2"), r"heads\.s1 needs a model of both modalities"),
    ],
)
def test_invalid_heads_are_refused(mutate, match):
    d = _meta(heads={"s1": {"metrics": {}}, "s2": {"metrics": {}}}, modalities="s1s2")
    mutate(d)
    with pytest.raises(ModelError, match=match) as exc:
        parse_metadata(d, source="m.onnx")
    assert "re-export the model" in _one_sentence(exc)

"""The built-in validator agrees with ``jsonschema`` on the metadata schema, and the schema itself is valid."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from mosaic.backend.export.metadata import build_metadata
from mosaic.backend.inference.metadata import load_schema, schema_path
from mosaic.backend.inference.schema_check import SchemaViolationError, validate


def _valid() -> dict:
    return build_metadata(
        {
            "class_names": ["Arable land", "Pastures", "Inland waters"],
            "strategy": "mosaic1",
            "training": {
                "dataset": "BigEarthNet v2.0 (reBEN)",
                "licence": "CDLA-Permissive-1.0",
                "label_fraction": 0.1,
            },
            "metrics": {"test/ap_macro": 0.61},
            "heads": {"s1": {"metrics": {"test/ap_macro": 0.4}}, "s2": {"metrics": {}}},
        }
    )


@pytest.mark.parametrize("version", [1, 2, 3])
def test_schema_files_are_valid_draft_2020_12_schemas(version):
    schema = json.loads(schema_path(version).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == version


MUTATIONS = [
    ("ok", lambda d: None, True),
    ("drop class_names", lambda d: d.pop("class_names"), False),
    ("bad colour", lambda d: d["class_colors"].__setitem__(0, "red"), False),
    ("threshold > 1", lambda d: d["thresholds"].__setitem__(1, 1.5), False),
    ("version as string", lambda d: d.__setitem__("schema_version", "1"), False),
    ("bool as integer", lambda d: d.__setitem__("patch_size_px", True), False),
    ("unknown top key", lambda d: d.__setitem__("extra", 1), False),
    ("unknown band", lambda d: d["inputs"]["s2"]["bands"].__setitem__(0, "B13"), False),
    ("nodata nan string", lambda d: d["inputs"]["s2"].__setitem__("nodata", "nan"), True),
    ("nodata other string", lambda d: d["inputs"]["s2"].__setitem__("nodata", "none"), False),
    ("std zero", lambda d: d["inputs"]["s1"]["normalisation"]["std"].__setitem__(0, 0), False),
    ("upsampling cubic", lambda d: d.__setitem__("upsampling", "cubic"), False),
    ("metric not a number", lambda d: d["metrics"].__setitem__("x", "high"), False),
    ("extra training key", lambda d: d["training"].__setitem__("epochs", 3), True),
    ("missing licence", lambda d: d["training"].pop("licence"), False),
    ("label fraction 0", lambda d: d["training"].__setitem__("label_fraction", 0), False),
    ("empty class list", lambda d: d.__setitem__("class_names", []), False),
    ("no heads (fused only)", lambda d: d.pop("heads"), True),
    ("one head", lambda d: d["heads"].pop("s2"), True),
    ("unknown head", lambda d: d["heads"].__setitem__("fused", d["heads"]["s1"]), False),
    ("head output renamed", lambda d: d["heads"]["s1"].__setitem__("output", "probabilities_s2"), False),
    ("head without thresholds", lambda d: d["heads"]["s2"].pop("thresholds"), False),
    ("head threshold > 1", lambda d: d["heads"]["s1"]["thresholds"].__setitem__(0, 1.2), False),
    ("head metric not a number", lambda d: d["heads"]["s1"]["metrics"].__setitem__("x", "high"), False),
]


@pytest.mark.parametrize(("name", "mutate", "valid"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_builtin_validator_agrees_with_jsonschema(name, mutate, valid):
    d = copy.deepcopy(_valid())
    mutate(d)
    schema = load_schema()
    assert jsonschema.Draft202012Validator(schema).is_valid(d) is valid
    if valid:
        validate(d, schema)
    else:
        with pytest.raises(SchemaViolationError):
            validate(d, schema)


def test_violation_names_the_json_path():
    d = _valid()
    d["inputs"]["s2"]["bands"][3] = "B5"
    with pytest.raises(SchemaViolationError, match=r"\$\.inputs\.s2\.bands\[3\] value 'B5' does not match"):
        validate(d, load_schema())


def test_unsupported_schema_keyword_is_an_error_not_a_silent_pass():
    with pytest.raises(ValueError, match="not supported"):
        validate(1, {"type": "integer", "multipleOf": 2})

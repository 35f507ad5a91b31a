"""Fuzzing :func:`parse_metadata`: any input gives a valid :class:`ModelMetadata` or a short :class:`ModelError`.

Inputs: arbitrary JSON-like values (as dicts and as JSON text), arbitrary text and bytes, and mutations of a
valid metadata dict (a key dropped, a value replaced by another type, NaN/±inf, huge or negative numbers, very
long lists and strings, unicode, nested garbage). The ``ci`` Hypothesis profile (``conftest.py``) is
derandomised: every run tries the same examples.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time

from hypothesis import example, given
from hypothesis import strategies as st

from mosaic.backend.data.classes import BEN19_CLASSES
from mosaic.backend.errors import ModelError
from mosaic.backend.export.metadata import build_metadata
from mosaic.backend.inference.bandnames import KNOWN_BANDS
from mosaic.backend.inference.metadata import ModelMetadata, parse_metadata

VALID = build_metadata(
    {
        "class_names": list(BEN19_CLASSES),
        "strategy": "mosaic1",
        "metrics": {"test/ap_macro": 0.5},
        "training": {"dataset": "BigEarthNet v2.0", "licence": "CDLA-Permissive-1.0", "label_fraction": 0.1},
    }
)
MAX_SECONDS = 2.0  #: one parse of one fuzzed input; far above the ~1 ms it takes

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from([10**400, -(10**400), 1e308, -1, 0, 0.5, 4097, "nan", "", "\x00", "é\u202e𝔅"]),
    st.builds(pow, st.just(10), st.just(5000)),  # more digits than Python's str() prints (built: no repr)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)
garbage = st.one_of(
    json_values,
    st.sampled_from([[0.5] * 10_000, ["B02"] * 10_000, "x" * 100_000, [[[[[[]]]]]], {"": {"": {"": None}}}]),
)


def _paths(value, prefix=()):
    """Every key/index path inside ``value`` (dicts and lists), outermost first."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    out = []
    for key, item in items:
        out.append((*prefix, key))
        out.extend(_paths(item, (*prefix, key)))
    return out


PATHS = _paths(VALID)


def _parse(value) -> ModelMetadata | None:
    """The parsed metadata, or None after a ModelError of one short line; any other exception fails the test."""
    start = time.perf_counter()
    try:
        meta = parse_metadata(value)
    except ModelError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 600, message
        meta = None
    assert time.perf_counter() - start < MAX_SECONDS
    return meta


def _check_invariants(meta: ModelMetadata) -> None:
    n = meta.n_classes
    assert 1 <= n == len(meta.class_colors) == len(meta.thresholds) == len(set(meta.class_names))
    assert all(name and name.isprintable() for name in meta.class_names)
    assert all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in meta.class_colors)
    assert all(isinstance(t, float) and 0.0 <= t <= 1.0 for t in meta.thresholds)
    for spec in (meta.s2, meta.s1):
        nb = len(spec.bands)
        assert nb >= 1 and len(set(spec.bands)) == nb and set(spec.bands) <= set(KNOWN_BANDS)
        assert len(spec.gsd_m) == len(spec.mean) == len(spec.std) == nb
        assert all(math.isfinite(g) and g > 0 for g in spec.gsd_m)
        assert all(math.isfinite(m) for m in spec.mean) and all(math.isfinite(s) and s > 0 for s in spec.std)
        assert isinstance(spec.nodata, float) and spec.units in {"reflectance x 10000", "dB"}
    assert isinstance(meta.patch_size_px, int) and 8 <= meta.patch_size_px <= 4096
    assert math.isfinite(meta.gsd_m) and meta.gsd_m > 0 and meta.upsampling in {"nearest", "bilinear"}
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in meta.metrics.values())


def _mutated(path: tuple, delete: bool, value) -> dict:
    d = copy.deepcopy(VALID)
    parent = d
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return d


def test_the_valid_metadata_parses_and_satisfies_the_invariants():
    meta = _parse(json.dumps(VALID))
    assert meta is not None and meta.n_classes == 19 and meta.metrics == {"test/ap_macro": 0.5}
    _check_invariants(meta)


@given(json_values)
def test_arbitrary_json_values(value):
    as_dict = _parse(value) if isinstance(value, dict) else None
    try:
        text = json.dumps(value)
    except ValueError:  # an int beyond Python's str() limit cannot be written as JSON
        return
    as_text = _parse(text)
    assert as_text is None and as_dict is None  # random values are never valid metadata


@given(st.one_of(st.text(), st.binary()))
@example("[" * 100_000)
@example(b"\xff\xfe\x00")
@example('{"schema_version": 2}')
@example('{"schema_version": 1e400}')
def test_arbitrary_text_and_bytes(data):
    meta = _parse(data)
    assert meta is None  # not one of these is valid metadata


@given(st.sampled_from(PATHS), st.booleans(), garbage)
@example(("thresholds", 0), False, math.nan)
@example(("thresholds", 0), False, math.inf)
@example(("inputs", "s2", "normalisation", "std", 0), False, math.nan)
@example(("inputs", "s2", "normalisation", "mean", 0), False, 10**400)
@example(("inputs", "s2", "nodata"), False, 10**5000)
@example(("gsd_m",), False, 10**400)
@example(("patch_size_px",), False, 10**400)
@example(("class_names", 0), False, "new\nline")
@example(("class_names", 0), False, "é\u202e𝔅 unicode is fine")
@example(("metrics",), False, {"x" * 10_000: math.nan})
def test_mutations_of_valid_metadata(path, delete, value):
    mutated = _mutated(path, delete, value)
    meta = _parse(mutated)
    if meta is not None:
        _check_invariants(meta)
    try:
        text = json.dumps(mutated)
    except ValueError:  # an int beyond Python's str() limit cannot be written as JSON
        return
    from_text = _parse(text)
    assert (from_text is None) == (meta is None)


def test_known_refusals_name_the_field():
    cases = {
        ("thresholds", 0): (math.nan, "$.thresholds[0] must be a finite float-range number, not nan"),
        ("gsd_m",): (10**400, "$.gsd_m must be a finite float-range number, not 1000"),
        ("patch_size_px",): (10**400, "$.patch_size_px must be <= 4096"),
        ("class_names", 3): ("a\tb", "class_names[3] 'a\\tb' holds control or line-break characters"),
    }
    for path, (value, fragment) in cases.items():
        try:
            parse_metadata(_mutated(path, False, value))
        except ModelError as exc:
            assert fragment in str(exc)
        else:
            raise AssertionError(f"{path} = {value!r} was accepted")

"""Model metadata: the JSON in an ONNX file's ``metadata_props["mosaic"]``, parsed and validated.

The schema is ``resources/schema/model_metadata.v<N>.json`` (versioned; documented in the README's inference
section). Version 2 adds ``inputs.s2.radiometry`` (product level and DN convention of the training data); a
version-1 file is read with the BigEarthNet convention (L2A, quantification 10000, offset 0). The optional
``precision`` (fp16 / int8 files of ``mosaic export --precision``) is read as fp32 when absent. Version 3 adds the
optional ``heads``: the S1-only and S2-only classifiers as graph outputs ``probabilities_s1`` / ``probabilities_s2``
with their own thresholds and metrics; files without it (every v1 and v2 file) are fused-only models.

Validation = the schema (checked by :mod:`.schema_check`) plus the cross-field rules a JSON schema
cannot say: one colour and one threshold per class, unique class names, one ``gsd_m``/``mean``/``std`` per band.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .schema_check import SchemaViolationError, short_repr, validate

SCHEMA_VERSION = 3  #: the newest metadata schema version this code reads (and writes)
READABLE_VERSIONS = (1, 2, 3)  #: older versions are read with their own schema
HEADS = ("fused", "s1", "s2")  #: classification heads a model can have, in output order
HEAD_OUTPUTS = {"fused": "probabilities", "s1": "probabilities_s1", "s2": "probabilities_s2"}  #: graph output names
METADATA_KEY = "mosaic"  #: key of the JSON in the ONNX ``metadata_props``


def schema_path(version: int = SCHEMA_VERSION) -> Path:
    """Path of the JSON schema file of ``version`` (kept in the repository's ``resources/schema``)."""
    return Path(__file__).resolve().parents[2] / "resources" / "schema" / f"model_metadata.v{version}.json"


@lru_cache(maxsize=3)
def load_schema(version: int = SCHEMA_VERSION) -> dict:
    """The parsed JSON schema of ``version``."""
    with open(schema_path(version), encoding="utf-8") as fh:
        return json.load(fh)


@dataclass(frozen=True)
class ModalitySpec:
    """One model input (``s2`` or ``s1``): bands in channel order, units, nodata and normalisation."""

    bands: tuple[str, ...]
    units: str
    dtype: str
    nodata: float  #: nodata value of the source files (NaN for S1)
    gsd_m: tuple[float, ...]  #: native pixel size per band (m)
    mean: tuple[float, ...]  #: x' = (x - mean) / std per band
    std: tuple[float, ...]
    normalised_in_graph: bool  #: True: the ONNX graph normalises; False: the engine must
    level: str = "L2A"  #: S2 product level of the training data
    quantification_value: float = 10000.0  #: reflectance = (DN + add_offset) / quantification_value
    add_offset: float = 0.0  #: ESA's BOA_ADD_OFFSET of the training data (0: processing baseline before 04.00)

    @classmethod
    def from_json(cls, d: dict) -> ModalitySpec:
        norm = d["normalisation"]
        radiometry = d.get("radiometry", {})
        return cls(
            bands=tuple(d["bands"]),
            units=d["units"],
            dtype=d["dtype"],
            nodata=math.nan if d["nodata"] == "nan" else float(d["nodata"]),
            gsd_m=tuple(float(v) for v in d["gsd_m"]),
            mean=tuple(float(v) for v in norm["mean"]),
            std=tuple(float(v) for v in norm["std"]),
            normalised_in_graph=bool(norm["in_graph"]),
            level=radiometry.get("level", "L2A"),
            quantification_value=float(radiometry.get("quantification_value", 10000.0)),
            add_offset=float(radiometry.get("add_offset", 0.0)),
        )


@dataclass(frozen=True)
class ModelMetadata:
    """Validated model metadata (see the module docstring and the schema file for each field)."""

    schema_version: int
    class_names: tuple[str, ...]
    class_colors: tuple[str, ...]
    thresholds: tuple[float, ...]
    thresholds_tuned: bool
    s2: ModalitySpec
    s1: ModalitySpec
    patch_size_px: int
    gsd_m: float
    upsampling: str
    strategy: str
    training: dict
    metrics: dict
    raw: dict
    precision: str = "fp32"  #: fp32, fp16 or int8
    precision_info: dict = field(default_factory=dict)  #: method, calibration, metrics and fp32_metrics
    head_info: dict = field(default_factory=dict)  #: ``heads`` of the JSON: per-modality head → output, thresholds…

    @property
    def heads(self) -> tuple[str, ...]:
        """The classification heads of the model in output order: ``"fused"`` first, then ``"s1"`` / ``"s2"``
        (S1-only / S2-only classifiers) where the model has them. Files before schema v3 are fused-only."""
        return tuple(h for h in HEADS if h == "fused" or h in self.head_info)

    def output_name(self, head: str) -> str:
        """The graph output of ``head`` (``probabilities``, ``probabilities_s1``, ``probabilities_s2``)."""
        self._check_head(head)
        return HEAD_OUTPUTS[head]

    def thresholds_for(self, head: str) -> tuple[float, ...]:
        """Decision thresholds per class of ``head`` (tuned on validation when :attr:`thresholds_tuned`)."""
        self._check_head(head)
        return self.thresholds if head == "fused" else tuple(float(t) for t in self.head_info[head]["thresholds"])

    def metrics_for(self, head: str) -> dict[str, float]:
        """Recorded metrics of ``head`` by name (e.g. ``test/ap_macro``, ``cloudy/ap_macro``); may be empty."""
        self._check_head(head)
        return dict(self.metrics if head == "fused" else self.head_info[head]["metrics"])

    def _check_head(self, head: str) -> None:
        if head not in self.heads:
            raise ModelError(f"this model has no {head!r} head; its heads are {', '.join(self.heads)}.")

    @property
    def precision_metrics(self) -> dict[str, tuple[float, float]]:
        """``{name: (value of this file, value of the fp32 graph)}`` on the same test patches (fp16 / int8)."""
        mine, fp32 = self.precision_info.get("metrics", {}), self.precision_info.get("fp32_metrics", {})
        return {k: (float(v), float(fp32[k])) for k, v in sorted(mine.items()) if k in fp32}

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def _cross_check(d: dict) -> None:
    """Rules across fields; raises :class:`SchemaViolationError` like the schema check."""
    n = len(d["class_names"])
    if len(set(d["class_names"])) != n:
        raise SchemaViolationError("class_names holds duplicates")
    for i, name in enumerate(d["class_names"]):
        if not name.isprintable():  # names become band descriptions, .qml labels and GeoPackage values
            raise SchemaViolationError(f"class_names[{i}] {short_repr(name)} holds control or line-break characters")
    for key in ("class_colors", "thresholds"):
        if len(d[key]) != n:
            raise SchemaViolationError(f"{key} has {len(d[key])} entries for {n} classes")
    for name, spec in d["inputs"].items():
        nb = len(spec["bands"])
        if len(set(spec["bands"])) != nb:
            raise SchemaViolationError(f"inputs.{name}.bands holds duplicates")
        norm = spec["normalisation"]
        for key, values in (
            ("gsd_m", spec["gsd_m"]),
            ("normalisation.mean", norm["mean"]),
            ("normalisation.std", norm["std"]),
        ):
            if len(values) != nb:
                raise SchemaViolationError(f"inputs.{name}.{key} has {len(values)} entries for {nb} bands")
    modalities = d.get("architecture", {}).get("modalities", "s1s2")
    for head, spec in d.get("heads", {}).items():
        if len(spec["thresholds"]) != n:
            raise SchemaViolationError(f"heads.{head}.thresholds has {len(spec['thresholds'])} entries for {n} classes")
        if modalities != "s1s2":
            raise SchemaViolationError(f"heads.{head} needs a model of both modalities, not modalities {modalities}")
    precision = d.get("precision", {})
    if ("calibration" in precision) != (precision.get("dtype") == "int8"):
        raise SchemaViolationError("precision.calibration is recorded for int8 files and only for them")


def parse_metadata(text: str | bytes | dict | None, source: str = "the model") -> ModelMetadata:
    """Parse and validate metadata JSON (text or already-parsed dict); :class:`ModelError` when invalid.

    A ``schema_version`` newer than :data:`SCHEMA_VERSION` is refused with a request to update MoSAiC.
    """
    if text is None:
        raise ModelError(
            f"{source} has no MoSAiC metadata (metadata_props['{METADATA_KEY}']); export it with `mosaic export`."
        )
    if isinstance(text, dict):
        d = text
    else:
        try:
            d = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise ModelError(
                f"the MoSAiC metadata of {source} is not valid JSON ({exc}); re-export the model."
            ) from None
    if not isinstance(d, dict):
        raise ModelError(f"the MoSAiC metadata of {source} is not a JSON object; re-export the model.")
    version = d.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise ModelError(
            f"{source} uses metadata schema version {version} but this MoSAiC reads up to version "
            f"{SCHEMA_VERSION}; update the MoSAiC plugin."
        )
    try:
        readable = isinstance(version, int) and not isinstance(version, bool) and version in READABLE_VERSIONS
        validate(d, load_schema(version if readable else SCHEMA_VERSION))
        _cross_check(d)
    except SchemaViolationError as exc:
        raise ModelError(f"the MoSAiC metadata of {source} is invalid: {exc}; re-export the model.") from None
    return _from_dict(d)


def _from_dict(d: dict[str, Any]) -> ModelMetadata:
    return ModelMetadata(
        schema_version=d["schema_version"],
        class_names=tuple(d["class_names"]),
        class_colors=tuple(d["class_colors"]),
        thresholds=tuple(float(t) for t in d["thresholds"]),
        thresholds_tuned=d["thresholds_tuned"],
        s2=ModalitySpec.from_json(d["inputs"]["s2"]),
        s1=ModalitySpec.from_json(d["inputs"]["s1"]),
        patch_size_px=d["patch_size_px"],
        gsd_m=float(d["gsd_m"]),
        upsampling=d["upsampling"],
        strategy=d["strategy"],
        training=dict(d["training"]),
        metrics=dict(d["metrics"]),
        raw=d,
        precision=d.get("precision", {}).get("dtype", "fp32"),
        precision_info=dict(d.get("precision", {})),
        head_info=dict(d.get("heads", {})),
    )

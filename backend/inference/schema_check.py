"""A small strict validator for the JSON-schema subset the model metadata schema uses (no ``jsonschema``).

Supported keywords: ``type`` (a name or a list), ``properties``, ``required``, ``additionalProperties``
(bool or schema), ``items``, ``minItems``, ``maxItems``, ``enum``, ``const``, ``minimum``, ``maximum``,
``exclusiveMinimum``, ``minLength``, ``pattern``, ``anyOf``, ``$ref`` (``#/$defs/NAME``). A ``number`` must
be finite and within the float range (no NaN, Infinity or 10**400: every number is used as a float). Annotations
(``$schema``, ``$id``, ``title``, ``description``, ``$defs``) are ignored. A schema using any other keyword is
rejected, so the validator can never silently accept what it does not understand.
"""

from __future__ import annotations

import math
import re
from typing import Any

_ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs"}
_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "minLength",
    "pattern",
    "anyOf",
    "$ref",
}
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: _finite_number(v),
}


def _finite_number(value: Any) -> bool:
    """An int or float that is finite as a float: JSON has no NaN/Infinity, and ``float(10**400)`` overflows."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range
        return False


class SchemaViolationError(ValueError):
    """The instance does not match the schema; the message names the JSON path (e.g. ``inputs.s2.bands[3]``)."""


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages about untrusted values (never raises)."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python prints
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def validate(instance: Any, schema: dict) -> None:
    """Raise :class:`SchemaViolationError` at the first place where ``instance`` does not match ``schema``."""
    _check(instance, schema, schema, "$")


def _resolve(ref: str, root: dict) -> dict:
    if not ref.startswith("#/$defs/"):
        raise ValueError(f"unsupported $ref {ref!r}")
    return root["$defs"][ref[len("#/$defs/") :]]


def _check(value: Any, schema: dict, root: dict, path: str) -> None:
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise ValueError(f"schema keyword(s) {sorted(unknown)} at {path} are not supported by this validator")
    if "$ref" in schema:
        _check(value, _resolve(schema["$ref"], root), root, path)
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                _check(value, option, root, path)
                break
            except SchemaViolationError as exc:
                errors.append(str(exc))
        else:
            raise SchemaViolationError(f"{path} matches none of the allowed forms ({'; '.join(errors)})")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            if "number" in types and isinstance(value, (int, float)) and not isinstance(value, bool):
                raise SchemaViolationError(f"{path} must be a finite float-range number, not {short_repr(value)}")
            raise SchemaViolationError(f"{path} must be of type {' or '.join(types)}, not {type(value).__name__}")
    if "const" in schema and value != schema["const"]:
        raise SchemaViolationError(f"{path} must be {schema['const']!r}, not {short_repr(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaViolationError(f"{path} must be one of {schema['enum']}, not {short_repr(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # ranges apply to huge ints too
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaViolationError(f"{path} must be >= {schema['minimum']}, not {short_repr(value)}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaViolationError(f"{path} must be <= {schema['maximum']}, not {short_repr(value)}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise SchemaViolationError(f"{path} must be > {schema['exclusiveMinimum']}, not {short_repr(value)}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise SchemaViolationError(f"{path} must have at least {schema['minLength']} character(s)")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise SchemaViolationError(f"{path} value {short_repr(value)} does not match {schema['pattern']}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise SchemaViolationError(f"{path} must have at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaViolationError(f"{path} must have at most {schema['maxItems']} item(s)")
        if "items" in schema:
            for i, item in enumerate(value):
                _check(item, schema["items"], root, f"{path}[{i}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                raise SchemaViolationError(f"{path} lacks the required key {short_repr(key)}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], root, f"{path}.{key}")  # a schema key: short and plain
            elif extra is False:
                raise SchemaViolationError(f"{path} has an unknown key {short_repr(key)}")
            elif isinstance(extra, dict):
                _check(item, extra, root, f"{path}[{short_repr(key)}]")

"""The GeoPackage of ``mosaic sample``: the sample units to label, the design they were drawn with, their form style.

Layers:

- ``sample`` (polygons: each unit is one map cell): ``unit`` (1…n), ``stratum``, ``row``, ``col`` (the map cell),
  ``x``, ``y`` (its centre), ``map_class`` (top class), ``map_labels`` (the classes the multi-label map has there,
  ``"; "``-joined), ``confidence`` (top probability), then the analyst's ``reference`` (top class, empty until
  labelled), ``ref: <class>`` (0/1 per class: present in the cell), ``comment``, and ``p: <class>`` (the map's
  probabilities);
- ``strata`` (table): ``stratum``, ``cells``, ``area``, ``area_unit``, ``units`` (sample size);
- ``design`` (table): ``key``, ``value`` (JSON): the map's classes, grid and files, the stratification, allocation,
  seed and sample-size inputs;
- ``layer_styles``: the QGIS style of ``sample`` (:mod:`.form_style`), which QGIS applies when it opens the layer.

A unit counts as labelled with a top class when ``reference`` is set, and with a multi-label reference when at least
one ``ref:`` box is ticked (every cell has some land cover). :func:`read_labelled` refuses a half-labelled sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .geo_io import GeoIO, LayerData

SAMPLE_LAYER, STRATA_LAYER, DESIGN_LAYER, STYLES_LAYER = "sample", "strata", "design", "layer_styles"
UNIT_FIELD, STRATUM_FIELD, MAP_CLASS_FIELD, MAP_LABELS_FIELD = "unit", "stratum", "map_class", "map_labels"
CONFIDENCE_FIELD, REFERENCE_FIELD, COMMENT_FIELD = "confidence", "reference", "comment"
PRESENCE_PREFIX, PROBABILITY_PREFIX = "ref: ", "p: "
LABELS_SEPARATOR = "; "
#: the fields that say what the map says (read only in the form)
MAP_FIELDS = (UNIT_FIELD, STRATUM_FIELD, MAP_CLASS_FIELD, MAP_LABELS_FIELD, CONFIDENCE_FIELD)
_FIXED = (
    (UNIT_FIELD, "int"),
    (STRATUM_FIELD, "str"),
    ("row", "int"),
    ("col", "int"),
    ("x", "float"),
    ("y", "float"),
    (MAP_CLASS_FIELD, "str"),
    (MAP_LABELS_FIELD, "str"),
    (CONFIDENCE_FIELD, "float"),
    (REFERENCE_FIELD, "str"),
)


@dataclass(frozen=True)
class SampleSchema:
    """The fields of the ``sample`` layer for a map with ``class_names``."""

    class_names: tuple[str, ...]

    @property
    def presence_fields(self) -> tuple[str, ...]:
        return tuple(PRESENCE_PREFIX + name for name in self.class_names)

    @property
    def probability_fields(self) -> tuple[str, ...]:
        return tuple(PROBABILITY_PREFIX + name for name in self.class_names)

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        return (
            *_FIXED,
            *((f, "int") for f in self.presence_fields),
            (COMMENT_FIELD, "str"),
            *((f, "float") for f in self.probability_fields),
        )


@dataclass(frozen=True)
class SampleDesign:
    """How a sample was drawn: the map, its strata with their sizes and areas, and the sample-size choices."""

    class_names: tuple[str, ...]
    strata_names: tuple[str, ...]
    cells: tuple[int, ...]
    units: tuple[int, ...]
    cell_area: float
    area_unit: str
    settings: dict  #: stratification, allocation, seed, target SE, expected accuracy, minimum, grid, map files

    def areas(self) -> dict[str, float]:
        return {name: cells * self.cell_area for name, cells in zip(self.strata_names, self.cells)}

    def layers(self) -> list[LayerData]:
        """The ``strata`` and ``design`` tables."""
        strata = LayerData(
            STRATA_LAYER,
            (("stratum", "str"), ("cells", "int"), ("area", "float"), ("area_unit", "str"), ("units", "int")),
            [
                {"stratum": s, "cells": c, "area": c * self.cell_area, "area_unit": self.area_unit, "units": n}
                for s, c, n in zip(self.strata_names, self.cells, self.units)
            ],
        )
        values = {"classes": list(self.class_names), "cell_area": self.cell_area, **self.settings}
        design = LayerData(
            DESIGN_LAYER,
            (("key", "str"), ("value", "str")),
            [{"key": k, "value": json.dumps(v)} for k, v in values.items()],
        )
        return [strata, design]


def styles_layer(qml: str, layer: str = SAMPLE_LAYER, name: str = "MoSAiC sample form") -> LayerData:
    """QGIS's ``layer_styles`` table holding ``qml`` as the default style (``name``) of ``layer``."""
    fields = ("f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName", "styleQML")
    fields += ("styleSLD", "useAsDefault", "description", "owner", "ui", "update_time")
    record = {f: "" for f in fields} | {
        "f_table_name": layer,
        "f_geometry_column": "geom",
        "styleName": name,
        "styleQML": qml,
        "useAsDefault": 1,
    }
    return LayerData(STYLES_LAYER, tuple((f, "int" if f == "useAsDefault" else "str") for f in fields), [record])


@dataclass(frozen=True)
class SampleFile:
    """A sample GeoPackage read back: the units' records and cells, its CRS and its design."""

    records: list[dict]
    boxes: np.ndarray
    crs_wkt: str
    design: SampleDesign


def read_sample_file(io: GeoIO, path: str) -> SampleFile:
    """Read the ``sample``, ``strata`` and ``design`` layers of a sample GeoPackage."""
    layers = io.layer_names(path)
    missing = [name for name in (SAMPLE_LAYER, STRATA_LAYER, DESIGN_LAYER) if name not in layers]
    if missing:
        raise InputError(
            f"{path} is not a sample of `mosaic sample` (no layer {', '.join(missing)}); for a sample from elsewhere "
            "give --sample FILE.csv with --areas FILE.csv."
        )
    settings = {r["key"]: json.loads(r["value"]) for r in io.read_layer(path, DESIGN_LAYER).records}
    strata = io.read_layer(path, STRATA_LAYER).records
    classes = tuple(settings.pop("classes"))
    design = SampleDesign(
        class_names=classes,
        strata_names=tuple(r["stratum"] for r in strata),
        cells=tuple(int(r["cells"]) for r in strata),
        units=tuple(int(r["units"]) for r in strata),
        cell_area=float(settings.pop("cell_area")),
        area_unit=strata[0]["area_unit"] if strata else "",
        settings=settings,
    )
    sample = io.read_layer(path, SAMPLE_LAYER)
    return SampleFile(sample.records, sample.boxes, sample.crs_wkt or "", design)


def top_references(records: list[dict]) -> list[str] | None:
    """The ``reference`` of every unit; None when no unit has one; refuses a sample labelled in part."""
    values = [r.get(REFERENCE_FIELD) or None for r in records]
    return _all_or_none(values, [v is not None for v in values], records, "reference class")


def presence_references(records: list[dict], class_names: tuple[str, ...]) -> np.ndarray | None:
    """``[n, K]`` bool from the ``ref:`` boxes; None when no box is ticked; refuses a sample labelled in part."""
    fields = SampleSchema(class_names).presence_fields
    ticked = np.array([[bool(r.get(f) or 0) for f in fields] for r in records], dtype=bool).reshape(-1, len(fields))
    return _all_or_none(ticked, ticked.any(axis=1).tolist(), records, "ticked class (ref:)")


def _all_or_none(values, labelled: list[bool], records: list[dict], what: str):
    if not any(labelled):
        return None
    if all(labelled):
        return values
    first = next(r[UNIT_FIELD] for r, done in zip(records, labelled) if not done)
    missing = labelled.count(False)
    raise InputError(
        f"{missing} of {len(records)} sample units have no {what} yet (first: unit {first}): label them in QGIS, or "
        "delete the units that cannot be labelled from the layer."
    )


def mapped_presence(records: list[dict], class_names: tuple[str, ...]) -> np.ndarray:
    """``[n, K]`` bool: the classes of each unit's ``map_labels``."""
    index = {name: k for k, name in enumerate(class_names)}
    out = np.zeros((len(records), len(class_names)), dtype=bool)
    for u, r in enumerate(records):
        for name in filter(None, (r.get(MAP_LABELS_FIELD) or "").split(LABELS_SEPARATOR)):
            out[u, index[name]] = True
    return out


def probabilities(records: list[dict], class_names: tuple[str, ...]) -> np.ndarray:
    """``[n, K]`` the map's probabilities of each unit."""
    fields = SampleSchema(class_names).probability_fields
    return np.array([[float(r[f]) for f in fields] for r in records], dtype=float).reshape(-1, len(fields))

"""``draw_sample``: a stratified random sample of a run's cells, written as the GeoPackage to label in QGIS.

Steps: read the run's labels and probabilities; stratify the cells with data (:mod:`.strata`); the sample size from
the target standard error of overall accuracy unless given (:func:`.design.sample_size`, Olofsson et al. 2014
eq. 13, with the same anticipated user's accuracy in every stratum); its allocation (:func:`.design.allocate`); a
simple random draw without replacement in each stratum (numpy's PCG64 generator seeded with the request's seed, so
the same request gives the same sample); then the units in a random order (so that their numbers do not give away
their strata) with the map's values (:mod:`.sample_layer`) and the form style (:mod:`.form_style`).

The sample units are map cells, drawn as their squares: the cell is the unit the map classifies (one label and one
label set per cell), so the analyst labels what is inside the square, its dominant class and every class present.
A point would fit the top class but could not be labelled with the classes present in the cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import InputError, OutputError
from .design import allocate, sample_size
from .form_style import sample_qml
from .geo_io import GeoIO, LayerData, MapRaster, check_crs, read_raster_over
from .request import SampleRequest
from .sample_layer import (
    CONFIDENCE_FIELD,
    LABELS_SEPARATOR,
    MAP_CLASS_FIELD,
    MAP_LABELS_FIELD,
    SAMPLE_LAYER,
    STRATUM_FIELD,
    UNIT_FIELD,
    SampleDesign,
    SampleSchema,
    styles_layer,
)
from .strata import Strata, layer_strata, presence_strata, top_class_strata


@dataclass(frozen=True)
class DrawnSample:
    """The design of the sample drawn, and the GeoPackage written."""

    design: SampleDesign
    path: Path


def stratify(request: SampleRequest, raster: MapRaster, io: GeoIO) -> Strata:
    """The strata the request asks for."""
    if request.strata == "top-class":
        return top_class_strata(raster)
    if request.strata == "presence":
        if not request.presence_class:
            raise InputError("stratifying by presence needs the class: give --presence-class NAME.")
        return presence_strata(raster, request.presence_class)
    if request.strata != "layer":
        raise InputError(f"unknown stratification {request.strata!r}; choose top-class, presence or layer.")
    if not request.strata_layer:
        raise InputError("stratifying by a layer needs it: give --strata-layer FILE (and --strata-field for a vector).")
    return _layer_strata(request, raster, io)


def _layer_strata(request: SampleRequest, raster: MapRaster, io: GeoIO) -> Strata:
    grid, name = raster.grid, Path(request.strata_layer).name
    if request.strata_field:
        table = io.read_vector(request.strata_layer)
        check_crs(io, f"the stratum layer {name}", table.crs_wkt, grid.crs_wkt)
        if request.strata_field not in table.fields:
            raise InputError(
                f"the stratum layer has no field {request.strata_field!r}; its fields: {', '.join(table.fields)}."
            )
        index = io.feature_index(request.strata_layer, None, grid)  # −1 (no feature) picks the appended None
        values = [r[request.strata_field] for r in table.records] + [None]
        has_value = np.array([v is not None for v in values])[index]
        return layer_strata(raster, np.array(values, dtype=object)[index], has_value)
    data = read_raster_over(
        io, request.strata_layer, grid.bounds, grid.crs_wkt, f"the stratum layer {name}", "--strata-field"
    )
    rows, cols = np.indices((grid.height, grid.width))
    xs, ys = grid.centres(rows, cols)
    r, c = data.grid.locate(xs, ys)
    inside = (r >= 0) & data.valid[np.maximum(r, 0), np.maximum(c, 0)]
    return layer_strata(raster, data.values[np.maximum(r, 0), np.maximum(c, 0)], inside)


def draw(strata: Strata, units: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat cell indices drawn without replacement (``units[h]`` in stratum ``h``) and their strata, in a random unit
    order."""
    rng = np.random.default_rng(seed)
    flat = strata.codes.ravel()
    picks = [rng.choice(np.flatnonzero(flat == h), size=int(n), replace=False) for h, n in enumerate(units)]
    cells = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    order = rng.permutation(len(cells))
    return cells[order], flat[cells[order]]


def _records(raster: MapRaster, strata: Strata, rows, cols, codes, schema: SampleSchema) -> list[dict]:
    names = raster.class_names
    presence = raster.presence(rows, cols)
    p = raster.probabilities[:, rows, cols].T
    xs, ys = raster.grid.centres(rows, cols)
    records = []
    for u in range(len(rows)):
        record = {
            UNIT_FIELD: u + 1,
            STRATUM_FIELD: strata.names[codes[u]],
            "row": int(rows[u]),
            "col": int(cols[u]),
            "x": float(xs[u]),
            "y": float(ys[u]),
            MAP_CLASS_FIELD: names[int(raster.top[rows[u], cols[u]])],
            MAP_LABELS_FIELD: LABELS_SEPARATOR.join(n for n, on in zip(names, presence[u]) if on),
            CONFIDENCE_FIELD: float(p[u].max()),
        }
        record |= {f: 0 for f in schema.presence_fields}
        record |= {f: float(v) for f, v in zip(schema.probability_fields, p[u])}
        records.append(record)
    return records


def draw_sample(request: SampleRequest, io: GeoIO) -> DrawnSample:
    """Draw the sample of ``request`` and write ``request.out`` (GeoPackage) and its ``.qml`` beside it."""
    out = Path(request.out)
    if out.suffix.lower() != ".gpkg":
        raise OutputError(f"the sample is written as a GeoPackage: name it ….gpkg, not {out.name}.")
    if out.exists() and not request.overwrite:
        raise OutputError(f"{out} exists; pass --overwrite to replace it.")
    if (request.total is not None and request.total < 1) or request.minimum < 0:
        raise InputError("the sample size (--total) must be at least 1 and the minimum per stratum at least 0.")
    raster = io.read_map(request.labels, request.probabilities)
    strata = stratify(request, raster, io)
    cells = strata.cells()
    n = request.total
    if n is None:
        expected = np.full(len(cells), request.expected_accuracy)
        n = sample_size(cells / cells.sum(), expected, request.target_se, int(cells.sum()))
    units = allocate(cells, n, request.allocation, request.minimum)
    flat, codes = draw(strata, units, request.seed)
    rows, cols = np.unravel_index(flat, strata.codes.shape)
    grid = raster.grid
    cell_area, area_unit = (grid.cell_hectares, "ha") if grid.cell_hectares else (1.0, "cells")
    design = SampleDesign(
        class_names=raster.class_names,
        strata_names=strata.names,
        cells=tuple(int(c) for c in cells),
        units=tuple(int(u) for u in units),
        cell_area=float(cell_area),
        area_unit=area_unit,
        settings={
            "strata": request.strata if request.strata != "presence" else f"presence of {request.presence_class}",
            "allocation": request.allocation,
            "minimum": request.minimum,
            "target_se": request.target_se if request.total is None else None,
            "expected_accuracy": request.expected_accuracy if request.total is None else None,
            "seed": request.seed,
            "grid": {"transform": list(grid.transform), "width": grid.width, "height": grid.height},
            "labels": Path(request.labels).name,
            "probabilities": Path(request.probabilities).name,
        },
    )
    schema = SampleSchema(raster.class_names)
    qml = sample_qml(schema)
    layers = [
        LayerData(
            SAMPLE_LAYER,
            schema.fields,
            _records(raster, strata, rows, cols, codes, schema),
            grid.boxes(rows, cols),
            grid.crs_wkt,
        ),
        *design.layers(),
        styles_layer(qml),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: io.write_geopackage(str(tmp), layers))
    atomic_write(out.with_suffix(".qml"), lambda tmp: tmp.write_text(qml, encoding="utf-8"))
    return DrawnSample(design, out)

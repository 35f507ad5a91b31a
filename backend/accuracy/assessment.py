"""``assess``: the library call behind ``mosaic assess`` and ``mosaic:assess``.

1. The labelled sample: a CSV (``map,reference[,stratum]`` with an areas CSV) or the GeoPackage of ``mosaic sample``
   labelled in QGIS, or labelled here from a reference raster or vector (:mod:`.reference`).
2. The estimates: the top-class map where units have a reference class (:mod:`.top_class`), the multi-label map
   where they have reference classes present (:mod:`.multilabel`).
3. With the run's rasters and a reference raster: the agreement cross-tabulation (:mod:`.agreement`).
4. Everything into the output folder at once (:mod:`.outputs`), with the report and, for a GeoPackage sample, the
   layer of the units where map and reference disagree.

A vector reference is told apart from a raster by its fields: it needs ``reference_field`` and/or
``reference_labels_field``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .agreement import Agreement, cross_tabulate
from .chart import area_chart_png
from .csv_tables import read_sample as read_csv_sample
from .estimates import Assessment, Estimate
from .form_style import disagreement_qml
from .geo_io import GeoIO, LayerData, check_crs, read_raster_over
from .labelled_sample import LabelledSample, labelled_sample
from .multilabel import MultilabelAssessment, assess_presence
from .olofsson import NAME as OLOFSSON
from .outputs import (
    accuracy_csv,
    agreement_csv,
    counts_csv,
    json_text,
    multilabel_csv,
    proportions_csv,
    text_writer,
    write_folder,
)
from .reference import ClassMapping, UnitReferences, class_mapping, from_raster, from_vector
from .report import Outline, add_agreement, add_design, add_multilabel, add_references, add_top_class
from .request import AssessRequest
from .sample_layer import (
    LABELS_SEPARATOR,
    MAP_CLASS_FIELD,
    REFERENCE_FIELD,
    STRATUM_FIELD,
    UNIT_FIELD,
    SampleFile,
    mapped_presence,
    presence_references,
    probabilities,
    read_sample_file,
    styles_layer,
    top_references,
)
from .top_class import assess_top_class

CHART_FILE, MULTILABEL_CHART_FILE = "areas.png", "areas_multilabel.png"
DISAGREEMENT_FILE, DISAGREEMENT_LAYER = "disagreement.gpkg", "disagreement"
FIELD_OPTIONS = "--reference-field (and/or --reference-labels-field)"


@dataclass(frozen=True)
class AssessmentResult:
    """What ``assess`` computed and the files it wrote."""

    paths: list[Path]
    sample: LabelledSample | None
    top_class: Assessment | None
    multilabel: MultilabelAssessment | None
    agreement: Agreement | None
    disagreeing_units: int


def _is_vector_reference(request: AssessRequest) -> bool:
    return bool(request.reference_field or request.reference_labels_field)


def _label_from_reference(
    request: AssessRequest, sample: SampleFile, io: GeoIO, mapping: ClassMapping
) -> UnitReferences:
    classes = sample.design.class_names
    name = Path(request.reference).name
    if _is_vector_reference(request):
        table = io.read_vector(request.reference, request.reference_layer)
        check_crs(io, f"the reference {name}", table.crs_wkt, sample.crs_wkt)
        overlaps = io.overlaps(request.reference, request.reference_layer, sample.boxes)
        found = from_vector(table, overlaps, request.reference_field, request.reference_labels_field, mapping, classes)
    else:
        bounds = (*sample.boxes[:, :2].min(axis=0), *sample.boxes[:, 2:].max(axis=0))
        data = read_raster_over(io, request.reference, bounds, sample.crs_wkt, f"the reference {name}", FIELD_OPTIONS)
        found = from_raster(data, sample.boxes, mapping, classes)
    labelled = found.presence.any(axis=1)
    if not labelled.all():
        first = sample.records[int(np.flatnonzero(~labelled)[0])][UNIT_FIELD]
        raise InputError(
            f"the reference {name} says nothing about {int((~labelled).sum())} of {len(labelled)} sample units "
            f"(first: unit {first}); give a reference that covers the whole sample."
        )
    return found


def _from_sample_file(request: AssessRequest, io: GeoIO) -> LabelledSample:
    sample = read_sample_file(io, request.sample)
    classes = sample.design.class_names
    records = sample.records
    if request.reference:
        found = _label_from_reference(request, sample, io, class_mapping(request.class_map))
        has_top = not _is_vector_reference(request) or bool(request.reference_field)
        top = [classes[k] if k >= 0 else None for k in found.top] if has_top else None
        presence = found.presence
    else:
        top, presence = top_references(records), presence_references(records, classes)
    if top is None and presence is None:
        raise InputError(
            f"{Path(request.sample).name} has no labels yet: label its units in QGIS (the form's Reference tab), or "
            "give --reference to label them from a reference map."
        )
    return labelled_sample(
        classes,
        sample.design.areas(),
        sample.design.area_unit,
        [str(r[UNIT_FIELD]) for r in records],
        [r[STRATUM_FIELD] for r in records],
        [r[MAP_CLASS_FIELD] for r in records],
        top,
        areas_source=f"the strata table of {Path(request.sample).name}",
        reference_presence=presence,
        mapped_presence=mapped_presence(records, classes),
        probabilities=probabilities(records, classes),
        boxes=sample.boxes,
        crs_wkt=sample.crs_wkt,
    )


def load_sample(request: AssessRequest, io: GeoIO) -> LabelledSample | None:
    """The labelled sample of the request (None without ``sample``)."""
    if request.sample is None:
        return None
    if Path(request.sample).suffix.lower() == ".csv":
        if request.areas is None:
            raise InputError("a CSV sample needs the stratum areas: give --areas FILE.csv (columns stratum,area).")
        if request.reference:
            raise InputError("a CSV sample holds its own reference column; --reference labels GeoPackage samples.")
        return read_csv_sample(request.sample, request.areas, request.area_unit)
    return _from_sample_file(request, io)


def _agreement(request: AssessRequest, io: GeoIO) -> Agreement | None:
    if not (request.labels and request.reference) or _is_vector_reference(request):
        return None
    raster = io.read_map(request.labels, request.probabilities)
    name = Path(request.reference).name
    data = read_raster_over(
        io, request.reference, raster.grid.bounds, raster.grid.crs_wkt, f"the reference {name}", FIELD_OPTIONS
    )
    return cross_tabulate(raster, data, class_mapping(request.class_map), Path(request.reference).name)


def _names(classes: tuple[str, ...], row: np.ndarray) -> str:
    return LABELS_SEPARATOR.join(n for n, on in zip(classes, row) if on)


def disagreement_layer(sample: LabelledSample) -> LayerData:
    """The sample units where the top class or the classes present differ between map and reference."""
    n, classes = sample.size, sample.classes
    top_differs = sample.reference != sample.mapped if sample.reference is not None else np.zeros(n, dtype=bool)
    has_sets = sample.reference_presence is not None
    missed = sample.reference_presence & ~sample.mapped_presence if has_sets else np.zeros((n, 1), dtype=bool)
    extra = sample.mapped_presence & ~sample.reference_presence if has_sets else np.zeros((n, 1), dtype=bool)
    differs = np.flatnonzero(top_differs | missed.any(axis=1) | extra.any(axis=1))
    records = [
        {
            UNIT_FIELD: sample.unit_ids[u],
            STRATUM_FIELD: sample.strata_names[sample.strata[u]],
            MAP_CLASS_FIELD: classes[sample.mapped[u]],
            REFERENCE_FIELD: classes[sample.reference[u]] if sample.reference is not None else None,
            "top_class_differs": int(top_differs[u]),
            "missed": _names(classes, missed[u]) if has_sets else None,
            "extra": _names(classes, extra[u]) if has_sets else None,
        }
        for u in differs
    ]
    fields = ((UNIT_FIELD, "str"), (STRATUM_FIELD, "str"), (MAP_CLASS_FIELD, "str"), (REFERENCE_FIELD, "str"))
    fields += (("top_class_differs", "int"), ("missed", "str"), ("extra", "str"))
    return LayerData(DISAGREEMENT_LAYER, fields, records, sample.boxes[differs], sample.crs_wkt)


def _mapped_areas(result: Assessment) -> list[float] | None:
    """The mapped area of each class where the strata are the map classes (p̂_i. = W_i)."""
    if result.estimator != OLOFSSON:
        return None
    return (result.proportions.sum(axis=1) * result.total_area).tolist()


def _chart(files: dict, name: str, classes, areas: list[Estimate], unit: str, mapped) -> str | None:
    """Add the bar chart ``name`` of ``areas`` to ``files``; its file name, or None without matplotlib."""
    png = area_chart_png(classes, [a.estimate for a in areas], [a.ci95 for a in areas], unit, mapped)
    if png is None:
        return None
    files[name] = lambda path: path.write_bytes(png)
    return name


def assess(request: AssessRequest, io: GeoIO) -> AssessmentResult:
    """Run ``request`` (see the module docstring); returns what was estimated and written."""
    if request.sample is None and not (request.labels and request.reference):
        raise InputError("nothing to assess: give a labelled --sample, or the map (--map) and a reference raster.")
    sample = load_sample(request, io)
    top = assess_top_class(sample) if sample is not None and sample.reference is not None else None
    multi = assess_presence(sample) if sample is not None and sample.reference_presence is not None else None
    agreement = _agreement(request, io)
    files: dict = {}
    outline = Outline("Map accuracy and area")
    if sample is not None:
        strata = list(zip(sample.strata_names, sample.stratum_areas.tolist(), sample.units_per_stratum().tolist()))
        add_design(outline, Path(request.sample).name, strata, sample.area_unit)
    if top is not None:
        mapped = _mapped_areas(top)
        areas = [top.area(k) for k in range(len(top.classes))]
        chart = _chart(files, CHART_FILE, top.classes, areas, top.area_unit, mapped)
        add_top_class(outline, top, chart, mapped)
        files["assessment.json"] = text_writer(json_text(top.to_json()))
        files["accuracy.csv"] = text_writer(accuracy_csv(top))
        files["error_matrix_counts.csv"] = text_writer(counts_csv(top))
        files["error_matrix_proportions.csv"] = text_writer(proportions_csv(top))
    if multi is not None:
        areas = [c.area_proportion.scaled(multi.total_area) for c in multi.classes]
        names = [c.name for c in multi.classes]
        add_multilabel(outline, multi, _chart(files, MULTILABEL_CHART_FILE, names, areas, multi.area_unit, None))
        files["assessment_multilabel.json"] = text_writer(json_text(multi.to_json()))
        files["multilabel.csv"] = text_writer(multilabel_csv(multi))
    if agreement is not None:
        add_agreement(outline, agreement)
        files["agreement.json"] = text_writer(json_text(agreement.to_json()))
        files["agreement_area.csv"] = text_writer(agreement_csv(agreement))
    add_references(outline)
    files["report.md"] = text_writer(outline.markdown())
    files["report.html"] = text_writer(outline.html())
    disagreeing = 0
    if sample is not None and sample.boxes is not None:
        layer = disagreement_layer(sample)
        disagreeing = len(layer.records)
        styles = styles_layer(disagreement_qml(), DISAGREEMENT_LAYER, "MoSAiC disagreement")
        files[DISAGREEMENT_FILE] = lambda path: io.write_geopackage(str(path), [layer, styles])
    paths = write_folder(request.out, files, request.overwrite)
    return AssessmentResult(paths, sample, top, multi, agreement, disagreeing)

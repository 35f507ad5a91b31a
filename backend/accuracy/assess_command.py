"""``mosaic assess``: accuracy and area with confidence intervals from a labelled sample, and agreement with a map."""

from __future__ import annotations

import argparse
from pathlib import Path

from .assessment import assess
from .rasterio_io import RasterioIO
from .report import area_interval, proportion
from .request import AssessRequest
from .run_folder import run_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--sample",
        metavar="FILE",
        help="the labelled sample: the GeoPackage of `mosaic sample`, or a CSV with columns map,reference[,stratum]",
    )
    parser.add_argument("--areas", metavar="FILE.csv", help="with a CSV sample: columns stratum,area")
    parser.add_argument("--area-unit", default="pixels", help="unit of the --areas (default pixels; e.g. ha)")
    parser.add_argument(
        "--map",
        metavar="RUN_DIR",
        help="a run's output folder: with a reference raster, the agreement cross-tabulation",
    )
    parser.add_argument(
        "--reference",
        metavar="FILE",
        help="a reference raster (e.g. CORINE), or points/polygons with --reference-field/--reference-labels-field: "
        "labels the sample's units; with --map, a raster also gives the agreement",
    )
    parser.add_argument("--reference-layer", metavar="NAME", help="layer of a vector --reference (default: the first)")
    parser.add_argument("--reference-field", metavar="FIELD", help="vector reference: the field of the class")
    parser.add_argument(
        "--reference-labels-field",
        metavar="FIELD",
        help="vector reference: the field of the classes present (;-joined)",
    )
    parser.add_argument(
        "--class-map",
        metavar="corine|FILE.csv",
        help="reference values → map classes: corine (CLC level-3 codes → the 19 BigEarthNet classes) or a CSV "
        "value,class (default: the values are class names)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing assessment in --out")


def run(args: argparse.Namespace) -> int:
    labels, probabilities = run_files(args.map) if args.map else (None, None)
    request = AssessRequest(
        out=args.out,
        sample=args.sample,
        areas=args.areas,
        area_unit=args.area_unit,
        labels=labels,
        probabilities=probabilities,
        reference=args.reference,
        reference_layer=args.reference_layer,
        reference_field=args.reference_field,
        reference_labels_field=args.reference_labels_field,
        class_map=args.class_map,
        overwrite=args.overwrite,
    )
    result = assess(request, RasterioIO())
    if result.top_class is not None:
        top = result.top_class
        print(f"overall accuracy {proportion(top.overall)} (95 % CI), {top.estimator}")
        for k, name in enumerate(top.classes):
            print(f"  {name}: area {area_interval(top.area(k))} {top.area_unit}")
    if result.multilabel is not None:
        print(f"label accuracy (multi-label) {proportion(result.multilabel.label_accuracy)}")
    if result.agreement is not None:
        agreement = result.agreement
        print(f"agreement with {agreement.reference_name}: {agreement.overall:.3f} of the area (not accuracy)")
    print(f"{len(result.paths)} files in {args.out}; the report: {Path(args.out) / 'report.html'}")
    return 0

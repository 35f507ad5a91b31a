"""``mosaic sample``: a stratified random sample of a run's cells, as a GeoPackage to label in QGIS."""

from __future__ import annotations

import argparse

from .design import ALLOCATIONS, DEFAULT_EXPECTED_ACCURACY, DEFAULT_MINIMUM, DEFAULT_TARGET_SE
from .rasterio_io import RasterioIO
from .request import SampleRequest
from .run_folder import run_files
from .sampling import draw_sample
from .strata import STRATA_KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--map", required=True, metavar="RUN_DIR", help="a run's output folder (labels.tif, probabilities.tif)"
    )
    parser.add_argument("-o", "--out", required=True, metavar="SAMPLE.gpkg", help="the sample GeoPackage to write")
    parser.add_argument(
        "--strata",
        choices=STRATA_KINDS,
        default="top-class",
        help="strata: the top class (default), the presence of --presence-class, or the values of --strata-layer",
    )
    parser.add_argument("--presence-class", metavar="NAME", help="with --strata presence: the class (its name)")
    parser.add_argument(
        "--strata-layer",
        metavar="FILE",
        help="with --strata layer: a raster of stratum values, or polygons (--strata-field)",
    )
    parser.add_argument("--strata-field", metavar="FIELD", help="the stratum field of a vector --strata-layer")
    parser.add_argument(
        "--allocation",
        choices=ALLOCATIONS,
        default="compromise",
        help="units per stratum: compromise (default: --minimum per rare stratum, the rest proportional), "
        "proportional or equal",
    )
    parser.add_argument(
        "--minimum",
        type=int,
        default=DEFAULT_MINIMUM,
        help=f"compromise: units per rare stratum (default {DEFAULT_MINIMUM})",
    )
    parser.add_argument(
        "--total", type=int, help="sample size (default: from --target-se, Olofsson et al. 2014 eq. 13)"
    )
    parser.add_argument(
        "--target-se",
        type=float,
        default=DEFAULT_TARGET_SE,
        help=f"target standard error of overall accuracy (default {DEFAULT_TARGET_SE})",
    )
    parser.add_argument(
        "--expected-accuracy",
        type=float,
        default=DEFAULT_EXPECTED_ACCURACY,
        help=f"anticipated user's accuracy of each stratum, for the sample size (default {DEFAULT_EXPECTED_ACCURACY})",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same sample; default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing sample file")


def run(args: argparse.Namespace) -> int:
    labels, probabilities = run_files(args.map)
    request = SampleRequest(
        labels=labels,
        probabilities=probabilities,
        out=args.out,
        strata=args.strata,
        presence_class=args.presence_class,
        strata_layer=args.strata_layer,
        strata_field=args.strata_field,
        allocation=args.allocation,
        minimum=args.minimum,
        total=args.total,
        target_se=args.target_se,
        expected_accuracy=args.expected_accuracy,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    drawn = draw_sample(request, RasterioIO())
    design = drawn.design
    print(f"{sum(design.units)} sample units in {len(design.units)} strata → {drawn.path}")
    for name, cells, units in zip(design.strata_names, design.cells, design.units):
        print(f"  {units:5d} of {cells:7d} cells  {name}")
    print("Label them in QGIS: open the GeoPackage over your imagery and fill the form's Reference tab.")
    return 0

"""The input-identification options shared by ``mosaic predict`` and ``mosaic prepare`` (argparse only here)."""

from __future__ import annotations

import argparse

from ..inference.clouds import DEFAULT_SCL_CLASSES, DEFAULT_THRESHOLD, CloudOptions, parse_scl_classes
from ..inference.inspector import S1_ORDERS, S1_UNITS, S2_OFFSETS, InputOptions


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """``--s2-offset``, ``--s2-scale``, ``--s2-order``, ``--s1-units``, ``--s1-scale``, ``--s1-order``."""
    parser.add_argument(
        "--s2-offset",
        choices=S2_OFFSETS,
        default="auto",
        help="DN offset of the S2 values: auto (default: from the processing baseline in the product name, "
        "MTD_MSIL2A.xml, a STAC/metadata JSON or the GDAL metadata; refused when unclear), 0, or 1000 (baseline "
        "04.00 and later, products since 25 January 2022)",
    )
    parser.add_argument(
        "--s2-scale",
        type=float,
        default=None,
        metavar="Q",
        help="stored S2 value of reflectance 1 (default: auto — a GDAL scale, else 1 for 0–1 float reflectance, "
        "else 10000)",
    )
    parser.add_argument(
        "--s2-order",
        default=None,
        metavar="B02,B03,...",
        help="band order of an S2 stack whose band descriptions do not name its bands",
    )
    parser.add_argument(
        "--s1-units",
        choices=S1_UNITS,
        default="auto",
        help="S1 backscatter units: auto (default: dB; refuses S1 that looks linear), db, linear (power, converted "
        "with 10·log10) or amplitude (20·log10)",
    )
    parser.add_argument(
        "--s1-scale",
        type=float,
        default=None,
        metavar="FACTOR",
        help="stored S1 value × FACTOR = dB (default: a GDAL scale, else 0.01 or 0.1 for integers that hold "
        "dB × 100 or × 10)",
    )
    parser.add_argument(
        "--s1-order",
        choices=S1_ORDERS,
        default="auto",
        metavar="|".join(S1_ORDERS),  # the choices hold commas: "{auto,vv,vh,vh,vv}" would not tell them apart
        help="band order of the S1 input (default auto: band names, else VV,VH checked against the backscatter: VH "
        "lies 5–10 dB below VV over land)",
    )


def input_options(args: argparse.Namespace) -> InputOptions:
    """The :class:`~mosaic.backend.inference.inspector.InputOptions` of parsed arguments (the cloud options where
    the command has them)."""
    cloud = CloudOptions(
        getattr(args, "cloud_mask_kind", "auto"),
        parse_scl_classes(getattr(args, "scl_classes", DEFAULT_SCL_CLASSES)),
        getattr(args, "cloud_threshold", DEFAULT_THRESHOLD),
    )
    return InputOptions(
        s2_offset=args.s2_offset,
        s2_scale=args.s2_scale,
        s2_order=args.s2_order,
        s1_units=args.s1_units,
        s1_scale=args.s1_scale,
        s1_order=args.s1_order,
        cloud=cloud,
    )

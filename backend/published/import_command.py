"""``mosaic import reben PATH... -o MODEL.onnx [--reben-version 0.1.1|0.2.0] [--tune-on DATA] [--overwrite]
[--progress-jsonl]``: published reBEN checkpoints (folders of ``config.json`` + ``model.safetensors``) → one ONNX
model of this project; several folders (S1+S2, S1-only, S2-only) → one model with the fused, S1-only and S2-only
heads."""

from __future__ import annotations

import argparse
import contextlib
import sys

from ..errors import MosaicError
from . import reben
from .events import Events


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    p = sources.add_parser(
        "reben",
        help="published BigEarthNet v2.0 (reBEN) models: folders of config.json + model.safetensors",
        description=__doc__,
    )
    p.add_argument(
        "folders",
        nargs="+",
        metavar="PATH",
        help="folder of one published checkpoint, named after its model id (e.g. resnet50-all-v0.2.0); "
        "give an S1+S2 (all), an S1-only and an S2-only one for a model with three heads",
    )
    p.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="the ONNX model to write")
    p.add_argument(
        "--reben-version",
        choices=reben.VERSIONS,
        help="the version of checkpoints whose folder name carries none (the band order differs between versions)",
    )
    p.add_argument(
        "--tune-on",
        metavar="DATA",
        help="tune the thresholds on the validation split of this dataset (BigEarthNet v2 layout, e.g. from "
        "`mosaic prepare`) and score its test split; default: 0.5",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--catalogue", help="catalogue of published models (default: the bundled one)")
    p.add_argument("--progress-jsonl", action="store_true", help="JSON-lines progress events on stdout")


def run(args: argparse.Namespace) -> int:
    from .importer import ImportRequest, import_reben

    events = Events(sys.stdout if args.progress_jsonl else None)
    request = ImportRequest(
        folders=args.folders,
        output=args.output,
        version=args.reben_version,
        tune_on=args.tune_on,
        overwrite=args.overwrite,
        catalogue=args.catalogue,
    )
    try:
        with contextlib.redirect_stdout(sys.stderr) if args.progress_jsonl else contextlib.nullcontext():
            path = import_reben(request, progress=events)
    except MosaicError as exc:
        events("error", message=str(exc))
        raise
    from ..inference import read_metadata

    meta = read_metadata(path)
    events("done", model=str(path), heads=list(meta.heads), modalities=meta.raw["architecture"]["modalities"])
    if not args.progress_jsonl:
        print(f"{path}: heads {', '.join(meta.heads)}; thresholds {'tuned' if meta.thresholds_tuned else '0.5'}")
    return 0

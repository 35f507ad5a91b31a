"""``mosaic models list [--json]`` and ``mosaic models get NAME... [--cache DIR] [--out DIR] [--no-import]
[--overwrite] [--progress-jsonl]``: the catalogue of published BigEarthNet v2.0 models, and getting them
(download with resume and checks into a cache, import to ONNX, print where the model is)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from ..errors import MosaicError
from .events import Events


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the published models: names, modalities, sizes, published metrics")
    listing.add_argument("--json", action="store_true", help="print the list as JSON (one object per name)")
    get = actions.add_parser("get", help="download published models, import them, print where they are")
    get.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="a checkpoint (resnet50-all-v0.2.0) or a three-head model (resnet50-v0.2.0); see `mosaic models list`",
    )
    get.add_argument("--out", metavar="DIR", help="where the imported models go (default: <cache>/onnx)")
    get.add_argument("--no-import", action="store_true", help="download only (e.g. to start a training from them)")
    get.add_argument("--overwrite", action="store_true", help="import again over an existing model")
    get.add_argument("--progress-jsonl", action="store_true", help="JSON-lines progress events on stdout")
    for p in (listing, get):
        p.add_argument("--cache", metavar="DIR", help="download cache (default: the user's cache folder)")
        p.add_argument("--catalogue", metavar="FILE", help="catalogue of published models (default: the bundled one)")


def run(args: argparse.Namespace) -> int:
    return list_models(args) if args.action == "list" else get(args)


def list_models(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .catalogue import catalogue_rows, load_catalogue
    from .download import default_cache

    table = catalogue_rows(load_catalogue(args.catalogue), Path(args.cache) if args.cache else default_cache())
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    print(f"{'name':34} {'heads':15} {'MB':>6}  published test AP macro / micro (fused)  here")
    for r in table:
        m = r["published_metrics"]["fused"]
        ap = f"{m['ap_macro']:.3f} / {m['ap_micro']:.3f}" if "ap_macro" in m else "not recorded"
        heads = "fused+S1+S2" if len(r["heads"]) == 3 else {"s1s2": "S1+S2", "s1": "S1", "s2": "S2"}[r["modalities"]]
        print(f"{r['name']:34} {heads:15} {r['approx_mb']:6.0f}  {ap:40} {'yes' if r['downloaded'] else ''}")
    print("Licence MIT (BIFOLD, TU Berlin); metrics as published on the model cards (BigEarthNet v2.0 test split).")
    return 0


def get(args: argparse.Namespace) -> int:
    from .getter import GetRequest, get_models

    events = Events(sys.stdout if args.progress_jsonl else None)
    request = GetRequest(
        names=args.names,
        cache=args.cache,
        out=args.out,
        import_models=not args.no_import,
        overwrite=args.overwrite,
        catalogue=args.catalogue,
    )
    try:
        with contextlib.redirect_stdout(sys.stderr) if args.progress_jsonl else contextlib.nullcontext():
            result = get_models(request, events, bar=None if args.progress_jsonl else _tqdm_bar)
    except MosaicError as exc:
        events("error", message=str(exc))
        raise
    events("done", **result)
    if not args.progress_jsonl:
        for name in request.names:
            print(result["models"][name] or " ".join(result["folders"][name].values()))
    return 0


def _tqdm_bar(total: int | None, description: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr)

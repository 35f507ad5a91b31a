"""``mosaic predict``: tiled inference over S2 + S1 rasters with an exported ONNX model, written to files.

Outputs in ``--out``: ``probabilities.tif`` (Float32, one band per class, band description = class name),
``labels.tif`` (UInt32: band 1 top class index, band 2 multi-label bitmask, bit ``c`` = class ``c`` at or above
its threshold), ``confidence.tif`` (max probability), ``tiles.gpkg`` (one polygon per tile run), and a QGIS
``.qml`` style next to each raster. Output cells are ``stride`` pixels of the S2 10 m grid; the grid's origin
is the processed extent's. Everything is written in a temporary folder and moved into place at the end.
"""

from __future__ import annotations

import argparse
import sys

from .errors import InputError
from .inference.s1_units import UNITS

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--s2", nargs="+", required=True, metavar="PATH",
                        help="S2 L2A: one stacked raster in the model's band order, a folder with one file per band, "
                             "or single-band files named like ..._B02.tif (native 10/20/60 m)")  # fmt: skip
    parser.add_argument(
        "--s1",
        nargs="+",
        required=True,
        metavar="PATH",
        help="S1 VV and VH in dB (stacked, folder or files named ..._VV.tif); any CRS or grid",
    )
    parser.add_argument("--s1-units", choices=UNITS, default="auto",
                        help="S1 backscatter units: auto (default: refuse S1 that looks like linear power), db, or "
                             "linear (converted with 10·log10)")  # fmt: skip
    parser.add_argument("--model", required=True, help="ONNX model exported by `mosaic export`")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--stride", type=int, default=None,
                        help="tile step in pixels, 1..patch size (default: the patch size; smaller averages "
                             "overlapping tiles and gives finer output cells)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=16, help="tiles per onnxruntime call (default 16)")
    parser.add_argument("--aoi", default=None,
                        help="vector file of polygons: process their bounding box; pixels outside every polygon are "
                             "nodata")  # fmt: skip
    parser.add_argument(
        "--max-nodata",
        type=float,
        default=0.5,
        help="skip tiles with more than this fraction of nodata pixels (default 0.5)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: all cores)")
    parser.add_argument(
        "--provider", default=None, help="onnxruntime execution provider: cpu, cuda, tensorrt or a full provider name"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--prefetch", action="store_true",
                        help="read the next block in a background thread while onnxruntime runs (helps with many "
                             "cores; slower on 2)")  # fmt: skip


def provider_list(name: str | None) -> list[str] | None:
    """``cuda`` → ``["CUDAExecutionProvider"]``; full names pass through; None → onnxruntime's default (CPU)."""
    if name is None:
        return None
    return [PROVIDERS.get(name.lower(), name)]


def predict(args: argparse.Namespace):
    """Run the prediction described by ``args``; returns ``(RunSummary, list of written paths)``."""
    from tqdm import tqdm

    from .inference import load_model, run_inference
    from .raster_io import PredictionOutputs, RasterioReader

    if args.stride is not None and args.stride < 1:
        raise InputError(f"--stride must be a positive number of pixels, not {args.stride}.")
    model = load_model(args.model, threads=args.threads, providers=provider_list(args.provider))
    meta = model.metadata
    stride = args.stride or meta.patch_size_px
    with RasterioReader(args.s2, args.s1, meta, aoi=args.aoi, s1_units=args.s1_units) as reader:
        outputs = PredictionOutputs(args.out, reader, meta, stride, overwrite=args.overwrite)
        bar = tqdm(total=None, unit="tile", file=sys.stderr, disable=args.no_progress, desc="mosaic predict")

        def progress(p) -> None:
            bar.total = p.total
            bar.update(p.done - bar.n)

        try:
            summary = run_inference(model, reader, outputs.sinks, stride=stride, batch_size=args.batch_size,
                                    max_nodata_fraction=args.max_nodata, progress=progress,
                                    prefetch=args.prefetch)  # fmt: skip
            bar.close()
            paths = outputs.commit()
        except BaseException:
            bar.close()
            outputs.abort()
            raise
    return summary, paths


def run(args: argparse.Namespace) -> int:
    summary, paths = predict(args)
    print(
        f"{summary.tiles_run} tiles predicted, {summary.tiles_skipped} skipped as nodata, "
        f"{summary.seconds:.1f} s; wrote {', '.join(p.name for p in paths)} in {paths[0].parent}"
    )
    return 0

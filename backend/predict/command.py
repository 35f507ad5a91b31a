"""``mosaic predict``: tiled inference over S2 + S1 rasters with an exported ONNX model, written to files.

One scene (``--s2``/``--s1``): :func:`~.prediction.predict`; many (``--scenes FILE``):
:func:`~.scene_runner.run_scenes`. The outputs are described in :mod:`.prediction`.
"""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..inference.clouds import CLOUD_KINDS, DEFAULT_CLOUD_FRACTION, DEFAULT_SCL_CLASSES, DEFAULT_THRESHOLD
from ..inputs.options import add_input_arguments, input_options
from .prediction import predict
from .request import PredictRequest
from .scene_runner import ScenesRun, run_scenes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--s2",
        nargs="+",
        default=None,
        metavar="PATH",
        help="S2 L2A: one stacked raster in the model's band order, a folder with one file per band, or "
        "single-band files named like ..._B02.tif (native 10/20/60 m); alone (without --s1): every tile from the "
        "model's S2-only head",
    )
    parser.add_argument(
        "--s1",
        nargs="+",
        default=None,
        metavar="PATH",
        help="S1 VV and VH in dB (stacked, folder or files named ..._VV.tif); any CRS or grid; alone (without --s2): "
        "every tile from the model's S1-only head, on the S1 grid",
    )
    add_input_arguments(parser)
    parser.add_argument("--model", required=True, help="ONNX model exported by `mosaic export`")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--stride",
        type=int,
        default=None,
        help="tile step in pixels, 1..patch size (default: the patch size; smaller averages overlapping tiles and "
        "gives finer output cells)",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="tiles per onnxruntime call (default 16)")
    parser.add_argument(
        "--aoi",
        default=None,
        help="vector file of polygons: process their bounding box; pixels outside every polygon are nodata",
    )
    parser.add_argument(
        "--max-nodata",
        type=float,
        default=0.5,
        help="skip tiles with more than this fraction of nodata pixels (default 0.5)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: all cores)")
    parser.add_argument(
        "--provider",
        default=None,
        help="onnxruntime execution provider: auto (the GPU when this onnxruntime has one), cpu, cuda, tensorrt or a "
        "full provider name; one this onnxruntime lacks falls back to the CPU with a note (default: cpu)",
    )
    add_cloud_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--prefetch",
        action="store_true",
        help="read the next block in a background thread while onnxruntime runs (helps with many cores; slower on 2)",
    )
    add_scenes_arguments(parser)


def add_cloud_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of cloud-aware classification."""
    parser.add_argument(
        "--cloud-mask",
        default=None,
        metavar="PATH",
        help="cloud layer (any CRS or grid): a Sentinel-2 SCL layer, a binary mask or a cloud probability; tiles "
        "whose cloudy-or-S2-nodata fraction exceeds --cloud-fraction go to the model's S1-only head (models with "
        "per-modality heads only)",
    )
    parser.add_argument(
        "--cloud-mask-kind",
        choices=CLOUD_KINDS,
        default="auto",
        help="what --cloud-mask holds: scl, mask (non-zero = cloudy) or probability (0–1 or 0–100); default auto: "
        "from its values and name",
    )
    parser.add_argument(
        "--scl-classes",
        default=",".join(map(str, DEFAULT_SCL_CLASSES)),
        metavar="C,C,...",
        help="SCL classes that count as cloudy (default 3,8,9,10: cloud shadows, cloud medium and high probability, "
        "thin cirrus; add 11 for snow or ice)",
    )
    parser.add_argument(
        "--cloud-threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        metavar="P",
        help=f"cloud probability (0–1) at or above which a pixel is cloudy (default {DEFAULT_THRESHOLD:g})",
    )
    parser.add_argument(
        "--cloud-fraction",
        type=float,
        default=DEFAULT_CLOUD_FRACTION,
        metavar="F",
        help=f"a tile whose cloudy or S2-nodata fraction exceeds F goes to the S1-only head (default "
        f"{DEFAULT_CLOUD_FRACTION:g})",
    )


def add_scenes_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mosaic predict`` that only ``--scenes`` runs take."""
    group = parser.add_argument_group("many scenes")
    group.add_argument(
        "--scenes",
        default=None,
        metavar="FILE",
        help="run every scene of FILE instead of --s2/--s1: a CSV (name,s2,s1[,cloud_mask]; several paths per cell "
        "separated by ';', relative to the CSV) or a STAC ItemCollection JSON; writes OUT/<name>/ per scene, "
        "OUT/mosaic/ and OUT/scenes_summary.csv; resumable",
    )
    group.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="with --scenes: Dask LocalCluster worker processes (default: one per core, at most one per scene)",
    )
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --scenes: run on this Dask cluster (e.g. tcp://host:8786) instead of a LocalCluster",
    )
    group.add_argument(
        "--progress-jsonl",
        action="store_true",
        help="with --scenes: one JSON progress event per finished scene on stdout (docs/contracts.md)",
    )


def request_from(args: argparse.Namespace) -> PredictRequest:
    """The :class:`~.request.PredictRequest` of parsed ``mosaic predict`` arguments."""
    return PredictRequest(
        s2=args.s2 or [],
        s1=args.s1 or [],
        model=args.model,
        out=args.out,
        stride=args.stride,
        batch_size=args.batch_size,
        aoi=args.aoi,
        max_nodata=args.max_nodata,
        overwrite=args.overwrite,
        threads=args.threads,
        provider=args.provider,
        cloud_mask=args.cloud_mask,
        cloud_fraction=args.cloud_fraction,
        inputs=input_options(args),
        prefetch=args.prefetch,
        show_progress=not args.no_progress,
    )


def run(args: argparse.Namespace) -> int:
    request = request_from(args)
    if args.scenes:
        return run_scenes(request, ScenesRun(args.scenes, args.workers, args.scheduler, args.progress_jsonl))
    if not args.s2 and not args.s1:
        raise InputError(
            "give the inputs: --s2 and --s1 for one scene (or one of them alone, for the model's S2-only or S1-only "
            "head), or --scenes FILE for many."
        )
    summary, paths = predict(request)
    print(
        f"{summary.tiles_run} tiles predicted, {summary.tiles_skipped} skipped as nodata, "
        f"{summary.seconds:.1f} s on {summary.providers[0]} ({summary.precision}); wrote "
        f"{', '.join(p.name for p in paths)} in {paths[0].parent}"
    )
    return 0

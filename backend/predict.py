"""``mosaic predict``: tiled inference over S2 + S1 rasters with an exported ONNX model, written to files.

Outputs in ``--out``: ``probabilities.tif`` (Float32, one band per class, band description = class name),
``labels.tif`` (UInt32: band 1 top class index, band 2 multi-label bitmask, bit ``c`` = class ``c`` at or above
its threshold, band 3 the head that decided the cell), ``confidence.tif`` (max probability), ``tiles.gpkg`` (one
polygon per tile run), and a QGIS ``.qml`` style next to each raster (``labels_source.qml`` for band 3). With
``--cloud-mask``, tiles S2 cannot see go to the model's S1-only head (see docs/predict.md).
Output cells are ``stride`` pixels of the S2 10 m grid; the grid's origin
is the processed extent's. Everything is written in a temporary folder and moved into place at the end.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import scene_runner
from .errors import InputError
from .inference.clouds import (
    CLOUD_KINDS,
    DEFAULT_CLOUD_FRACTION,
    DEFAULT_SCL_CLASSES,
    DEFAULT_THRESHOLD,
    CloudOptions,
    parse_scl_classes,
    require_s1_head,
)
from .inference.inspector import S1_ORDERS, S1_UNITS, S2_OFFSETS, InputOptions

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--s2",
        nargs="+",
        default=None,
        metavar="PATH",
        help="S2 L2A: one stacked raster in the model's band order, a folder with one file per band, "
        "or single-band files named like ..._B02.tif (native 10/20/60 m)",
    )
    parser.add_argument(
        "--s1",
        nargs="+",
        default=None,
        metavar="PATH",
        help="S1 VV and VH in dB (stacked, folder or files named ..._VV.tif); any CRS or grid",
    )
    add_input_arguments(parser)
    parser.add_argument("--model", required=True, help="ONNX model exported by `mosaic export`")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--stride",
        type=int,
        default=None,
        help="tile step in pixels, 1..patch size (default: the patch size; smaller averages "
        "overlapping tiles and gives finer output cells)",
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
        "--provider", default=None, help="onnxruntime execution provider: cpu, cuda, tensorrt or a full provider name"
    )
    parser.add_argument(
        "--cloud-mask",
        default=None,
        metavar="PATH",
        help="cloud layer (any CRS or grid): a Sentinel-2 SCL layer, a binary mask or a cloud "
        "probability; tiles whose cloudy-or-S2-nodata fraction exceeds --cloud-fraction go to "
        "the model's S1-only head (models with per-modality heads only)",
    )
    parser.add_argument(
        "--cloud-mask-kind",
        choices=CLOUD_KINDS,
        default="auto",
        help="what --cloud-mask holds: scl, mask (non-zero = cloudy) or probability (0–1 or 0–100); "
        "default auto: from its values and name",
    )
    parser.add_argument(
        "--scl-classes",
        default=",".join(map(str, DEFAULT_SCL_CLASSES)),
        metavar="C,C,...",
        help="SCL classes that count as cloudy (default 3,8,9,10: cloud shadows, cloud medium and "
        "high probability, thin cirrus; add 11 for snow or ice)",
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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--prefetch",
        action="store_true",
        help="read the next block in a background thread while onnxruntime runs (helps with many cores; slower on 2)",
    )
    scene_runner.add_arguments(parser)


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The input-identification options shared by ``mosaic predict`` and ``mosaic prepare``."""
    parser.add_argument(
        "--s2-offset",
        choices=S2_OFFSETS,
        default="auto",
        help="DN offset of the S2 values: auto (default: from the processing baseline in the product "
        "name, MTD_MSIL2A.xml, a STAC/metadata JSON or the GDAL metadata; refused when unclear), "
        "0, or 1000 (baseline 04.00 and later, products since 25 January 2022)",
    )
    parser.add_argument(
        "--s2-scale",
        type=float,
        default=None,
        metavar="Q",
        help="stored S2 value of reflectance 1 (default: auto — a GDAL scale, else 1 for 0–1 float "
        "reflectance, else 10000)",
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
        help="S1 backscatter units: auto (default: dB; refuses S1 that looks linear), db, linear "
        "(power, converted with 10·log10) or amplitude (20·log10)",
    )
    parser.add_argument(
        "--s1-scale",
        type=float,
        default=None,
        metavar="FACTOR",
        help="stored S1 value × FACTOR = dB (default: a GDAL scale, else 0.01 or 0.1 for integers "
        "that hold dB × 100 or × 10)",
    )
    parser.add_argument(
        "--s1-order",
        choices=S1_ORDERS,
        default="auto",
        help="band order of the S1 input (default auto: band names, else VV,VH checked against "
        "the backscatter: VH lies 5–10 dB below VV over land)",
    )


def input_options(args: argparse.Namespace) -> InputOptions:
    """The :class:`~mosaic.backend.inference.inspector.InputOptions` of parsed arguments."""
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


def arguments(s2, s1, model, out, **overrides) -> argparse.Namespace:
    """The parsed arguments of ``mosaic predict --s2 S2... --s1 S1... --model MODEL --out OUT --no-progress`` with
    every other option at its command-line default, then ``overrides`` (e.g. ``s2_offset="1000"``)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--s2", *map(str, s2), "--s1", *map(str, s1), "--model", str(model), "--out", str(out), "--no-progress"]
    return argparse.Namespace(**(vars(parser.parse_args(argv)) | overrides))


def provider_list(name: str | None) -> list[str] | None:
    """``cuda`` → ``["CUDAExecutionProvider"]``; full names pass through; None → onnxruntime's default (CPU)."""
    if name is None:
        return None
    return [PROVIDERS.get(name.lower(), name)]


def predict(args: argparse.Namespace):
    """Run the prediction described by ``args``; returns ``(RunSummary, list of written paths)``."""
    from tqdm import tqdm

    from .inference import load_model, run_inference
    from .raster_io import RasterioReader
    from .raster_outputs import PredictionOutputs

    if args.stride is not None and args.stride < 1:
        raise InputError(f"--stride must be a positive number of pixels, not {args.stride}.")
    model = load_model(args.model, threads=args.threads, providers=provider_list(args.provider))
    meta = model.metadata
    stride = args.stride or meta.patch_size_px
    if args.cloud_mask is not None:
        require_s1_head(meta.heads, Path(args.model).name)
    with RasterioReader(
        args.s2, args.s1, meta, aoi=args.aoi, options=input_options(args), cloud_mask=args.cloud_mask
    ) as reader:
        for note in reader.plan.notes:
            print(f"mosaic predict: {note}", file=sys.stderr)
        outputs = PredictionOutputs(
            args.out, reader, meta, stride, overwrite=args.overwrite, model_path=args.model, tags=reader.plan.tags()
        )
        bar = tqdm(total=None, unit="tile", file=sys.stderr, disable=args.no_progress, desc="mosaic predict")

        def progress(p) -> None:
            bar.total = p.total
            bar.update(p.done - bar.n)

        try:
            summary = run_inference(
                model,
                reader,
                outputs.sinks,
                stride=stride,
                batch_size=args.batch_size,
                max_nodata_fraction=args.max_nodata,
                progress=progress,
                prefetch=args.prefetch,
                cloud=reader.cloud,
                cloud_fraction=args.cloud_fraction,
            )
            bar.close()
            paths = outputs.commit()
        except BaseException:
            bar.close()
            outputs.abort()
            raise
    return summary, paths


def run(args: argparse.Namespace) -> int:
    if args.scenes:
        return scene_runner.run_scenes(args, predict)
    if not args.s2 or not args.s1:
        raise InputError("give the inputs: --s2 and --s1 for one scene, or --scenes FILE for many.")
    summary, paths = predict(args)
    print(
        f"{summary.tiles_run} tiles predicted, {summary.tiles_skipped} skipped as nodata, "
        f"{summary.seconds:.1f} s; wrote {', '.join(p.name for p in paths)} in {paths[0].parent}"
    )
    return 0

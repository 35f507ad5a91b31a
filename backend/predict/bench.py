"""``mosaic bench predict``: tiled inference efficiency on the real T33UUP mosaic and a 6 × 6 repeat of it.

Throughput: end-to-end ``run_inference`` (rasterio reads, tiling, normalisation, onnxruntime, averaging, all four
outputs written) against onnxruntime alone on batches of the same size and count, made of the mosaic's real
tiles already in memory; ratio = end-to-end tiles/s ÷ onnxruntime-alone tiles/s. Routes are interleaved in each
repeat and medians reported.

Precisions (``--compare MODEL_fp16.onnx MODEL_int8.onnx``, files of ``mosaic export --precision``): the
end-to-end route (no prefetch) and onnxruntime alone for ``--model`` (fp32) and each copy, interleaved in each
repeat on the same tiles and prepared inputs; medians, tiles/s and ratios to fp32, and each file's recorded test
AP macro next to the fp32 graph's.

Memory: ``mosaic predict`` on the mosaic (1×) and on VRTs repeating every band file 6 × 6 (36× the area), each
in its own subprocess; peak RSS is sampled with psutil every 10 ms (children included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import numpy as np

if TYPE_CHECKING:
    from ..inference import OnnxModel, RunSummary

MOSAIC_DIR = "bigearthnet-v2-t33uup-mosaic"


def default_data_dir() -> Path:
    """``$MOSAIC_SHARED_DATA`` or ``shared/data`` beside the repository."""
    return Path(os.environ.get("MOSAIC_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help="ONNX model exported by `mosaic export` (default: an untrained "
        "MoSAiC network with --backbone, exported for the run; speed does not depend on weights)",
    )
    parser.add_argument(
        "--backbone", default="resnet50", help="timm backbone of the untrained network (default resnet50)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="shared data folder (default: $MOSAIC_SHARED_DATA or shared/data beside the repository)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="repeats per route (medians reported)")
    parser.add_argument("--tile-factor", type=int, default=6, help="VRT repeats per axis (6 → 36× the area)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--stride", type=int, default=None, help="tile stride (default: the patch size)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument(
        "--provider", default=None, help="onnxruntime execution provider: auto, cpu, cuda or a full name"
    )
    parser.add_argument("--skip-memory", action="store_true", help="throughput only")
    parser.add_argument(
        "--compare",
        nargs="+",
        default=[],
        metavar="MODEL",
        help="fp16 / int8 copies of --model (`mosaic export --precision`): time them against it "
        "in the same run instead of the prefetch comparison",
    )


def repeat_vrt(src_path: Path, dst_path: Path, factor: int) -> Path:
    """A VRT holding ``factor × factor`` copies of ``src_path`` side by side (same origin and pixel size)."""
    import rasterio

    with rasterio.open(src_path) as src:
        w, h, dtype = src.width, src.height, src.dtypes[0]
        gt = ", ".join(repr(v) for v in src.transform.to_gdal())
        nodata = src.nodata
        crs = escape(src.crs.to_wkt())
    vrt_type = {"uint16": "UInt16", "float32": "Float32"}[dtype]
    sources = "".join(
        f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(src_path))}</SourceFilename>'
        f'<SourceBand>1</SourceBand><SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
        f'<DstRect xOff="{i * w}" yOff="{j * h}" xSize="{w}" ySize="{h}"/></SimpleSource>'
        for j in range(factor)
        for i in range(factor)
    )
    nd = (
        f"<NoDataValue>{'nan' if nodata is not None and np.isnan(nodata) else nodata}</NoDataValue>"
        if nodata is not None
        else ""
    )
    dst_path.write_text(
        f'<VRTDataset rasterXSize="{w * factor}" rasterYSize="{h * factor}"><SRS>{crs}</SRS>'
        f'<GeoTransform>{gt}</GeoTransform><VRTRasterBand dataType="{vrt_type}" band="1">{nd}{sources}'
        "</VRTRasterBand></VRTDataset>",
        encoding="utf-8",
    )
    return dst_path


def _inputs(folder: Path) -> tuple[list[Path], list[Path]]:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".tif", ".vrt"))
    return [p for p in files if p.name.startswith("S2")], [p for p in files if p.name.startswith("S1")]


Route = Callable[[], "RunSummary"]  #: one whole run (open inputs, infer, write and commit outputs)


def headless_route(model: OnnxModel, folder: Path, stride: int, batch_size: int, prefetch: bool) -> Route:
    """What ``mosaic predict`` runs on the band files of ``folder``: rasterio reads → engine → all four outputs."""
    from ..inference import run_inference
    from .reader import RasterioReader
    from .writer import PredictionOutputs

    s2_files, s1_files = _inputs(folder)

    def route() -> RunSummary:
        with tempfile.TemporaryDirectory() as tmp, RasterioReader(s2_files, s1_files, model.metadata) as reader:
            outputs = PredictionOutputs(tmp, reader, model.metadata, stride)
            summary = run_inference(
                model, reader, outputs.sinks, stride=stride, batch_size=batch_size, prefetch=prefetch
            )
            outputs.commit()
        return summary

    return route


def real_tiles(model: OnnxModel, folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(s2, s1) tiles of the first 4 × 2 patches of the rasters in ``folder`` that hold data (physical values)."""
    from ..inference import Window
    from .reader import RasterioReader

    meta = model.metadata
    s2_files, s1_files = _inputs(folder)
    with RasterioReader(s2_files, s1_files, meta) as reader:
        p = meta.patch_size_px
        s2, s1 = reader.read(Window(0, 0, 4 * p, 2 * p))
    return [
        (s2[:, r : r + p, c : c + p], s1[:, r : r + p, c : c + p])
        for r in range(0, 4 * p, p)
        for c in range(0, 2 * p, p)
        if not np.isnan(s2[:, r : r + p, c : c + p]).all()
    ]


def prepared_batches(model: OnnxModel, tiles: list, n_tiles: int, batch_size: int) -> list:
    """``n_tiles`` graph inputs cycled from ``tiles``, prepared by the engine, in batches of ``batch_size``."""
    meta = model.metadata
    prepared = []
    for start in range(0, n_tiles, batch_size):
        b = range(start, min(start + batch_size, n_tiles))
        x2 = model.prepare(np.stack([tiles[i % len(tiles)][0] for i in b]), meta.s2)
        x1 = model.prepare(np.stack([tiles[i % len(tiles)][1] for i in b]), meta.s1)
        prepared.append((x2, x1))
    return prepared


def throughput(model: OnnxModel, folder: Path, routes: dict[str, Route], repeat: int, batch_size: int) -> dict:
    """Median wall and CPU seconds of each of ``routes`` and of onnxruntime alone on as many real tiles of
    ``folder`` in batches of ``batch_size``; routes are interleaved in each of the ``repeat`` rounds."""
    tiles = real_tiles(model, folder)  # real tiles for the onnxruntime-alone route
    names = [*routes, "onnxruntime alone"]
    times: dict[str, list[float]] = {k: [] for k in names}
    inside: dict[str, list[float]] = {k: [] for k in names}  # share of the route's time inside session.run
    cpu: dict[str, list[float]] = {k: [] for k in names}  # process CPU seconds (all threads): robust on a shared VM
    n_tiles = 0
    for _ in range(repeat):
        for name, route in routes.items():
            t0, c0 = time.perf_counter(), time.process_time()
            summary = route()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            inside[name].append(summary.model_seconds / times[name][-1])
            n_tiles = summary.tiles_run
        prepared = prepared_batches(model, tiles, n_tiles, batch_size)
        t0, c0 = time.perf_counter(), time.process_time()
        for x2, x1 in prepared:
            model.run(x2, x1)
        times["onnxruntime alone"].append(time.perf_counter() - t0)
        cpu["onnxruntime alone"].append(time.process_time() - c0)
        inside["onnxruntime alone"].append(1.0)
    return {
        "tiles": n_tiles,
        "medians": {k: statistics.median(v) for k, v in times.items()},
        "inside": {k: statistics.median(v) for k, v in inside.items()},
        "cpu": {k: statistics.median(v) for k, v in cpu.items()},
        "providers": model.providers,
    }


def precision_throughput(models: dict[str, OnnxModel], folder: Path, stride: int, repeat: int, batch_size: int) -> dict:
    """Median wall and process CPU seconds of the end-to-end route and of onnxruntime alone for each of ``models``
    (by precision, fp32 first) on the same real tiles of ``folder`` and prepared inputs, interleaved in each round."""
    fp32 = models["fp32"]
    tiles = real_tiles(fp32, folder)
    routes = {name: headless_route(m, folder, stride, batch_size, prefetch=False) for name, m in models.items()}
    times: dict[tuple[str, str, str], list[float]] = {}  # (precision, route, "wall" | "cpu") → seconds per round

    def timed(name: str, route: str, work: Callable[[], object]) -> object:
        t0, c0 = time.perf_counter(), time.process_time()
        result = work()
        times.setdefault((name, route, "wall"), []).append(time.perf_counter() - t0)
        times.setdefault((name, route, "cpu"), []).append(time.process_time() - c0)
        return result

    n_tiles = 0
    for _ in range(repeat):
        for name, route in routes.items():
            n_tiles = timed(name, "end-to-end", route).tiles_run
        prepared = prepared_batches(fp32, tiles, n_tiles, batch_size)
        for name, model in models.items():
            timed(name, "onnxruntime alone", lambda m=model, b=prepared: [m.run(x2, x1) for x2, x1 in b])
    return {"tiles": n_tiles, "medians": {k: statistics.median(v) for k, v in times.items()}, "models": models}


def precision_table(t: dict) -> str:
    """The Markdown table of :func:`precision_throughput`: per route tiles/s (wall), its ratio to fp32 and the
    ratio of CPU seconds (fp32 ÷ this file: steadier on a shared VM), file size, and each file's recorded test AP
    macro next to the fp32 graph's on the same patches."""
    med, n = t["medians"], t["tiles"]
    lines = [
        "| precision | file MB | onnxruntime alone tiles/s | × fp32 (wall) | × fp32 (CPU) | end-to-end tiles/s "
        "| × fp32 (wall) | × fp32 (CPU) | test AP macro (this file / fp32 graph) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, model in t["models"].items():
        cells = []
        for route in ("onnxruntime alone", "end-to-end"):
            wall, cpu = med[(name, route, "wall")], med[(name, route, "cpu")]
            cells += [
                f"{n / wall:.1f}",
                f"{med[('fp32', route, 'wall')] / wall:.2f}",
                f"{med[('fp32', route, 'cpu')] / cpu:.2f}",
            ]
        aps = model.metadata.precision_metrics.get("test/ap_macro")
        ap = f"{aps[0]:.4f} / {aps[1]:.4f}" if aps else "–"
        lines.append(f"| {name} | {model.path.stat().st_size / 1e6:.1f} | {' | '.join(cells)} | {ap} |")
    return "\n".join(lines)


def throughput_table(t: dict) -> str:
    """The Markdown table of :func:`throughput`'s result; ratios are against onnxruntime alone."""
    med, ort_cpu = t["medians"], t["cpu"]["onnxruntime alone"]
    ort_rate = t["tiles"] / med["onnxruntime alone"]
    lines = [
        "| route | wall s | tiles/s | vs onnxruntime alone | time inside session.run | CPU s "
        "| CPU vs onnxruntime alone |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, sec in med.items():
        rate, c = t["tiles"] / sec, t["cpu"][name]
        lines.append(
            f"| {name} | {sec:.2f} | {rate:.1f} | {rate / ort_rate:.2f} | {t['inside'][name]:.0%} | {c:.1f} | "
            f"{ort_cpu / c:.2f} |"
        )
    return "\n".join(lines)


def peak_rss(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; (peak RSS in MiB of it and its children, seconds), sampled with psutil every 10 ms."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603 - our own command
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        time.sleep(0.01)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-500:]}")
    return peak / 2**20, time.perf_counter() - t0


def memory(args: argparse.Namespace, small: Path, big: Path, command: Callable[[Path, str], list[str]]) -> dict:
    """Median peak RSS (MiB) of ``command(folder, out_dir)`` run in its own process on the mosaic (1×) and on the
    repeat; the batch, thread, provider and stride options of ``args`` are appended to it."""
    peaks: dict[str, list[float]] = {"1x": [], f"{args.tile_factor**2}x": []}
    for _ in range(args.repeat):
        for name, folder in zip(peaks, (small, big)):
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [*command(folder, tmp), "--batch-size", str(args.batch_size)]
                cmd += ["--threads", str(args.threads)] if args.threads else []
                cmd += ["--provider", args.provider] if args.provider else []
                cmd += ["--stride", str(args.stride)] if args.stride else []
                peaks[name].append(peak_rss(cmd)[0])
    return {k: statistics.median(v) for k, v in peaks.items()}


def _predict_command(model: str) -> Callable[[Path, str], list[str]]:
    mosaic_cmd = str(Path(sys.executable).parent / "mosaic")

    def command(folder: Path, out: str) -> list[str]:
        s2, s1 = _inputs(folder)
        return [
            mosaic_cmd,
            "predict",
            "--s2",
            *map(str, s2),
            "--s1",
            *map(str, s1),
            "--model",
            model,
            "--out",
            out,
            "--overwrite",
            "--no-progress",
        ]

    return command


def export_untrained(backbone: str, path: Path) -> Path:
    """Export an untrained S1 + S2 MoSAiC network (19 BigEarthNet classes) with ``backbone`` encoders to ``path``."""
    from ..data.bands import S1_BANDS, band_stats, s2_bands
    from ..data.classes import BEN19_CLASSES
    from ..export.metadata import build_metadata
    from ..export.onnx_file import export_onnx
    from ..models.network import InferenceModel, MosaicNet

    (m2, s2), (m1, s1) = band_stats(s2_bands(), "nearest"), band_stats(S1_BANDS, "nearest")
    net = MosaicNet("s1s2", backbone, m2, s2, m1, s1, n_classes=len(BEN19_CLASSES))
    parts = {
        "class_names": list(BEN19_CLASSES),
        "strategy": "untrained (benchmark)",
        "training": {"dataset": "none", "licence": "none"},
    }
    return export_onnx(InferenceModel(net), build_metadata(parts), path)


def prepare(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path]:
    """The mosaic folder and, in ``tmp``, its ``--tile-factor``² repeat VRTs; exports the untrained model into
    ``tmp`` when ``--model`` is not given (``args.model`` is set to it)."""
    from ..errors import InputError

    small = (args.data or default_data_dir()) / MOSAIC_DIR
    if not small.is_dir():
        raise InputError(f"{small} not found; pass --data with the shared data folder.")
    if args.model is None:
        args.model = str(export_untrained(args.backbone, tmp / f"untrained_{args.backbone}.onnx"))
    big = tmp / "repeat"
    big.mkdir()
    for f in sorted(small.glob("*.tif")):
        repeat_vrt(f, big / f.with_suffix(".vrt").name, args.tile_factor)
    return small, big


def load(args: argparse.Namespace, path: str | None = None) -> OnnxModel:
    """``--model`` (or ``path``) with the benchmark's ``--threads`` and ``--provider``."""
    from ..inference import load_model

    return load_model(path or args.model, threads=args.threads, providers=args.provider)


def load_precisions(args: argparse.Namespace) -> dict[str, OnnxModel]:
    """``--model`` (fp32) and the ``--compare`` files by precision; :class:`InputError` unless they are copies of
    one model (same classes and inputs) at different precisions."""
    from ..errors import InputError

    models = [load(args, path) for path in [args.model, *args.compare]]
    by_precision = {m.metadata.precision: m for m in models}
    if models[0].metadata.precision != "fp32" or len(by_precision) != len(models):
        raise InputError(
            "--model must be the fp32 file and each --compare file another precision of it "
            "(`mosaic export --precision fp16|int8`)."
        )
    ref = models[0].metadata
    for m in models[1:]:
        if (m.metadata.class_names, m.metadata.s2, m.metadata.s1) != (ref.class_names, ref.s2, ref.s1):
            raise InputError(f"{m.path.name} is not a copy of {models[0].path.name}: classes or inputs differ.")
    return by_precision


def report(args: argparse.Namespace, t: dict, stride: int) -> str:
    """The run's settings and :func:`throughput_table`."""
    return (
        f"model: {Path(args.model).name}; machine: {os.cpu_count()} CPU(s); providers {', '.join(t['providers'])}; "
        f"batch {args.batch_size}; stride {stride}; threads {args.threads or 'default'}\n"
        f"raster: T33UUP mosaic repeated {args.tile_factor}x{args.tile_factor} (VRT), {t['tiles']} tiles run; "
        f"medians of {args.repeat}\n{throughput_table(t)}"
    )


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        small, big = prepare(args, Path(tmp))
        model = load(args)
        stride = args.stride or model.metadata.patch_size_px
        if args.compare:
            t = precision_throughput(load_precisions(args), big, stride, args.repeat, args.batch_size)
            print(
                f"machine: {os.cpu_count()} CPU(s); providers {', '.join(model.providers)}; batch "
                f"{args.batch_size}; stride {stride}; threads {args.threads or 'default'}\nraster: T33UUP mosaic "
                f"repeated {args.tile_factor}x{args.tile_factor} (VRT), {t['tiles']} tiles run; medians of "
                f"{args.repeat}\n{precision_table(t)}"
            )
        else:
            routes = {
                name: headless_route(model, big, stride, args.batch_size, prefetch)
                for name, prefetch in (("end-to-end", False), ("end-to-end, prefetch", True))
            }
            print(report(args, throughput(model, big, routes, args.repeat, args.batch_size), stride))
        if not args.skip_memory:
            mem = memory(args, small, big, _predict_command(args.model))
            (n1, m1), (n2, m2) = mem.items()
            print(f"\n| raster | peak RSS (MiB) |\n|---|---|\n| mosaic {n1} | {m1:.0f} |\n| repeated {n2} | {m2:.0f} |")
            print(f"peak RSS ratio {n2}/{n1}: {m2 / m1:.2f}")
    return 0

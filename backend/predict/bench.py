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
from dataclasses import dataclass
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
        "--whole-tile",
        nargs="+",
        default=[],
        metavar="STRIDE[:ROWS]",
        help="time and peak memory of `mosaic predict` on a 10,980 x 10,980 px Sentinel-2 tile made of repeats of the "
        "mosaic (VRTs), at each STRIDE, for --model and every --compare file; STRIDE:ROWS measures strips of ROWS/2 "
        "and ROWS rows as wide as the tile and extrapolates linearly in tiles (e.g. 120 30:960)",
    )
    parser.add_argument(
        "--writer",
        nargs="+",
        type=int,
        default=[],
        metavar="STRIDE",
        help="seconds and work-file size of writing a whole Sentinel-2 tile's rasters at each STRIDE (the real "
        "writer, a smooth synthetic probability field; no inference)",
    )
    parser.add_argument(
        "--steady-state",
        action="store_true",
        help="marginal time per tile between the --tile-factor repeat and one twice as wide and tall (4x the tiles), "
        "end to end against onnxruntime alone: fixed costs (opening, inspecting, COG conversion) cancel out",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        default=[],
        metavar="MODEL",
        help="fp16 / int8 copies of --model (`mosaic export --precision`): time them against it "
        "in the same run instead of the prefetch comparison",
    )


def repeat_vrt(src_path: Path, dst_path: Path, factor: int, size: tuple[int, int] | None = None) -> Path:
    """A VRT holding ``factor × factor`` copies of ``src_path`` side by side (same origin and pixel size), or, with
    ``size`` (width, height in its pixels), as many copies as cover that size, cut to it."""
    import rasterio

    with rasterio.open(src_path) as src:
        w, h, dtype = src.width, src.height, src.dtypes[0]
        gt = ", ".join(repr(v) for v in src.transform.to_gdal())
        nodata = src.nodata
        crs = escape(src.crs.to_wkt())
    width, height = size or (w * factor, h * factor)
    vrt_type = {"uint16": "UInt16", "float32": "Float32"}[dtype]
    sources = "".join(
        f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(src_path))}</SourceFilename>'
        f'<SourceBand>1</SourceBand><SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
        f'<DstRect xOff="{i * w}" yOff="{j * h}" xSize="{w}" ySize="{h}"/></SimpleSource>'
        for j in range(-(-height // h))
        for i in range(-(-width // w))
    )
    nd = (
        f"<NoDataValue>{'nan' if nodata is not None and np.isnan(nodata) else nodata}</NoDataValue>"
        if nodata is not None
        else ""
    )
    dst_path.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{crs}</SRS>'
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


def steady_state(
    models: dict[str, OnnxModel], folders: dict[int, Path], stride: int, repeat: int, batch_size: int
) -> dict:
    """Steady-state efficiency of each of ``models`` (by name): per round, the end-to-end route (what ``mosaic
    predict`` runs once the model is loaded) on the small and the large repeat in ``folders`` (tile factor → folder)
    and onnxruntime alone on as many of the same real tiles, all interleaved; the marginal time per tile of a route
    is ``(t_large − t_small) / (n_large − n_small)`` and the round's efficiency ``marginal onnxruntime alone ÷
    marginal end-to-end``. Medians over the ``repeat`` rounds, of the efficiencies and of each timing."""
    (small, f_small), (large, f_large) = sorted(folders.items())
    rows: dict[str, dict[str, list[float]]] = {}
    counts: dict[int, int] = {}
    for _ in range(repeat):
        for name, model in models.items():
            tiles = real_tiles(model, f_small)
            times: dict[tuple[str, int], float] = {}
            for factor, folder in ((small, f_small), (large, f_large)):
                route = headless_route(model, folder, stride, batch_size, prefetch=False)
                t0 = time.perf_counter()
                counts[factor] = route().tiles_run
                times[("end-to-end", factor)] = time.perf_counter() - t0
                prepared = prepared_batches(model, tiles, counts[factor], batch_size)
                t0 = time.perf_counter()
                for x2, x1 in prepared:
                    model.run(x2, x1)
                times[("onnxruntime alone", factor)] = time.perf_counter() - t0
            extra = counts[large] - counts[small]
            marginal = {r: (times[(r, large)] - times[(r, small)]) / extra for r in ("end-to-end", "onnxruntime alone")}
            row = rows.setdefault(name, {})
            for key, value in {
                **{
                    f"{r} {f}x{f} s": times[(r, f)] for r in ("end-to-end", "onnxruntime alone") for f in (small, large)
                },
                "end-to-end ms/tile": 1000 * marginal["end-to-end"],
                "onnxruntime alone ms/tile": 1000 * marginal["onnxruntime alone"],
                "efficiency": marginal["onnxruntime alone"] / marginal["end-to-end"],
            }.items():
                row.setdefault(key, []).append(value)
    return {
        "tiles": counts,
        "factors": (small, large),
        "medians": {n: {k: statistics.median(v) for k, v in row.items()} for n, row in rows.items()},
        "rounds": {n: row["efficiency"] for n, row in rows.items()},
    }


def steady_state_table(t: dict) -> str:
    """The Markdown table of :func:`steady_state`."""
    small, large = t["factors"]
    lines = [
        f"| model | end-to-end {small}x{small} s | end-to-end {large}x{large} s | onnxruntime alone {small}x{small} s "
        f"| onnxruntime alone {large}x{large} s | marginal end-to-end ms/tile | marginal onnxruntime alone ms/tile "
        "| steady-state efficiency (median) | each round |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in t["medians"].items():
        rounds = ", ".join(f"{e:.2f}" for e in t["rounds"][name])
        lines.append(
            f"| {name} | {m[f'end-to-end {small}x{small} s']:.2f} | {m[f'end-to-end {large}x{large} s']:.2f} | "
            f"{m[f'onnxruntime alone {small}x{small} s']:.2f} | {m[f'onnxruntime alone {large}x{large} s']:.2f} | "
            f"{m['end-to-end ms/tile']:.2f} | {m['onnxruntime alone ms/tile']:.2f} | **{m['efficiency']:.2f}** | "
            f"{rounds} |"
        )
    return "\n".join(lines)


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


TILE_PX = 10_980  #: a Sentinel-2 tile: 109.8 km at 10 m


def tile_folder(mosaic: Path, folder: Path, rows: int = TILE_PX) -> Path:
    """``folder`` holding, for every band file of ``mosaic``, a VRT repeating it over ``TILE_PX`` × ``rows`` px of the
    10 m grid (a whole Sentinel-2 tile, or a strip of one as wide), at the file's own resolution (20 m: half the
    pixels a side, 60 m: a sixth; ``rows`` a multiple of 60)."""
    import rasterio

    folder.mkdir()
    for f in sorted(mosaic.glob("*.tif")):
        with rasterio.open(f) as src:
            step = round(src.res[0] / 10.0)
        repeat_vrt(f, folder / f.with_suffix(".vrt").name, 0, (TILE_PX // step, rows // step))
    return folder


@dataclass(frozen=True)
class TileCase:
    """One whole-tile measurement: ``stride``, on the whole tile (``rows`` None) or on strips of ``rows`` and
    ``rows / 2`` px as wide as the tile, extrapolated (``"30:960"`` → stride 30 on strips of 960 and 480 rows)."""

    stride: int
    rows: int | None = None

    @classmethod
    def parse(cls, text: str) -> TileCase:
        from ..errors import InputError

        stride, _, rows = text.partition(":")
        try:
            case = cls(int(stride), int(rows) if rows else None)
        except ValueError:
            raise InputError(f"--whole-tile takes STRIDE or STRIDE:ROWS (e.g. 120 30:960), not {text!r}.") from None
        if case.rows is not None and (case.rows % 120 or not 0 < case.rows < TILE_PX):
            raise InputError(f"the rows of --whole-tile {text} must be a multiple of 120 below {TILE_PX}.")
        return case


def whole_tile(args: argparse.Namespace, mosaic: Path, tmp: Path) -> list[dict]:
    """``mosaic predict`` (its own process; wall time and peak RSS) with ``--model`` and each ``--compare`` file at
    each ``--whole-tile`` case on a Sentinel-2 tile made of repeats of the mosaic (:func:`tile_folder`). A case on
    strips is extrapolated linearly in tiles: ``t(N) = t_b + (t_b − t_a) / (N_b − N_a) · (N − N_b)`` from the strips
    ``a`` (``rows / 2``) and ``b`` (``rows``), ``N`` the tiles of the grid (nodata tiles included)."""
    from ..inference import TileGrid, read_metadata

    folders: dict[int, Path] = {}
    results = []
    for case in map(TileCase.parse, args.whole_tile):
        strips = [TILE_PX] if case.rows is None else [case.rows // 2, case.rows]
        for rows in strips:
            if rows not in folders:
                folders[rows] = tile_folder(mosaic, tmp / f"tile_{rows}", rows)
        for model in [args.model, *args.compare]:
            meta = read_metadata(model)
            runs = []
            for rows in strips:
                with tempfile.TemporaryDirectory() as out:
                    cmd = [*_predict_command(model)(folders[rows], out), "--stride", str(case.stride)]
                    cmd += ["--threads", str(args.threads)] if args.threads else []
                    peak, seconds = peak_rss(cmd)
                tiles = TileGrid(TILE_PX, rows, meta.patch_size_px, case.stride).n_tiles
                runs.append((rows, tiles, seconds, peak))
            full = TileGrid(TILE_PX, TILE_PX, meta.patch_size_px, case.stride).n_tiles
            (_, n_a, t_a, _), (rows_b, n_b, t_b, _) = runs[0], runs[-1]
            seconds = t_b if case.rows is None else t_b + (t_b - t_a) / (n_b - n_a) * (full - n_b)
            results.append(
                {
                    "model": Path(model).name,
                    "precision": meta.precision,
                    "stride": case.stride,
                    "cells": -(-TILE_PX // case.stride),
                    "tiles": full,
                    "measured": "whole tile" if case.rows is None else f"strips of {rows_b // 2} and {rows_b} rows",
                    "runs": runs,
                    "seconds": seconds,
                    "peak_mib": max(r[3] for r in runs),
                }
            )
    return results


def whole_tile_table(results: list[dict]) -> str:
    """The Markdown table of :func:`whole_tile`."""
    lines = [
        "| model (precision) | stride | output cells | tiles | measured on | one tile: minutes | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        measured = r["measured"] + (
            "" if len(r["runs"]) == 1 else " (" + ", ".join(f"{s:.0f} s" for _, _, s, _ in r["runs"]) + ")"
        )
        lines.append(
            f"| {r['model']} ({r['precision']}) | {r['stride']} px ({r['stride'] * 10} m) | {r['cells']} × "
            f"{r['cells']} | {r['tiles']:,} | {measured} | **{r['seconds'] / 60:.1f}** | {r['peak_mib']:.0f} |"
        )
    return "\n".join(lines)


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
    return small, repeat_folder(small, tmp / "repeat", args.tile_factor)


def repeat_folder(mosaic: Path, folder: Path, factor: int) -> Path:
    """``folder`` holding a ``factor × factor`` repeat VRT of every band file of ``mosaic``."""
    folder.mkdir()
    for f in sorted(mosaic.glob("*.tif")):
        repeat_vrt(f, folder / f.with_suffix(".vrt").name, factor)
    return folder


def load(args: argparse.Namespace, path: str | None = None) -> OnnxModel:
    """``--model`` (or ``path``) with the benchmark's ``--threads`` and ``--provider``."""
    from ..inference import load_model

    return load_model(path or args.model, threads=args.threads, providers=args.provider)


def load_precisions(args: argparse.Namespace) -> dict[str, OnnxModel]:
    """``--model`` (fp32) and the ``--compare`` files by precision; :class:`InputError` unless they are copies of
    one model (same classes and inputs) at different precisions."""
    from ..errors import InputError
    from ..inference.run_info import is_copy_of

    models = [load(args, path) for path in [args.model, *args.compare]]
    by_precision = {m.metadata.precision: m for m in models}
    if models[0].metadata.precision != "fp32" or len(by_precision) != len(models):
        raise InputError(
            "--model must be the fp32 file and each --compare file another precision of it "
            "(`mosaic export --precision fp16|int8`)."
        )
    for m in models[1:]:
        if not is_copy_of(m.metadata, models[0].metadata):
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
        if args.writer:
            from .writer_bench import write_costs, write_costs_table

            grids = {(s, -(-TILE_PX // s)) for s in args.writer}
            costs = {g: write_costs(model.metadata, *g) for g in sorted(grids)}
            print(
                f"machine: {os.cpu_count()} CPU(s); the rasters of a {TILE_PX} px S2 tile\n{write_costs_table(costs)}"
            )
            return 0
        if args.whole_tile:
            results = whole_tile(args, small, Path(tmp))
            print(
                f"machine: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} at the end; threads "
                f"{args.threads or 'default'}; a {TILE_PX} x {TILE_PX} px S2 tile (with S1) of repeats of the T33UUP "
                f"mosaic (VRTs, its empty patch repeated too)\n{whole_tile_table(results)}"
            )
            return 0
        if args.steady_state:
            models = load_precisions(args) if args.compare else {"fp32": model}
            folders = {
                args.tile_factor: big,
                2 * args.tile_factor: repeat_folder(small, Path(tmp) / "twice", 2 * args.tile_factor),
            }
            t = steady_state(models, folders, stride, args.repeat, args.batch_size)
            print(
                f"machine: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} at the end; providers "
                f"{', '.join(model.providers)}; batch {args.batch_size}; stride {stride}; threads "
                f"{args.threads or 'default'}\nraster: T33UUP mosaic repeated (VRT), tiles run "
                f"{', '.join(f'{f}x{f}: {n}' for f, n in t['tiles'].items())}; medians of {args.repeat} interleaved "
                f"rounds\n{steady_state_table(t)}"
            )
        elif args.compare:
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

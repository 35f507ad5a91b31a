"""``mosaic bench data``: training-input throughput (patches/s), GeoTIFF folders vs packed LMDB.

For each route (folders, LMDB) it iterates a ``torch.utils.data.DataLoader`` (batch 32) over ``--patches`` samples
drawn cyclically from the dataset, once in the main process and once with ``--workers`` worker processes
(persistent; a warm-up epoch starts them and warms the page cache before timing). Runs are repeated
``--repeats`` times with the routes interleaved, and the median is reported:
``patches/s = patches / wall seconds`` (batches collated as the trainer gets them);
``per worker = patches/s with N workers / N``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from .bigearthnet import BigEarthNetV2


def _loader(dataset, patches: int, batch_size: int, workers: int) -> DataLoader:
    indices = [i % len(dataset) for i in range(patches)]
    return DataLoader(
        Subset(dataset, indices), batch_size=batch_size, num_workers=workers, persistent_workers=workers > 0
    )


def _epoch_seconds(loader: DataLoader) -> float:
    start = time.perf_counter()
    for _batch in loader:
        pass
    return time.perf_counter() - start


def measure(routes: dict[str, BigEarthNetV2], patches: int, batch_size: int, workers: int, repeats: int) -> dict:
    """Median patches/s per route, for 0 workers and for ``workers`` workers (routes interleaved per repeat)."""
    loaders = {
        (name, w): _loader(ds, patches, batch_size, w) for name, ds in routes.items() for w in sorted({0, workers})
    }
    for loader in loaders.values():  # warm-up: page cache, worker start-up, LMDB environments
        _epoch_seconds(loader)
    times: dict[tuple[str, int], list[float]] = {key: [] for key in loaders}
    for _ in range(repeats):
        for key, loader in loaders.items():
            times[key].append(_epoch_seconds(loader))
    result = {}
    for (name, w), seconds in times.items():
        rate = patches / statistics.median(seconds)
        result.setdefault(name, {})["1 process" if w == 0 else f"{w} workers"] = round(rate, 1)
        if w:
            result[name]["per worker"] = round(rate / w, 1)
    return result


def markdown_table(result: dict, workers: int) -> str:
    """The result as a Markdown table (route | 1 process | per worker)."""
    lines = [f"| route | 1 process | per worker ({workers} workers) |", "|---|---|---|"]
    for name, row in result.items():
        lines.append(f"| {name} | {row['1 process']:,.0f} | {row.get('per worker', float('nan')):,.0f} |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mosaic bench data``."""
    parser.add_argument("root", help="BigEarthNet v2 folder dataset (e.g. shared/data/bigearthnet-v2-configilm-mock)")
    parser.add_argument("--lmdb", default=None, help="its packed LMDB (default: ROOT/BigEarthNet-V2-LMDB)")
    parser.add_argument("--patches", type=int, default=480, help="patches per timed epoch (cycling the dataset)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--s2-bands", default="s2_10", choices=["s2_10", "s2_12"])
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="intra-op threads of the main process (DataLoader workers always use 1)",
    )
    parser.add_argument("--output", "-o", default=None, help="also write the result as JSON here")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print a Markdown table."""
    torch.set_num_threads(args.torch_threads)
    root = Path(args.root)
    lmdb_path = Path(args.lmdb) if args.lmdb else root / "BigEarthNet-V2-LMDB"
    common = {"split": "all", "include_snow_cloud": True, "s2_bands": args.s2_bands}
    routes = {
        "GeoTIFF folders, nearest": BigEarthNetV2(root, **common),
        "LMDB, nearest": BigEarthNetV2(root, lmdb_path=lmdb_path, **common),
        "LMDB, bilinear": BigEarthNetV2(root, lmdb_path=lmdb_path, upsampling="bilinear", **common),
    }
    result = measure(routes, args.patches, args.batch_size, args.workers, args.repeats)
    machine = f"{platform.machine()}, {_cpu_count()} CPUs, main process {torch.get_num_threads()} torch thread(s)"
    print(markdown_table(result, args.workers))
    print(f"\n{args.patches} patches per run, batch {args.batch_size}, median of {args.repeats}; {machine}")
    if args.output:
        Path(args.output).write_text(json.dumps({"machine": machine, "result": result}, indent=2) + "\n")
    return 0


def _cpu_count() -> int:
    """CPUs this process may run on."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":  # ``python -m mosaic.backend.data.bench ROOT`` (same as ``mosaic bench data ROOT``)
    _parser = argparse.ArgumentParser(prog="mosaic bench data", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    raise SystemExit(run(_parser.parse_args()))

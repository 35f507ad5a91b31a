"""``mosaic bench {data,train,predict}``: the benchmark scripts behind ``docs/benchmarks.md``.

Each benchmark lives beside the code it measures and exposes ``add_arguments(parser)`` and ``run(args)``:
``data`` → :mod:`mosaic.backend.data.bench`, ``train`` → :mod:`mosaic.backend.training.bench`,
``predict`` → :mod:`mosaic.backend.predict.bench`.
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = {
    "data": ("data.bench", "training input: patches/s per worker, GeoTIFF folders vs packed LMDB"),
    "train": ("training.bench", "training throughput (samples/s) per strategy, in-memory and real loader"),
    "predict": ("predict.bench", "tiled inference: end-to-end tiles/s vs onnxruntime alone, peak memory"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-parser per benchmark, each with its own options."""
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (module, help_text) in BENCHMARKS.items():
        bench_parser = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"{__package__}.{module}").add_arguments(bench_parser)


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark."""
    module = importlib.import_module(f"{__package__}.{BENCHMARKS[args.benchmark][0]}")
    return int(module.run(args) or 0)

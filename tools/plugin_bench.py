"""Benchmark of the plugin's inference route against ``mosaic predict`` and onnxruntime alone, in one run.

``python tools/plugin_bench.py [options of mosaic bench predict]`` builds the same rasters as ``mosaic bench
predict`` (the real T33UUP mosaic, every band file repeated ``--tile-factor``² times by a VRT) and times, routes
interleaved, medians of ``--repeat``:

* **QGIS plugin**: what the dock runs on those 14 files loaded as QGIS layers — band mapping by name, the QGIS
  window reader, the engine, all four outputs written through GDAL/OGR and committed;
* **mosaic predict**: rasterio reads → the same engine → the same four outputs;
* **onnxruntime alone** on as many real tiles in batches of the same size.

Unless ``--skip-memory``, it also prints the peak RSS of one plugin-route run in its own process on the mosaic
and on the repeat (medians of ``--repeat``). Runs in the project's venv (QGIS and rasterio are importable there).
A developer tool, not part of the plugin: it needs torch and rasterio (through :mod:`mosaic.backend.predict.bench`),
which never enter QGIS, so it stays out of the ``plugin`` package and out of the plugin zip.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from pathlib import Path

from mosaic.backend.predict.bench import add_arguments, headless_route, load, memory, prepare, report, throughput


def plugin_route(model, folder: Path, out_root: Path, stride: int | None, batch_size: int):
    """The dock's classification of the band files of ``folder`` (loaded once as layers) → a route callable."""
    from qgis.core import QgsRasterLayer

    from mosaic.plugin import classify

    files = sorted(p for p in folder.iterdir() if p.suffix in (".tif", ".vrt"))
    layers = [QgsRasterLayer(str(p), p.stem, "gdal") for p in files]
    meta = model.metadata
    runs = itertools.count()

    def route():
        out = out_root / f"plugin_{next(runs)}"
        request = classify.ClassifyRequest(  # the model is already loaded: no path needed; the engine's band
            "",  # resolver finds the S2 and the S1 bands among the folder's files by name
            layers,
            layers,
            classify.default_outputs(out),
            stride=stride,
            batch_size=batch_size,
        )
        reader = classify.prepare(request, meta)
        return classify.execute(request, model, reader, tags=reader.plan.tags()).summary

    return route


def _compare(args: argparse.Namespace, big: Path, out_root: Path) -> tuple[dict, int]:
    """The throughput table's data (QGIS must be initialised); every layer and provider is freed on return."""
    model = load(args)
    stride = args.stride or model.metadata.patch_size_px
    routes = {
        "QGIS plugin": plugin_route(model, big, out_root, stride, args.batch_size),
        "mosaic predict": headless_route(model, big, stride, args.batch_size, prefetch=False),
    }
    return throughput(model, big, routes, args.repeat, args.batch_size), stride


def _classify_command(model: str):
    def command(folder: Path, out: str) -> list[str]:
        return [
            sys.executable,
            str(Path(__file__).resolve()),
            "--classify-once",
            str(folder),
            "--out",
            out,
            "--model",
            model,
        ]

    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--classify-once", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    if args.classify_once is not None:  # one plugin-route run: the process whose peak RSS memory() measures
        plugin_route(load(args), args.classify_once, args.out, args.stride, args.batch_size)()
        app.exitQgis()
        return 0
    with tempfile.TemporaryDirectory(prefix="mosaic_bench_") as tmp:
        small, big = prepare(args, Path(tmp))
        out_root = Path(tmp) / "outputs"
        out_root.mkdir()
        t, stride = _compare(args, big, out_root)
        mem = None if args.skip_memory else memory(args, small, big, _classify_command(args.model))
    app.exitQgis()
    print(report(args, t, stride))
    if mem is not None:
        (n1, m1), (n2, m2) = mem.items()
        print(
            f"\nQGIS plugin route, peak RSS of its own process: {m1:.0f} MiB on the mosaic ({n1}), {m2:.0f} MiB "
            f"on the repeat ({n2}), ratio {m2 / m1:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

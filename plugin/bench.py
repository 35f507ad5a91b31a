"""Benchmark of the plugin's inference route: QGIS provider reads → engine → GDAL sinks, as the dock runs it.

``python -m mosaic.plugin.bench --model M.onnx`` classifies the real T33UUP mosaic (14 band files loaded as
QGIS layers) at 1× and at ``--tile-factor``² × its area (GDAL VRTs repeating every band file, i.e. repeated real
data), writing all four outputs, and prints per run: tiles, wall time, time inside onnxruntime
(``RunSummary.model_seconds``), their ratio (1.0 = no overhead around the model) and the process's peak RSS.
Runs in the project's venv (QGIS is importable there); the model comes from ``mosaic export`` or any
exported ONNX model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

MOSAIC_DIR = "bigearthnet-v2-t33uup-mosaic"


def repeated(src: Path, out_dir: Path, factor: int) -> Path:
    """A VRT of ``factor × factor`` shifted copies of ``src`` (GDAL only: each copy re-anchored, then mosaicked)."""
    from osgeo import gdal

    ds = gdal.Open(str(src))
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    w, h = ds.RasterXSize * dx, ds.RasterYSize * -dy
    copies = []
    for j in range(factor):
        for i in range(factor):
            copy = out_dir / f"{src.stem}_{i}_{j}.vrt"
            bounds = [x0 + i * w, y0 - j * h, x0 + (i + 1) * w, y0 - (j + 1) * h]
            gdal.Translate(str(copy), ds, options=gdal.TranslateOptions(format="VRT", outputBounds=bounds))
            copies.append(str(copy))
    target = out_dir / f"{src.stem}.vrt"
    gdal.BuildVRT(str(target), copies).FlushCache()
    return target


def classify_folder(files: list[Path], model_path: Path, out_dir: Path, stride: int | None, batch: int) -> dict:
    """Load ``files`` as layers, map bands by name, run the dock's classification code; timings as a dict."""
    from qgis.core import QgsRasterLayer

    from . import classify
    from .band_mapping import detect_mapping, missing

    layers = [QgsRasterLayer(str(p), p.stem, "gdal") for p in files]
    request = classify.ClassifyRequest(
        str(model_path), [], [], classify.default_outputs(out_dir), stride=stride, batch_size=batch
    )
    model = classify.load_model(request)
    meta = model.metadata
    s2 = detect_mapping(meta.s2.bands, None, layers)
    s1 = detect_mapping(meta.s1.bands, None, layers)
    if missing(s2) + missing(s1):
        raise SystemExit(f"bands not found: {missing(s2) + missing(s1)}")
    request.s2, request.s1 = list(s2.values()), list(s1.values())
    start = time.perf_counter()
    reader = classify.prepare(request, meta)
    result = classify.execute(request, model, reader)
    wall = time.perf_counter() - start
    summary = result.summary
    return {
        "pixels": f"{reader.grid.width}x{reader.grid.height}",
        "tiles": summary.tiles_total,
        "tiles_run": summary.tiles_run,
        "wall_s": round(wall, 2),
        "onnxruntime_s": round(summary.model_seconds, 2),
        "ratio": round(summary.model_seconds / wall, 3),
        "tiles_per_s": round(summary.tiles_run / wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="exported MoSAiC ONNX model")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MOSAIC_SHARED_DATA", "../shared/data")))
    parser.add_argument("--tile-factor", type=int, default=6, help="VRT repeats per axis for the large run (6)")
    parser.add_argument("--stride", type=int, default=None, help="tile stride (default: the patch size)")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    folder = args.data / MOSAIC_DIR
    files = sorted(folder.glob("*.tif"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="mosaic_bench_") as tmp:
        tmp_dir = Path(tmp)
        for factor in (1, args.tile_factor):
            inputs = files
            if factor > 1:
                vrt_dir = tmp_dir / f"vrt{factor}"
                vrt_dir.mkdir()
                inputs = [repeated(p, vrt_dir, factor) for p in files]
            out = tmp_dir / f"out{factor}"
            row = {"area": f"{factor * factor}x"}
            row.update(classify_folder(inputs, args.model, out, args.stride, args.batch_size))
            row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            rows.append(row)
            print(json.dumps(row), flush=True)
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``mosaic bench predict --writer STRIDE…``: what writing a whole Sentinel-2 tile's rasters costs ``mosaic predict``.

The real :class:`~.writer.GeoTiffSink` of each catalogue raster, under the reader's GDAL settings, takes the row
blocks the engine flushes on a ``cells`` × ``cells`` output grid at ``stride`` (``patch / stride`` output rows a
tile row) of a smooth random probability field. Reported per raster: seconds of block writes, the work file's size
after them, and seconds of the COG copy.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import rasterio

from ..inference import OutputBlock
from ..inference.metadata import ModelMetadata
from ..inference.outputs import GEOTIFF_OPTIONS, output_catalogue
from .reader import GDAL_ENV
from .writer import GeoTiffSink, work_profile


def _row_blocks(meta: ModelMetadata, cells: int, rows: int, seed: int = 0) -> Iterator[OutputBlock]:
    """Blocks of ``rows`` output rows of a ``cells`` × ``cells`` grid: probabilities varying smoothly over cells."""
    rng = np.random.default_rng(seed)
    phase = rng.random((meta.n_classes, 1, 1)) * 2 * np.pi
    cols = np.arange(cells)[None, None, :]
    for r in range(0, cells, rows):
        n = min(rows, cells - r)
        y = np.arange(r, r + n)[None, :, None]
        p = (0.5 + 0.5 * np.sin(phase + cols / 17.0 + y / 23.0)).astype(np.float32)
        yield OutputBlock(r, 0, p, np.ones((n, cells), np.uint8))


def write_costs(
    meta: ModelMetadata, stride: int, cells: int, options: Mapping[str, str] = GEOTIFF_OPTIONS
) -> list[dict]:
    """Per raster of the catalogue: ``{"raster", "write s", "work MiB", "cog s"}`` for a ``cells`` × ``cells`` grid
    at ``stride`` with the work file's creation ``options``."""
    rows = max(1, meta.patch_size_px // stride)
    catalogue = output_catalogue(meta)
    transform = rasterio.Affine(10.0 * stride, 0.0, 300_000.0, 0.0, -10.0 * stride, 5_300_040.0)
    profile = work_profile(cells, cells, "EPSG:32633", transform, options)
    results = []
    with tempfile.TemporaryDirectory() as tmp, rasterio.Env(**GDAL_ENV):
        for product in catalogue.rasters:
            sink = GeoTiffSink(Path(tmp) / product.file_name, product, profile, catalogue.tags)
            t0 = time.perf_counter()
            for block in _row_blocks(meta, cells, rows):
                sink.write_block(block)
            sink.close()
            t1 = time.perf_counter()
            work = sink.blocks.stat().st_size / 2**20
            sink.finish()
            results.append(
                {"raster": product.file_name, "write s": t1 - t0, "work MiB": work, "cog s": time.perf_counter() - t1}
            )
    return results


def write_costs_table(costs: Mapping[tuple[int, int], list[dict]]) -> str:
    """The Markdown table of :func:`write_costs` for each ``(stride, cells)``."""
    lines = [
        "| stride | output cells | raster | block writes s | work file MiB | COG copy s |",
        "|---|---|---|---|---|---|",
    ]
    for (stride, cells), rows in costs.items():
        lines += [
            f"| {stride} | {cells} × {cells} | {r['raster']} | {r['write s']:.2f} | {r['work MiB']:.1f} | "
            f"{r['cog s']:.2f} |"
            for r in rows
        ]
    return "\n".join(lines)

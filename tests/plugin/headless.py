"""The headless side of plugin comparisons: ``mosaic predict`` in a subprocess, description-less input stacks, and
the equality of two probability rasters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from osgeo import gdal


def stack(paths: list[Path], target: Path) -> Path:
    """One multi-band VRT of ``paths`` in this order (20 m bands on the 10 m grid), without band descriptions."""
    gdal.BuildVRT(str(target), [str(p) for p in paths], separate=True, resolution="highest").FlushCache()
    ds = gdal.Open(str(target))
    assert ds.RasterCount == len(paths) and ds.GetGeoTransform()[1] == 10.0
    assert all(ds.GetRasterBand(i + 1).GetDescription() == "" for i in range(ds.RasterCount))
    return target


def predict(s2: list[Path], s1: list[Path], model: Path, out: Path, *options: str, stride: int = 60) -> np.ndarray:
    """``mosaic predict`` at ``stride`` in a subprocess; the probabilities it wrote."""
    cmd = [
        sys.executable,
        "-m",
        "mosaic.backend.cli",
        "predict",
        "--s2",
        *map(str, s2),
        "--s1",
        *map(str, s1),
        "--model",
        str(model),
        "--out",
        str(out),
        "--stride",
        str(stride),
        "--no-progress",
        *options,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return gdal.Open(str(out / "probabilities.tif")).ReadAsArray()


def assert_same(a: np.ndarray, b: np.ndarray, atol: float) -> None:
    """Equal T33UUP probability rasters at stride 60 (``[19, 8, 4]``): the same nodata cells, values within ``atol``."""
    assert a.shape == (19, 8, 4) and np.isfinite(a).any()
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=0, atol=atol)

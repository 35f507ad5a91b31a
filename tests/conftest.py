"""Shared fixtures: where the real data lives (``../shared/data`` beside the checkout, or $MOSAIC_SHARED_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The real Sentinel data folder; fails loudly when it is missing (CI has ../shared beside the clone)."""
    path = Path(os.environ.get("MOSAIC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not (path / "README.md").is_file():
        pytest.fail(f"real test data not found at {path}: set MOSAIC_SHARED_DATA or place shared/ beside the repo")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``shared/data`` (real BigEarthNet, mosaic, SSL4EO, Major-TOM, reBEN metadata)."""
    return shared_data_dir()


@pytest.fixture(scope="session")
def ben_v2(shared_data: Path) -> Path:
    """The 24-pair real BigEarthNet v2 sample (folders + reBEN LMDB + metadata.parquet)."""
    return shared_data / "bigearthnet-v2-configilm-mock"


@pytest.fixture(scope="session")
def t33uup_mosaic(shared_data: Path) -> Path:
    """The 240×480 px co-registered S1+S2 mosaic of 7 reBEN patches."""
    return shared_data / "bigearthnet-v2-t33uup-mosaic"


@pytest.fixture(scope="session")
def t33uup_cloud_mask(t33uup_mosaic: Path, tmp_path_factory) -> Path:
    """A binary cloud mask on the mosaic's grid over the tiles of ``cloud_masks.CLOUDY`` (see that module)."""
    from .cloud_masks import write_cloud_mask

    return write_cloud_mask(t33uup_mosaic, tmp_path_factory.mktemp("clouds") / "cloud_mask.tif")


@pytest.fixture(scope="session")
def t33uup_scl_4326(t33uup_cloud_mask: Path, tmp_path_factory) -> Path:
    """The same clouds as a Sentinel-2 SCL layer (9 cloud, 4 vegetation) in EPSG:4326, named ``…_SCL.tif``."""
    from .cloud_masks import write_scl_4326

    return write_scl_4326(t33uup_cloud_mask, tmp_path_factory.mktemp("scl") / "T33UUP_20170613_SCL.tif")


@pytest.fixture(scope="session")
def t33uup_s1_linear(t33uup_mosaic: Path, tmp_path_factory) -> list[Path]:
    """The mosaic's real S1 VV and VH converted to linear power, ``10 ** (dB / 10)`` (Float32, NaN nodata)."""
    import numpy as np
    import rasterio

    folder = tmp_path_factory.mktemp("s1_linear")
    out = []
    for src_path in sorted(t33uup_mosaic.glob("S1_*.tif")):
        with rasterio.open(src_path) as src:
            db, profile = src.read(1).astype(np.float32), src.profile
        path = folder / src_path.name.replace("_mosaic_", "_mosaic_linear_")
        with rasterio.open(path, "w", **(profile | {"dtype": "float32", "nodata": np.nan})) as dst:
            dst.write(np.power(10.0, db / 10.0).astype(np.float32), 1)
        out.append(path)
    return out

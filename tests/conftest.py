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

"""One version: ``mosaic/backend/version.py``; metadata.txt (read by QGIS and the zip's name) and the installed
distribution (pyproject reads it dynamically) carry the same, and ``mosaic version`` prints it."""

from __future__ import annotations

import configparser
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mosaic
from mosaic.backend.version import __version__

REPO = Path(__file__).resolve().parents[2]


def test_metadata_txt_and_the_installed_package_carry_the_one_version():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "metadata.txt", encoding="utf-8")
    assert parser["general"]["version"] == __version__
    assert metadata.version("mosaic-qgis") == __version__
    assert mosaic.__version__ == __version__
    assert 'dynamic = ["version"]' in (REPO / "pyproject.toml").read_text()


def test_mosaic_version_prints_it():
    done = subprocess.run(
        [sys.executable, "-m", "mosaic.backend.cli", "version"], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.splitlines()[0] == f"mosaic {__version__}"

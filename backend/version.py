"""``mosaic version``: versions of MoSAiC and of the libraries it runs on."""

from __future__ import annotations

import argparse
from importlib import metadata

#: The one version of MoSAiC: pyproject.toml reads it, metadata.txt must match it (tested), the package re-exports it.
__version__ = "0.1.0"

LIBRARIES = ("numpy", "onnxruntime", "torch", "torchvision", "timm", "lightning", "rasterio", "geopandas")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    """Print ``name version`` lines; libraries that are not installed say so."""
    print(f"mosaic {__version__}")
    for name in LIBRARIES:
        try:
            print(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            print(f"{name} not installed")
    return 0

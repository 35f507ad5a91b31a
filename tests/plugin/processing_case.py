"""The real T33UUP band files and the ``mosaic:classify`` parameters over them.

Shared by the plugin tests (the host's QGIS, pytest-qgis) and ``make qgis-matrix`` (``tools/qgis_matrix_check.py``
inside the QGIS 3.40 and 3.44 roots, where neither pytest fixtures nor torch exist): plain Python.
"""

from __future__ import annotations

from pathlib import Path

from mosaic.backend.data.bands import S2_BAND_SETS

ALGORITHMS = (
    "mosaic:classify",
    "mosaic:classify_many",
    "mosaic:prepare",
    "mosaic:train",
    "mosaic:inspect_model",
    "mosaic:sample",
    "mosaic:assess",
)


def band_files(folder: Path) -> dict[str, Path]:
    """Band name → file of the T33UUP mosaic (``..._B02.tif``, ``..._VV.tif``)."""
    return {p.stem.rsplit("_", 1)[-1]: p for p in sorted(folder.glob("*.tif"))}


def classify_parameters(folder: Path, model: Path, out: Path) -> dict:
    """``mosaic:classify`` over the whole mosaic at stride 120 (one cell per BigEarthNet patch), outputs in ``out``."""
    files = band_files(folder)
    return {
        # all 12 S2 band files in reverse order: the algorithm must pick the model's 10 by name
        "S2": [str(files[b]) for b in reversed(["B01", *S2_BAND_SETS["s2_10"], "B09"])],
        "S1": [str(files["VH"]), str(files["VV"])],
        "MODEL": str(model),
        "STRIDE": 120,
        "OUTPUT_PROBABILITIES": str(out / "p.tif"),
        "OUTPUT_LABELS": str(out / "l.tif"),
        "OUTPUT_CONFIDENCE": str(out / "c.tif"),
        "OUTPUT_TILES": str(out / "t.gpkg"),
    }

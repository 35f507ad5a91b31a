"""Running imported published models in tests: import folders, predict the T33UUP mosaic's patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from mosaic.backend.predict.prediction import predict
from mosaic.backend.published.importer import ImportRequest, import_reben

from ..predict.prediction_requests import predict_request
from .conftest import PATCHES, cell_of


def predict_cells(model: Path, mosaic: Path, out: Path, s1: list[Path] | None = None, **options) -> np.ndarray:
    """``[7, 19]`` probabilities of the mosaic's real patches from a stride-120 ``mosaic predict`` run."""
    s1 = s1 if s1 is not None else sorted(mosaic.glob("S1_*.tif"))
    predict(predict_request(sorted(mosaic.glob("S2A_*.tif")), s1, model, out, stride=120, **options))
    with rasterio.open(out / "probabilities.tif") as ds:
        probs = ds.read()
    return np.stack([probs[:, r, c] for r, c in map(cell_of, PATCHES)])


def imported(folders, tmp_path: Path, name: str = "model.onnx", **options) -> Path:
    """``mosaic import reben FOLDERS... -o tmp_path/name`` (in process)."""
    return import_reben(ImportRequest([str(f) for f in folders], str(tmp_path / name), **options))

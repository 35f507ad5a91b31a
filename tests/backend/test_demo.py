"""`make demo`'s main job runs end to end on the bundled real data and leaves complete, correct outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio

from mosaic.backend.data.classes import BEN19_CLASSES


@pytest.mark.slow
def test_demo_writes_complete_outputs(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "mosaic.backend.demo", "--out", str(out), "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "make qgis" in result.stdout
    expected = (
        "model.onnx",
        "metrics.json",
        "report.md",
        "probabilities.tif",
        "labels.tif",
        "confidence.tif",
        "tiles.gpkg",
        "labels.qml",
        "confidence.qml",
        "map_labels.png",
        "map_confidence.png",
        "demo.qgz",
    )
    for name in expected:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["class_names"] == list(BEN19_CLASSES)
    assert 0.0 < metrics["metrics"]["ap_macro"] <= 1.0
    report = (out / "report.md").read_text()
    assert "| ap_macro |" in report and "tsne_fused.png" in report
    for head in ("fused", "s1", "s2"):  # every head on the 6 test patches and on the 6 snow / cloud / shadow ones
        assert f"| {head}, test | 6 | " in report and f"| {head}, snow/cloud/shadow | 6 | " in report
    assert metrics["cloudy_patches"] == 6 and set(metrics["heads"]) == {"s1", "s2"}

    with rasterio.open(out / "labels.tif") as labels, rasterio.open(out / "probabilities.tif") as probs:
        assert labels.crs.to_epsg() == 32633
        assert (labels.width, labels.height) == (2, 4)  # stride 120 on a 240 × 480 px mosaic
        assert labels.transform.c == 344400 and labels.transform.f == 5295600
        p = probs.read()
        assert list(probs.descriptions) == list(BEN19_CLASSES)
    assert np.isnan(p[:, 0, 0]).all()  # cell 37_87 has no data
    valid = p[:, 1:, :]
    assert np.isfinite(valid).all() and ((valid >= 0) & (valid <= 1)).all()

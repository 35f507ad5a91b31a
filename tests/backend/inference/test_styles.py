"""The .qml styles load in real QGIS with the intended renderers, class names and colours.

QGIS runs in a subprocess: these backend tests import torch, and QGIS must not share a process with torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import rasterio

from mosaic.backend.data.classes import BEN19_CLASSES, class_colors
from mosaic.backend.inference import confidence_qml, labels_qml, probabilities_qml
from mosaic.backend.inference.styles import source_qml

QGIS_PROBE = """
import json, sys
from qgis.core import QgsApplication, QgsRasterLayer
app = QgsApplication([], False)
app.initQgis()
out = {}
for raster in sys.argv[1:]:
    layer = QgsRasterLayer(raster, "r")  # loads the default style: the .qml of the same name
    r = layer.renderer()
    row = {"valid": layer.isValid(), "type": r.type(), "band": r.band()}
    if r.type() == "paletted":
        row["classes"] = [[int(c.value), c.label, c.color.name()] for c in r.classes()]
    elif r.type() == "singlebandpseudocolor":
        row["range"] = [r.classificationMin(), r.classificationMax()]
        row["ramp"] = [[i.value, i.color.name()] for i in r.shader().rasterShaderFunction().colorRampItemList()]
    out[raster.rsplit("/", 1)[-1]] = row
print(json.dumps(out))
"""


def test_styles_load_in_qgis_as_default_styles_with_palette_and_ramps(tmp_path):
    colors = class_colors(BEN19_CLASSES)
    styles = {
        "labels": labels_qml(BEN19_CLASSES, colors),
        "confidence": confidence_qml(),
        "probabilities": probabilities_qml(BEN19_CLASSES),
        "labels_source": source_qml(3),
    }
    profile = {
        "driver": "GTiff",
        "width": 4,
        "height": 2,
        "count": 3,
        "dtype": "float32",
        "crs": "EPSG:32633",
        "transform": rasterio.Affine(1200, 0, 344400, 0, -1200, 5295600),
    }
    rasters = []
    for name, text in styles.items():
        with rasterio.open(tmp_path / f"{name}.tif", "w", **profile) as ds:
            ds.write(np.arange(24, dtype=np.float32).reshape(3, 2, 4) / 24)
        (tmp_path / f"{name}.qml").write_text(text, encoding="utf-8")
        rasters.append(str(tmp_path / f"{name}.tif"))
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-c", QGIS_PROBE, *rasters], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    labels = got["labels.tif"]
    assert labels["valid"] and labels["type"] == "paletted" and labels["band"] == 1
    assert labels["classes"] == [[i, n, c] for i, (n, c) in enumerate(zip(BEN19_CLASSES, colors))]
    source = got["labels_source.tif"]  # the source band's style: which head decided each cell
    assert source["type"] == "paletted" and source["band"] == 3
    assert source["classes"] == [
        [1, "fused S1+S2", "#bdbdbd"],
        [2, "S1 only (radar)", "#e6550d"],
        [3, "S2 only (optical)", "#3182bd"],
        [4, "mixed (overlapping tiles)", "#756bb1"],
    ]
    for name in ("confidence.tif", "probabilities.tif"):
        row = got[name]
        assert row["type"] == "singlebandpseudocolor" and row["band"] == 1 and row["range"] == [0, 1]
        assert row["ramp"] == [
            [0.0, "#440154"],
            [0.25, "#3b528b"],
            [0.5, "#21918c"],
            [0.75, "#5ec962"],
            [1.0, "#fde725"],
        ]


def test_class_names_with_markup_characters_are_escaped():
    import xml.etree.ElementTree as ET

    name = "Sand & \"dunes\" <coastal> 'x'"
    entry = ET.fromstring(labels_qml([name], ["#ffffff"]).split("\n", 1)[1]).find(".//paletteEntry")
    assert entry.get("label") == name and entry.get("color") == "#ffffff"

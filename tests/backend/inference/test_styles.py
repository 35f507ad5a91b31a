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

QGIS_PROBE = """
import json, sys
from qgis.core import QgsApplication, QgsRasterLayer
app = QgsApplication([], False)
app.initQgis()
out = {}
for raster, qml in zip(sys.argv[1::2], sys.argv[2::2]):
    layer = QgsRasterLayer(raster, "r")
    ok = layer.loadNamedStyle(qml)[1]
    r = layer.renderer()
    row = {"valid": layer.isValid(), "ok": ok, "type": r.type(), "band": r.band()}
    if r.type() == "paletted":
        row["classes"] = [[int(c.value), c.label, c.color.name()] for c in r.classes()]
    else:
        row["range"] = [r.classificationMin(), r.classificationMax()]
        row["ramp"] = [[i.value, i.color.name()] for i in r.shader().rasterShaderFunction().colorRampItemList()]
    out[qml] = row
print(json.dumps(out))
"""


def test_styles_load_in_qgis_with_palette_and_ramps(tmp_path):
    raster = tmp_path / "r.tif"
    profile = {"driver": "GTiff", "width": 4, "height": 2, "count": 2, "dtype": "float32", "crs": "EPSG:32633",
               "transform": rasterio.Affine(1200, 0, 344400, 0, -1200, 5295600)}  # fmt: skip
    with rasterio.open(raster, "w", **profile) as ds:
        ds.write(np.arange(16, dtype=np.float32).reshape(2, 2, 4) / 16)
    colors = class_colors(BEN19_CLASSES)
    styles = {"labels": labels_qml(BEN19_CLASSES, colors), "confidence": confidence_qml(),
              "probabilities": probabilities_qml(BEN19_CLASSES)}  # fmt: skip
    args = []
    for name, text in styles.items():
        (tmp_path / f"{name}.qml").write_text(text, encoding="utf-8")
        args += [str(raster), str(tmp_path / f"{name}.qml")]
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", QGIS_PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = {k.rsplit("/", 1)[-1]: v for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
    labels = got["labels.qml"]
    assert labels["valid"] and labels["ok"] and labels["type"] == "paletted" and labels["band"] == 1
    assert labels["classes"] == [[i, n, c] for i, (n, c) in enumerate(zip(BEN19_CLASSES, colors))]
    for name in ("confidence.qml", "probabilities.qml"):
        row = got[name]
        assert row["ok"] and row["type"] == "singlebandpseudocolor" and row["band"] == 1 and row["range"] == [0, 1]
        assert row["ramp"] == [[0.0, "#440154"], [0.25, "#3b528b"], [0.5, "#21918c"], [0.75, "#5ec962"],
                               [1.0, "#fde725"]]  # fmt: skip


def test_class_names_with_markup_characters_are_escaped():
    import xml.etree.ElementTree as ET

    name = "Sand & \"dunes\" <coastal> 'x'"
    entry = ET.fromstring(labels_qml([name], ["#ffffff"]).split("\n", 1)[1]).find(".//paletteEntry")
    assert entry.get("label") == name and entry.get("color") == "#ffffff"

"""``mosaic:classify_many`` through processing.run: the backend's ``mosaic predict --scenes`` on real scenes (the
T33UUP mosaic cut in two), its mosaic equal to one ``mosaic:classify`` run over the whole mosaic."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsProcessingException, QgsVectorLayer

from ..backend.predict.scene_data import PARTS, cut_part
from .processing_case import classify_parameters


def _scene_file(folder, t33uup_mosaic, broken: bool = False):
    rows = [("name", "s2", "s1")]
    for name, part_rows in PARTS.items():
        part = cut_part(t33uup_mosaic, part_rows, folder / name)
        rows.append(
            (
                name,
                *(
                    ";".join(f"{name}/{f.name}" for f in sorted(part.glob(f"{prefix}*.tif")))
                    for prefix in ("S2A", "S1_")
                ),
            )
        )
    if broken:
        rows.append(("broken", rows[1][1], "missing_VV.tif"))
    with (folder / "scenes.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return folder / "scenes.csv"


def test_classify_many_mosaic_equals_classify_of_the_whole(processing_ready, test_model, t33uup_mosaic, tmp_path):
    import processing

    scenes = _scene_file(tmp_path / "inputs", t33uup_mosaic)
    out = tmp_path / "out"
    result = processing.run(
        "mosaic:classify_many",
        {
            "SCENES": str(scenes),
            "MODEL": str(test_model),
            "WORKERS": 1,
            "BACKEND_PYTHON": sys.executable,
            "OUTPUT": str(out),
        },
    )
    assert result["OUTPUT"] == str(out)
    with open(result["SUMMARY"], encoding="utf-8") as f:
        assert [(r["name"], r["status"]) for r in csv.DictReader(f)] == [(n, "done") for n in PARTS]
    whole = processing.run("mosaic:classify", classify_parameters(t33uup_mosaic, test_model, tmp_path / "whole"))
    for key in ("PROBABILITIES", "LABELS", "CONFIDENCE"):
        many, one = gdal.Open(result[f"MOSAIC_{key}"]), gdal.Open(whole[f"OUTPUT_{key}"])
        assert many.GetMetadata("IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert many.GetGeoTransform() == one.GetGeoTransform()
        np.testing.assert_allclose(many.ReadAsArray(), one.ReadAsArray(), rtol=0, atol=1e-6, err_msg=key)
    tiles = QgsVectorLayer(result["MOSAIC_TILES"], "tiles", "ogr")
    assert tiles.isValid() and tiles.fields().names()[1:3] == ["scene", "row"]
    assert sorted({f["scene"] for f in tiles.getFeatures()}) == sorted(PARTS)
    per_scene = sum(QgsVectorLayer(f"{out / n / 'tiles.gpkg'}|layername=tiles", n, "ogr").featureCount() for n in PARTS)
    assert tiles.featureCount() == per_scene > 0


def test_classify_many_names_the_failed_scene(processing_ready, test_model, t33uup_mosaic, tmp_path):
    import processing

    scenes = _scene_file(tmp_path / "inputs", t33uup_mosaic, broken=True)
    with pytest.raises(QgsProcessingException, match=r"1 of 3 scenes failed \(broken\); the others are finished"):
        processing.run(
            "mosaic:classify_many",
            {
                "SCENES": str(scenes),
                "MODEL": str(test_model),
                "WORKERS": 1,
                "BACKEND_PYTHON": sys.executable,
                "OUTPUT": str(tmp_path / "out"),
            },
        )
    assert (tmp_path / "out" / "mosaic" / "labels.tif").is_file()

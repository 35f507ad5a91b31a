"""A reference map: the pixel-level CORINE Land Cover 2018 map of patch 26_57 (10 m, CLC level-3 codes; see
``shared/data/bigearthnet-v2-rico-hdl/SOURCE.md``) against the test model's run over that patch at stride 10
(12 × 12 cells of 100 m): the agreement cross-tabulation, and a sample labelled from the map (raster and polygons)."""

from __future__ import annotations

import csv
import json
import shutil

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio

from mosaic.backend.cli import main
from mosaic.backend.data.classes import BEN19_CLASSES, clc_to_ben19

from .conftest import predict_run

HECTARES_PER_PIXEL = 0.01  # 10 m pixels


@pytest.fixture(scope="module")
def corine_run(corine_patch, onnx_model_path, tmp_path_factory):
    return predict_run(corine_patch["s2"], corine_patch["s1"], onnx_model_path, tmp_path_factory.mktemp("run"), 10)


@pytest.fixture(scope="module")
def reference_classes(corine_patch) -> np.ndarray:
    """The CORINE map as 19-class indices (120 × 120)."""
    with rasterio.open(corine_patch["map"]) as src:
        codes = src.read(1)
    mapping = clc_to_ben19()
    return np.vectorize(lambda code: BEN19_CLASSES.index(mapping[int(code)]))(codes)


def block_majority(classes: np.ndarray) -> np.ndarray:
    """The class covering most of each 10 × 10 block (ties: the lowest index), 12 × 12."""
    blocks = classes.reshape(12, 10, 12, 10).transpose(0, 2, 1, 3).reshape(12, 12, 100)
    return np.apply_along_axis(lambda v: np.bincount(v, minlength=19).argmax(), 2, blocks)


def agreement(run, reference, out, *options) -> dict:
    assert main(["assess", "--map", str(run), "--reference", str(reference), *options, "-o", str(out)]) == 0
    return json.loads((out / "agreement.json").read_text())


def expected_table(map_classes: np.ndarray, reference_classes: np.ndarray) -> np.ndarray:
    """Hectares by (map class, reference class): each 10 m reference pixel against the cell that holds it."""
    fine = np.repeat(np.repeat(map_classes, 10, axis=0), 10, axis=1)
    table = np.zeros((19, 19))
    np.add.at(table, (fine.ravel(), reference_classes.ravel()), HECTARES_PER_PIXEL)
    return table


def check_agreement(result: dict, table: np.ndarray) -> None:
    classes = result["classes"]
    involved = [BEN19_CLASSES[k] for k in np.flatnonzero(table.sum(axis=0) + table.sum(axis=1))]
    assert list(classes) == involved
    for name, row in classes.items():
        k = BEN19_CLASSES.index(name)
        assert row["map_area"] == pytest.approx(table[k].sum(), abs=1e-9)
        assert row["reference_area"] == pytest.approx(table[:, k].sum(), abs=1e-9)
        assert row["agreement_area"] == pytest.approx(table[k, k], abs=1e-9)
    assert result["overall_agreement"] == pytest.approx(np.trace(table) / table.sum(), abs=1e-12)


def test_agreement_with_corine(corine_run, corine_patch, reference_classes, tmp_path):
    with rasterio.open(corine_run / "labels.tif") as src:
        top, profile, others = src.read(1), src.profile, src.read([2, 3])
    result = agreement(corine_run, corine_patch["map"], tmp_path / "run", "--class-map", "corine")
    assert result["kind"] == "agreement between two maps, not accuracy" and result["unit"] == "ha"
    check_agreement(result, expected_table(top, reference_classes))
    # SOURCE.md: 211 arable land 70.8 ha, 231 pastures 11.5 ha, 311 broad-leaved 41.3 ha, 313 mixed forest 20.4 ha
    areas = {name: round(row["reference_area"], 1) for name, row in result["classes"].items() if row["reference_area"]}
    assert areas == {"Arable land": 70.8, "Pastures": 11.5, "Broad-leaved forest": 41.3, "Mixed forest": 20.4}
    with open(tmp_path / "run" / "agreement_area.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == f"map \\ {corine_patch['map'].name} (ha)"
    assert "(not accuracy)" in (tmp_path / "run" / "report.md").read_text()

    # a map that takes each cell's majority CORINE class: agrees except where a cell mixes classes
    majority = block_majority(reference_classes)
    run = tmp_path / "majority"
    shutil.copytree(corine_run, run)
    with rasterio.open(run / "labels.tif", "w", **(profile | {"driver": "GTiff"})) as dst:
        dst.write(np.concatenate([majority[None].astype(top.dtype), others]))
    result = agreement(run, corine_patch["map"], tmp_path / "majority_out", "--class-map", "corine")
    table = expected_table(majority, reference_classes)
    check_agreement(result, table)
    assert 0.8 < result["overall_agreement"] < 1.0


def assess_sample(sample, out, *reference) -> dict:
    assert main(["assess", "--sample", str(sample), *reference, "-o", str(out)]) == 0
    return json.loads((out / "assessment.json").read_text())


def test_a_sample_labelled_from_corine(corine_run, corine_patch, reference_classes, tmp_path):
    """Strata from a stratum layer (the CORINE codes themselves), so Stehman (2014) applies; the reference from the
    raster (majority and classes present in each cell) and from its polygons give the same assessment."""
    sample = tmp_path / "sample.gpkg"
    argv = ["sample", "--map", str(corine_run), "-o", str(sample), "--strata", "layer"]
    argv += ["--strata-layer", str(corine_patch["map"]), "--total", "40", "--allocation", "proportional"]
    assert main(argv) == 0
    units, strata = pyogrio.read_dataframe(sample, layer="sample"), pyogrio.read_dataframe(sample, layer="strata")
    assert strata["stratum"].tolist() == ["211", "231", "311", "313"] and strata["units"].sum() == 40
    with rasterio.open(corine_patch["map"]) as src:
        codes = src.read(1)
    centres = codes[5::10, 5::10]  # the CORINE code at each cell's centre pixel
    assert units["stratum"].tolist() == [str(centres[r, c]) for r, c in zip(units["row"], units["col"])]
    from_raster = assess_sample(
        sample, tmp_path / "raster", "--reference", str(corine_patch["map"]), "--class-map", "corine"
    )
    from_polygons = assess_sample(
        sample, tmp_path / "polygons", "--reference", str(corine_patch["polygons"]), "--reference-field", "name_19"
    )
    assert from_raster == from_polygons
    assert "Estimator: Stehman (2014)" in (tmp_path / "raster" / "report.md").read_text()
    # the error matrix in counts: map class against each cell's majority CORINE class
    majority = block_majority(reference_classes)
    expected = {}
    for mapped, r, c in zip(units["map_class"], units["row"], units["col"]):
        key = (mapped, BEN19_CLASSES[majority[r, c]])
        expected[key] = expected.get(key, 0) + 1
    with open(tmp_path / "raster" / "error_matrix_counts.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0][1:-1]
    counted = {(row[0], ref): int(n) for row in rows[1:-1] for ref, n in zip(header, row[1:-1]) if int(n)}
    assert counted == expected
    # the classes present: every CORINE class inside the cell
    multilabel = json.loads((tmp_path / "raster" / "assessment_multilabel.json").read_text())
    assert multilabel == json.loads((tmp_path / "polygons" / "assessment_multilabel.json").read_text())
    present = [
        {BEN19_CLASSES[k] for k in np.unique(reference_classes[10 * r : 10 * r + 10, 10 * c : 10 * c + 10])}
        for r, c in zip(units["row"], units["col"])
    ]
    weights = dict(zip(strata["stratum"], strata["cells"] / strata["cells"].sum()))
    for name in ("Arable land", "Mixed forest"):
        share = units.assign(v=[name in p for p in present]).groupby("stratum")["v"].mean()
        estimate = sum(weights[h] * v for h, v in share.items())
        assert multilabel["classes"][name]["area_proportion"]["estimate"] == pytest.approx(estimate, abs=1e-12)


def test_a_reference_in_another_crs_is_refused(corine_run, corine_patch, tmp_path, capsys):
    sample = tmp_path / "sample.gpkg"
    assert main(["sample", "--map", str(corine_run), "-o", str(sample), "--total", "20"]) == 0
    polygons = tmp_path / "corine_4326.geojson"
    gpd.read_file(corine_patch["polygons"]).to_crs("EPSG:4326").to_file(polygons)
    out = tmp_path / "out"
    argv = ["assess", "--sample", str(sample), "--reference", str(polygons), "--reference-field", "name_19"]
    assert main([*argv, "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        "mosaic assess: error: the reference corine_4326.geojson is in EPSG:4326 but the map is in EPSG:32633: "
        "reproject it to the map's CRS first (QGIS: Reproject Layer or Warp; GDAL: ogr2ogr -t_srs or gdalwarp "
        "-t_srs).\n"
    )
    assert not out.exists()


def test_a_top_class_sample_estimated_with_olofsson(corine_run, corine_patch, reference_classes, tmp_path):
    """A map of CORINE classes one cell off (each cell takes the majority class of its western neighbour), stratified
    by its top class: Olofsson et al. (2014); the estimates equal the stratified means computed here."""
    majority = block_majority(reference_classes)
    shifted = np.roll(majority, 1, axis=1)
    run = tmp_path / "shifted"
    shutil.copytree(corine_run, run)
    with rasterio.open(corine_run / "labels.tif") as src:
        profile, source = src.profile, src.read(3)
    bits = np.left_shift(1, shifted).astype(np.uint32)
    with rasterio.open(run / "labels.tif", "w", **(profile | {"driver": "GTiff"})) as dst:
        dst.write(np.stack([shifted.astype(np.uint32), bits, source]))
    sample = tmp_path / "sample.gpkg"
    assert main(["sample", "--map", str(run), "-o", str(sample), "--total", "40", "--minimum", "6", "--seed", "1"]) == 0
    result = assess_sample(sample, tmp_path / "out", "--reference", str(corine_patch["map"]), "--class-map", "corine")
    assert "Estimator: Olofsson et al. (2014)" in (tmp_path / "out" / "report.md").read_text()
    assert set(result) == {"overall_accuracy", "classes"} and set(result["overall_accuracy"]) == {"estimate", "se"}
    units, strata = pyogrio.read_dataframe(sample, layer="sample"), pyogrio.read_dataframe(sample, layer="strata")
    weights = dict(zip(strata["stratum"], strata["cells"] / 144))
    reference = [BEN19_CLASSES[majority[r, c]] for r, c in zip(units["row"], units["col"])]
    frame = units.assign(reference=reference, correct=units["map_class"] == reference)
    assert result["overall_accuracy"]["estimate"] == pytest.approx(
        sum(weights[h] * v for h, v in frame.groupby("stratum")["correct"].mean().items()), abs=1e-12
    )
    for name, c in result["classes"].items():
        assert set(c) == {"users_accuracy", "producers_accuracy", "area_proportion", "area"}
        assert set(c["area_proportion"]) == {"estimate", "se", "ci95"}
        assert set(c["area"]) == {"estimate", "se", "ci95", "unit"} and c["area"]["unit"] == "ha"
        share = frame.assign(v=frame["reference"] == name).groupby("stratum")["v"].mean()
        proportion = sum(weights[h] * v for h, v in share.items())
        assert c["area_proportion"]["estimate"] == pytest.approx(proportion, abs=1e-12), name
        assert c["area"]["estimate"] == pytest.approx(144 * proportion, abs=1e-9), name
        if name in weights:
            users = frame[frame["stratum"] == name]["correct"].mean()
            assert c["users_accuracy"]["estimate"] == pytest.approx(users, abs=1e-12), name

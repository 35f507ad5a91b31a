"""``mosaic predict`` → ``mosaic sample`` → labels from the bundled per-patch label squares → ``mosaic assess``, on the
real T33UUP mosaic, with the files checked by value."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from osgeo import ogr
from shapely import Point, box

from mosaic.backend.accuracy.sample_layer import PRESENCE_PREFIX
from mosaic.backend.cli import main

SQUARES = "mosaic_patch_labels_EPSG32633.geojson"


def sample(run, out, *options) -> None:
    assert main(["sample", "--map", str(run), "-o", str(out), "--target-se", "0.05", "--minimum", "5", *options]) == 0


@pytest.fixture(scope="module")
def drawn(t33uup_run, tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "sample.gpkg"
    sample(t33uup_run, path, "--seed", "3")
    return path


def update(path, statements: list[str]) -> None:
    """Edit a GeoPackage in place through GDAL (its R-tree triggers need GDAL's SQL functions)."""
    dataset = ogr.Open(str(path), 1)
    for statement in statements:
        dataset.ExecuteSQL(statement)
    dataset = None


def read(path, layer="sample"):
    return pyogrio.read_dataframe(path, layer=layer)


def squares_labels(t33uup_mosaic, xs, ys) -> list[set[str]]:
    """The labels of the patch square holding each point (an independent look-up with shapely)."""
    squares = gpd.read_file(t33uup_mosaic / SQUARES)
    out = []
    for x, y in zip(xs, ys):
        inside = squares[squares.contains(Point(x, y))]
        assert len(inside) == 1
        out.append(set(inside.iloc[0]["labels"].split("; ")))
    return out


def test_sample_holds_the_maps_values(drawn, t33uup_run, tmp_path):
    units = read(drawn)
    with rasterio.open(t33uup_run / "labels.tif") as src:
        labels, transform = src.read(), src.transform
    with rasterio.open(t33uup_run / "probabilities.tif") as src:
        probabilities, names = src.read(), src.descriptions
    strata = read(drawn, "strata")
    # eq. 13: 0.09 / (0.05² + 0.09 / 112) = 27.2 → 28 units; compromise with 5 per rare stratum
    assert len(units) == strata["units"].sum() == 28 and strata["cells"].sum() == 112
    assert (strata["area"] == strata["cells"] * 9.0).all() and set(strata["area_unit"]) == {"ha"}
    assert sorted(units["unit"]) == list(range(1, 29))
    rows, cols = units["row"].to_numpy(), units["col"].to_numpy()
    assert not ((rows < 4) & (cols < 4)).any()  # the missing patch 37_87 (nodata) is never sampled
    assert len(set(zip(rows, cols))) == 28  # without replacement
    assert [names[c] for c in labels[0, rows, cols]] == units["map_class"].tolist() == units["stratum"].tolist()
    for u, (r, c) in enumerate(zip(rows, cols)):
        present = [n for k, n in enumerate(names) if labels[1, r, c] >> k & 1]
        assert units["map_labels"][u] == "; ".join(present)
        np.testing.assert_allclose([units[f"p: {n}"][u] for n in names], probabilities[:, r, c], rtol=1e-6)
        x0, y0 = transform @ (c, r)
        x1, y1 = transform @ (c + 1, r + 1)
        assert units.geometry[u].equals(box(x0, y1, x1, y0))
        assert (units["x"][u], units["y"][u]) == pytest.approx(((x0 + x1) / 2, (y0 + y1) / 2))
    assert units["reference"].isna().all() and (units[[f"{PRESENCE_PREFIX}{n}" for n in names]] == 0).all().all()
    # the form style travels in the GeoPackage and beside it
    styles = read(drawn, "layer_styles")
    assert styles["f_table_name"].tolist() == ["sample"] and 'editWidget type="CheckBox"' in styles["styleQML"][0]
    assert drawn.with_suffix(".qml").read_text() == styles["styleQML"][0]
    # the same seed draws the same sample; another seed another one
    again, other = tmp_path / "again.gpkg", tmp_path / "other.gpkg"
    sample(t33uup_run, again, "--seed", "3")
    sample(t33uup_run, other, "--seed", "4")
    assert read(again).drop(columns="geometry").equals(units.drop(columns="geometry"))
    assert set(zip(read(other)["row"], read(other)["col"])) != set(zip(rows, cols))


def test_assess_from_the_label_squares(drawn, t33uup_mosaic, tmp_path):
    out = tmp_path / "assessment"
    argv = ["assess", "--sample", str(drawn), "--reference", str(t33uup_mosaic / SQUARES)]
    assert main([*argv, "--reference-labels-field", "labels", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "areas_multilabel.png",
        "assessment_multilabel.json",
        "disagreement.gpkg",
        "multilabel.csv",
        "report.html",
        "report.md",
    ]  # no top class in the squares: no assessment.json
    result = json.loads((out / "assessment_multilabel.json").read_text())
    units, strata = read(drawn), read(drawn, "strata")
    reference = squares_labels(t33uup_mosaic, units["x"], units["y"])
    mapped = [set(s.split("; ")) for s in units["map_labels"]]
    weights = dict(zip(strata["stratum"], strata["cells"] / strata["cells"].sum()))

    def stratified_mean(values) -> float:
        frame = units.assign(v=np.asarray(values, dtype=float))
        return sum(weights[h] * v for h, v in frame.groupby("stratum")["v"].mean().items())

    assessed = sorted(set().union(*reference, *mapped))
    assert set(result["classes"]) == set(assessed)
    for name, c in result["classes"].items():
        has = [name in r for r in reference]
        assert c["area_proportion"]["estimate"] == pytest.approx(stratified_mean(has), abs=1e-12), name
        assert c["area"]["estimate"] == pytest.approx(1008 * stratified_mean(has), abs=1e-9), name
        mapped_has = [name in m for m in mapped]
        both = [a and b for a, b in zip(has, mapped_has)]
        if any(mapped_has):
            precision = stratified_mean(both) / stratified_mean(mapped_has)
            assert c["users_accuracy"]["estimate"] == pytest.approx(precision, abs=1e-12), name
    # every patch holds pastures and mixed forest: 1,008 ha (112 cells of 9 ha) without error
    for name in ("Pastures", "Mixed forest"):
        assert result["classes"][name]["area"] == {"estimate": 1008.0, "se": 0.0, "ci95": 0.0, "unit": "ha"}
    share_right = [len(set(assessed) - (r ^ m)) / len(assessed) for r, m in zip(reference, mapped)]
    assert result["overall_accuracy"]["estimate"] == pytest.approx(stratified_mean(share_right), abs=1e-12)
    # the disagreement layer: the units whose classes differ, with what the map missed and added
    disagreement = read(out / "disagreement.gpkg", "disagreement")
    differs = [u for u, (r, m) in enumerate(zip(reference, mapped)) if r != m]
    assert sorted(disagreement["unit"].astype(int)) == sorted(units["unit"][differs])
    for _, row in disagreement.iterrows():
        u = int(np.flatnonzero(units["unit"] == int(row["unit"]))[0])
        assert set(filter(None, row["missed"].split("; "))) == reference[u] - mapped[u]
        assert set(filter(None, (row["extra"] or "").split("; "))) == mapped[u] - reference[u]
        assert row.geometry.equals(units.geometry[u])
    report = (out / "report.md").read_text()
    assert "| Pastures | " in report and "1,008 ± 0 |" in report and "![estimated area holding each class" in report

    # the analyst's way: tick the classes in the GeoPackage (QGIS writes the same fields), then assess it alone
    labelled = tmp_path / "labelled.gpkg"
    labelled.write_bytes(drawn.read_bytes())
    update(
        labelled,
        [
            f'UPDATE sample SET "{PRESENCE_PREFIX}{name}" = 1 WHERE unit = {unit}'
            for unit, classes in zip(units["unit"], reference)
            for name in classes
        ],
    )
    by_hand = tmp_path / "by_hand"
    assert main(["assess", "--sample", str(labelled), "-o", str(by_hand)]) == 0
    assert json.loads((by_hand / "assessment_multilabel.json").read_text()) == result
    assert (by_hand / "multilabel.csv").read_text() == (out / "multilabel.csv").read_text()


def test_assess_refuses_a_sample_without_labels_and_one_labelled_in_part(drawn, tmp_path, capsys):
    assert main(["assess", "--sample", str(drawn), "-o", str(tmp_path / "a")]) == 2
    assert capsys.readouterr().err == (
        "mosaic assess: error: sample.gpkg has no labels yet: label its units in QGIS (the form's Reference tab), or "
        "give --reference to label them from a reference map.\n"
    )
    part = tmp_path / "part.gpkg"
    part.write_bytes(drawn.read_bytes())
    update(part, ["UPDATE sample SET reference = map_class WHERE unit <= 5"])
    assert main(["assess", "--sample", str(part), "-o", str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err == (
        "mosaic assess: error: 23 of 28 sample units have no reference class yet (first: unit 6): label them in "
        "QGIS, or delete the units that cannot be labelled from the layer.\n"
    )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_outputs_are_kept_without_overwrite_and_a_vector_reference_needs_its_field(
    drawn, t33uup_run, t33uup_mosaic, tmp_path, capsys
):
    before = drawn.read_bytes()
    assert main(["sample", "--map", str(t33uup_run), "-o", str(drawn)]) == 2
    assert capsys.readouterr().err == f"mosaic sample: error: {drawn} exists; pass --overwrite to replace it.\n"
    assert drawn.read_bytes() == before
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("an earlier assessment")
    squares = str(t33uup_mosaic / SQUARES)
    argv = ["assess", "--sample", str(drawn), "--reference", squares, "--reference-labels-field", "labels"]
    assert main([*argv, "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"mosaic assess: error: {out / 'report.md'} exists; pass --overwrite to replace the assessment in {out}.\n"
    )
    assert [p.name for p in out.iterdir()] == ["report.md"] and (
        out / "report.md"
    ).read_text() == "an earlier assessment"
    assert main([*argv, "-o", str(out), "--overwrite"]) == 0
    assert (out / "assessment_multilabel.json").is_file() and not list(out.glob(".mosaic-assess-partial-*"))
    assert main(["assess", "--sample", str(drawn), "--reference", squares, "-o", str(tmp_path / "v")]) == 2
    assert capsys.readouterr().err == (
        "mosaic assess: error: the reference mosaic_patch_labels_EPSG32633.geojson is a vector file: name the field of "
        "its classes with --reference-field (and/or --reference-labels-field).\n"
    )


def test_strata_by_presence_and_by_polygons(t33uup_run, t33uup_mosaic, tmp_path):
    presence = tmp_path / "presence.gpkg"
    assert main(["sample", "--map", str(t33uup_run), "-o", str(presence), "--strata", "presence"]) == 2  # no class
    sample(t33uup_run, presence, "--strata", "presence", "--presence-class", "Inland waters", "--total", "20")
    units, strata = read(presence), read(presence, "strata")
    # the test model marks inland waters in 6 of the 112 cells: the rare stratum gets the minimum (5), the other 15
    assert strata["stratum"].tolist() == ["Inland waters: absent", "Inland waters: present"] and len(units) == 20
    assert strata["cells"].tolist() == [106, 6] and strata["units"].tolist() == [15, 5]
    for stratum, labels in zip(units["stratum"], units["map_labels"]):
        assert stratum == f"Inland waters: {'present' if 'Inland waters' in labels.split('; ') else 'absent'}"
    by_patch = tmp_path / "patches.gpkg"
    squares = str(t33uup_mosaic / SQUARES)
    sample(t33uup_run, by_patch, "--strata", "layer", "--strata-layer", squares, "--strata-field", "patch_id")
    units, strata = read(by_patch), read(by_patch, "strata")
    assert strata["cells"].tolist() == [16] * 7  # the 7 patches, 4 × 4 cells of 300 m each
    patches = gpd.read_file(squares)
    for stratum, x, y in zip(units["stratum"], units["x"], units["y"]):
        assert patches[patches.contains(Point(x, y))]["patch_id"].tolist() == [stratum]


def test_a_reference_that_misses_units_is_refused(drawn, t33uup_mosaic, tmp_path, capsys):
    squares = gpd.read_file(t33uup_mosaic / SQUARES)
    six = tmp_path / "six_patches.geojson"
    squares[squares["patch_id"] != squares["patch_id"].iloc[0]].to_file(six)  # without patch 37_88
    units = read(drawn)
    inside = squares.iloc[0].geometry
    missed = [u for u, x, y in zip(units["unit"], units["x"], units["y"]) if inside.contains(Point(x, y))]
    out = tmp_path / "out"
    argv = ["assess", "--sample", str(drawn), "--reference", str(six), "--reference-labels-field", "labels"]
    assert main([*argv, "-o", str(out)]) == 2
    first = next(u for u in units["unit"] if u in missed)
    assert capsys.readouterr().err == (
        f"mosaic assess: error: the reference six_patches.geojson says nothing about {len(missed)} of 28 sample units "
        f"(first: unit {first}); give a reference that covers the whole sample.\n"
    )
    assert missed and not out.exists()


def test_a_sample_of_no_units_is_refused(t33uup_run, tmp_path, capsys):
    assert main(["sample", "--map", str(t33uup_run), "-o", str(tmp_path / "s.gpkg"), "--total", "0"]) == 2
    assert capsys.readouterr().err == (
        "mosaic sample: error: the sample size (--total) must be at least 1 and the minimum per stratum at least 0.\n"
    )
    assert list(tmp_path.iterdir()) == []

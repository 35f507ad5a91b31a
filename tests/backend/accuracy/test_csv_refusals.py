"""The one-line refusals of ``mosaic assess`` on the plain CSV tables: exit 2, one line, nothing written."""

from __future__ import annotations

from mosaic.backend.cli import main

from .conftest import olofsson_rows, write_csv


def refused(capsys, tmp_path, sample, areas) -> str:
    out = tmp_path / "out"
    argv = ["assess", "--sample", str(sample), "--areas", str(areas), "--area-unit", "ha", "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mosaic assess: error: ")
    assert not out.exists()
    return err.removeprefix("mosaic assess: error: ").strip()


def test_a_stratum_with_one_unit(capsys, tmp_path, olofsson_csv):
    _, areas, _ = olofsson_csv
    rows = [r for r in olofsson_rows() if r[0] != "Forest gain"] + [("Forest gain", "Forest gain")]
    sample = write_csv(tmp_path / "one_unit.csv", ["map", "reference"], rows)
    assert refused(capsys, tmp_path, sample, areas) == (
        "stratum 'Forest gain' has 1 sample unit but an area in olofsson_areas_ha.csv; a stratum needs at least 2 "
        "units for a variance: label more units in it, or merge it with another stratum (and add their areas)."
    )


def test_a_stratum_without_area(capsys, tmp_path, olofsson_csv):
    sample, _, _ = olofsson_csv
    areas = write_csv(tmp_path / "three_areas.csv", ["stratum", "area"], [("Deforestation", 1), ("Stable forest", 2)])
    assert refused(capsys, tmp_path, sample, areas) == (
        "no area for stratum 'Forest gain' (75 sample units) in three_areas.csv: every stratum of the sample needs "
        "its mapped area; add a row 'Forest gain,<area>'."
    )


def test_a_reference_class_the_map_does_not_know(capsys, tmp_path, olofsson_csv):
    _, areas, _ = olofsson_csv
    rows = list(olofsson_rows())
    rows[3] = ("Deforestation", "Clouds")
    sample = write_csv(tmp_path / "clouds.csv", ["map", "reference"], rows)
    assert refused(capsys, tmp_path, sample, areas) == (
        "reference class 'Clouds' of sample unit clouds.csv line 5 is not a class of the map (Deforestation, "
        "Forest gain, Stable forest, Stable non-forest): correct the label, or map it to a map class with a class "
        "mapping."
    )


def test_a_sample_without_its_columns(capsys, tmp_path, olofsson_csv):
    _, areas, _ = olofsson_csv
    sample = write_csv(tmp_path / "bad.csv", ["class", "reference"], [("a", "b")])
    assert refused(capsys, tmp_path, sample, areas) == (
        "bad.csv has no column map; its header must name map,reference (found: class,reference)."
    )

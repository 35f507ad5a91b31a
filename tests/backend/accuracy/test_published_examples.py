"""The published worked examples, reproduced through the CSV interface of ``mosaic assess`` to the digits printed.

Olofsson et al. (2014), section 5 (strata = map classes) and Stehman (2014), the numerical example (strata differ
from the map classes). Printed values: as quoted by the independent implementations listed in the project's research
notes (boothmanrylan/accuracyAssessmentTools, PyMapAccuracy, CRAN mapaccuracy); the full-precision values pin the
formulas (our recomputation from the papers' input data). The papers' intervals are 1.96 · SE.
"""

from __future__ import annotations

import csv
import json

import pytest

from mosaic.backend.cli import main

from .conftest import OLOFSSON_CLASSES


def assess_csv(tmp_path, sample, areas, unit):
    out = tmp_path / f"out_{areas.stem}"
    assert main(["assess", "--sample", str(sample), "--areas", str(areas), "--area-unit", unit, "-o", str(out)]) == 0
    return out, json.loads((out / "assessment.json").read_text())


def rounds_to(value: float, printed: float, digits: int) -> bool:
    return round(value, digits) == pytest.approx(printed)


def test_olofsson_2014_section_5(tmp_path, olofsson_csv):
    sample, hectares, pixels = olofsson_csv
    out, result = assess_csv(tmp_path, sample, hectares, "ha")
    overall = result["overall_accuracy"]
    assert rounds_to(overall["estimate"], 0.95, 2) and rounds_to(1.96 * overall["se"], 0.02, 2)  # "0.95 ± 0.02"
    assert overall["estimate"] == pytest.approx(0.9465118881, abs=1e-9)
    assert overall["se"] == pytest.approx(0.0094304172, abs=1e-9)
    classes = result["classes"]
    assert list(classes) == list(OLOFSSON_CLASSES)
    printed_users = ((0.88, 0.07), (0.73, 0.10), (0.93, 0.04), (0.96, 0.02))
    # producer's accuracy: the paper prints forest gain ± 0.23 and stable non-forest ± 0.01, but its eq. 7 gives
    # ± 0.2544 and ± 0.0184 (none of the plausible formula slips reproduces the print; an error in the paper, as
    # accuracyAssessmentTools' tests note): the formula's values are asserted
    printed_producers = ((0.75, 0.21), (0.85, 0.25), (0.93, 0.03), (0.96, 0.02))
    printed_areas = ((21_158, 6_158), (11_686, 3_756), (285_770, 15_510), (581_386, 16_282))
    for name, (ua, ua_ci), (pa, pa_ci), (area, area_ci) in zip(
        OLOFSSON_CLASSES, printed_users, printed_producers, printed_areas
    ):
        c = classes[name]
        assert rounds_to(c["users_accuracy"]["estimate"], ua, 2), name
        assert rounds_to(1.96 * c["users_accuracy"]["se"], ua_ci, 2), name
        assert rounds_to(c["producers_accuracy"]["estimate"], pa, 2), name
        assert rounds_to(1.96 * c["producers_accuracy"]["se"], pa_ci, 2), name
        assert round(c["area"]["estimate"]) == area and round(c["area"]["ci95"]) == area_ci, name
        assert c["area"]["unit"] == "ha"
        assert c["area"]["ci95"] == pytest.approx(1.96 * c["area"]["se"])
        assert c["area_proportion"]["ci95"] == pytest.approx(1.96 * c["area_proportion"]["se"])
    producers_se = (0.1088315576, 0.1298001840, 0.0175124605, 0.0093681303)
    area_se = (3141.650197, 1916.237768, 7913.181785, 8306.967527)
    for name, se, a_se in zip(OLOFSSON_CLASSES, producers_se, area_se):
        assert classes[name]["producers_accuracy"]["se"] == pytest.approx(se, abs=1e-9)
        assert classes[name]["area"]["se"] == pytest.approx(a_se, abs=1e-5)
    # Table 9: estimated area proportions to 4 dp
    table9 = (
        (0.0176, 0, 0.0013, 0.0011),
        (0, 0.0110, 0.0016, 0.0024),
        (0.0019, 0, 0.2967, 0.0213),
        (0.0040, 0.0020, 0.0179, 0.6212),
    )
    with open(out / "error_matrix_proportions.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["map \\ reference", *OLOFSSON_CLASSES, "total"]
    for row, printed in zip(rows[1:5], table9):
        assert [round(float(v), 4) for v in row[1:5]] == pytest.approx(printed, abs=1e-12)
    assert [float(r[5]) for r in rows[1:5]] == pytest.approx([0.02, 0.015, 0.32, 0.645])
    with open(out / "error_matrix_counts.csv", newline="") as fh:
        counts = list(csv.reader(fh))
    assert counts[1] == ["Deforestation", "66", "0", "5", "4", "75"] and counts[-1][-1] == "640"
    report = (out / "report.md").read_text()
    assert "Estimator: Olofsson et al. (2014)" in report and "| Deforestation | 0.880 ± 0.074 |" in report
    assert "21,158 ± 6,158" in report and (out / "areas.png").stat().st_size > 10_000
    assert "<table>" in (out / "report.html").read_text()
    # the paper's deforestation area in pixels: 235,086 ± 68,418 (1.96 · SE; qnorm(0.975) would give 68,417)
    _, in_pixels = assess_csv(tmp_path, sample, pixels, "pixels")
    deforestation = in_pixels["classes"]["Deforestation"]["area"]
    assert round(deforestation["estimate"]) == 235_086 and round(deforestation["ci95"]) == 68_418
    assert deforestation["unit"] == "pixels"


def test_stehman_2014_strata_differ_from_map_classes(tmp_path, stehman_csv):
    sample, areas = stehman_csv
    out, result = assess_csv(tmp_path, sample, areas, "pixels")
    classes = result["classes"]
    # printed values (pages 4932–4936)
    assert rounds_to(classes["A"]["area_proportion"]["estimate"], 0.35, 2)
    assert rounds_to(classes["C"]["area_proportion"]["estimate"], 0.20, 2)
    assert rounds_to(result["overall_accuracy"]["estimate"], 0.63, 2)
    assert rounds_to(classes["B"]["users_accuracy"]["estimate"], 0.574, 3)
    assert rounds_to(classes["B"]["producers_accuracy"]["estimate"], 0.794, 3)
    assert rounds_to(classes["A"]["area_proportion"]["se"], 0.082, 3)
    assert rounds_to(classes["C"]["area_proportion"]["se"], 0.064, 3)
    assert rounds_to(result["overall_accuracy"]["se"], 0.085, 3)
    assert rounds_to(classes["B"]["users_accuracy"]["se"], 0.125, 3)
    # SE of P_B: the paper prints 0.114, computed with s²_x = 0 in stratum D where its own Table 3 gives 0.1
    # (accuracyAssessmentTools' tests and PyMapAccuracy's comparison note it); eq. 28 gives 0.1166 (no FPC)
    assert rounds_to(classes["B"]["producers_accuracy"]["se"], 0.117, 3)
    # full precision, without the finite population correction
    assert classes["B"]["users_accuracy"]["estimate"] == pytest.approx(0.27 / 0.47, abs=1e-12)
    assert classes["B"]["producers_accuracy"]["estimate"] == pytest.approx(0.27 / 0.34, abs=1e-12)
    expected_se = {
        ("A", "area_proportion"): 0.0822597512,
        ("C", "area_proportion"): 0.0642910051,
        ("B", "users_accuracy"): 0.1248022769,
        ("B", "producers_accuracy"): 0.1165671482,
    }
    for (name, key), se in expected_se.items():
        assert classes[name][key]["se"] == pytest.approx(se, abs=1e-9), (name, key)
    assert result["overall_accuracy"]["se"] == pytest.approx(0.0846561673, abs=1e-9)
    # the cell p_23 (map B, reference C) = 0.08, and the whole matrix (exact at 2 dp)
    with open(out / "error_matrix_proportions.csv", newline="") as fh:
        rows = {r[0]: [float(v) for v in r[1:5]] for r in list(csv.reader(fh))[1:5]}
    matrix = {
        "A": [0.23, 0.04, 0.04, 0],
        "B": [0.12, 0.27, 0.08, 0],
        "C": [0, 0.02, 0.06, 0.04],
        "D": [0, 0.01, 0.02, 0.07],
    }
    assert list(rows) == list(matrix)
    for name, printed in matrix.items():
        assert rows[name] == pytest.approx(printed, abs=1e-12), name
    assert classes["A"]["area"]["estimate"] == pytest.approx(35_000) and classes["A"]["area"]["unit"] == "pixels"
    assert "Estimator: Stehman (2014)" in (out / "report.md").read_text()

"""The SEN12MS split converter: official plain-text lists in, ``resources/sen12ms/test_list.csv`` out."""

from __future__ import annotations

from pathlib import Path

import pytest

from mosaic.tools import sen12ms_splits

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "resources" / "sen12ms"


def _official_test_list_text() -> str:
    """The official ``test_list.txt`` form (one ``ROIs1158_spring_s2_124_p100.tif`` per line) of the shipped CSV."""
    lines = []
    for row in (SHIPPED / "test_list.csv").read_text().splitlines()[1:]:
        scene, patches = row.split(",")
        season, number = scene.split("/")
        lines += [f"{season}_s2_{number}_p{p}.tif" for p in patches.split()]
    return "\n".join(lines) + "\n"


def test_converter_reproduces_the_shipped_csv(tmp_path):
    test_list = tmp_path / "test_list.txt"
    test_list.write_text(_official_test_list_text())
    out = tmp_path / "test_list.csv"
    assert sen12ms_splits.convert(SHIPPED / "SEN12MS_holdOutScenes.txt", test_list, out) == 18106
    assert out.read_bytes() == (SHIPPED / "test_list.csv").read_bytes()


def test_converter_refuses_lists_that_disagree(tmp_path):
    test_list = tmp_path / "test_list.txt"
    test_list.write_text(_official_test_list_text() + "ROIs1970_fall_s2_7_p3.tif\n")
    with pytest.raises(ValueError, match="ROIs1970_fall/7"):
        sen12ms_splits.convert(SHIPPED / "SEN12MS_holdOutScenes.txt", test_list, tmp_path / "x.csv")
    test_list.write_text("not-a-patch.tif\n")
    with pytest.raises(ValueError, match="unexpected test patch name"):
        sen12ms_splits.convert(SHIPPED / "SEN12MS_holdOutScenes.txt", test_list, tmp_path / "x.csv")

"""The published worked examples as the plain CSV tables an analyst would bring (``--sample``, ``--areas``)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

#: Olofsson et al. (2014), section 5: sample counts (Table 8; rows map = strata, columns reference) and mapped areas
OLOFSSON_CLASSES = ("Deforestation", "Forest gain", "Stable forest", "Stable non-forest")
OLOFSSON_COUNTS = ((66, 0, 5, 4), (0, 55, 8, 12), (1, 0, 153, 11), (2, 1, 9, 313))
OLOFSSON_PIXELS = (200_000, 150_000, 3_200_000, 6_450_000)  # Landsat pixels of 0.09 ha
HECTARES_PER_PIXEL = 0.09

#: Stehman (2014), Table 2: strata A–D (40,000, 30,000, 20,000, 10,000 pixels), 10 units each: stratum, map, reference
STEHMAN_STRATA = "A" * 10 + "B" * 10 + "C" * 10 + "D" * 10
STEHMAN_MAP = "AAAAAAABBB" + "ABBBBBBBBB" + "BBCCCCCCBB" + "DDDDDDDDDD"
STEHMAN_REFERENCE = "AAAAACBABC" + "ABBBBBAABB" + "CCCCCDDBBA" + "DDDDDDDCCB"
STEHMAN_PIXELS = {"A": 40_000, "B": 30_000, "C": 20_000, "D": 10_000}


def write_csv(path: Path, header, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def olofsson_rows():
    for i, row in enumerate(OLOFSSON_COUNTS):
        for j, count in enumerate(row):
            yield from [(OLOFSSON_CLASSES[i], OLOFSSON_CLASSES[j])] * count


@pytest.fixture()
def olofsson_csv(tmp_path) -> tuple[Path, Path, Path]:
    """(sample.csv ``map,reference``, areas in ha, areas in pixels)."""
    sample = write_csv(tmp_path / "olofsson_sample.csv", ["map", "reference"], olofsson_rows())
    hectares = write_csv(
        tmp_path / "olofsson_areas_ha.csv",
        ["stratum", "area"],
        [(c, p * HECTARES_PER_PIXEL) for c, p in zip(OLOFSSON_CLASSES, OLOFSSON_PIXELS)],
    )
    pixels = write_csv(tmp_path / "olofsson_areas_px.csv", ["stratum", "area"], zip(OLOFSSON_CLASSES, OLOFSSON_PIXELS))
    return sample, hectares, pixels


@pytest.fixture()
def stehman_csv(tmp_path) -> tuple[Path, Path]:
    """(sample.csv ``stratum,map,reference``, areas in pixels)."""
    rows = zip(STEHMAN_STRATA, STEHMAN_MAP, STEHMAN_REFERENCE)
    sample = write_csv(tmp_path / "stehman_sample.csv", ["stratum", "map", "reference"], rows)
    areas = write_csv(tmp_path / "stehman_areas.csv", ["stratum", "area"], STEHMAN_PIXELS.items())
    return sample, areas


def predict_run(s2, s1, model, out: Path, stride: int) -> Path:
    """``mosaic predict`` (the command line) into ``out``."""
    from mosaic.backend.cli import main

    argv = ["predict", "--s2", *map(str, s2), "--s1", *map(str, s1), "--model", str(model), "--out", str(out)]
    argv += ["--stride", str(stride), "--batch-size", "4", "--threads", "2", "--no-progress"]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def t33uup_run(t33uup_mosaic, onnx_model_path, tmp_path_factory) -> Path:
    """The test model's run over the T33UUP mosaic at stride 30: 16 × 8 cells of 300 m, the 4 × 4 of the missing
    patch 37_87 without data."""
    s2, s1 = sorted(t33uup_mosaic.glob("S2A*.tif")), sorted(t33uup_mosaic.glob("S1_*.tif"))
    return predict_run(s2, s1, onnx_model_path, tmp_path_factory.mktemp("t33uup_run"), 30)


@pytest.fixture(scope="module")
def corine_patch(shared_data) -> dict[str, Path]:
    """Patch 26_57: its S2 and S1 band files, its pixel-level CORINE 2018 map (CLC codes, 10 m) and that map's
    polygons (``name_19``), from ``bigearthnet-v2-rico-hdl`` (see its SOURCE.md)."""
    mock, rico = shared_data / "bigearthnet-v2-configilm-mock", shared_data / "bigearthnet-v2-rico-hdl"
    return {
        "s2": sorted((mock / "BigEarthNet-S2").rglob("*_T33UUP_26_57_B*.tif")),
        "s1": sorted((mock / "BigEarthNet-S1").rglob("*_33UUP_26_57_V*.tif")),
        "map": next((rico / "Reference_Maps").rglob("*_26_57_reference_map.tif")),
        "polygons": next((rico / "derived").glob("*_26_57_reference_map_polygons.geojson")),
    }

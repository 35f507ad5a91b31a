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

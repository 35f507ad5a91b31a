"""The plain tables an analyst may bring from elsewhere: ``--sample FILE.csv`` and ``--areas FILE.csv``.

- sample: one row per sample unit, columns ``map,reference[,stratum]`` (class names or codes, as text); the stratum
  defaults to the map class;
- areas: one row per stratum, columns ``stratum,area`` (map pixels, hectares…: ``--area-unit`` names the unit).

Extra columns are ignored; headers are matched without case and surrounding spaces. The map's classes are the
values of the ``map`` column (and the strata, when the strata are the map classes).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..errors import InputError
from .labelled_sample import LabelledSample, labelled_sample


def _rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = {(name or "").strip().casefold(): name for name in reader.fieldnames or ()}
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(
                    f"{path.name} has no column {', '.join(missing)}; its header must name "
                    f"{','.join(required)} (found: {','.join(header) or 'nothing'})."
                )
            return [{key: (row[name] or "").strip() for key, name in header.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def read_areas(path: str | Path) -> dict[str, float]:
    """Stratum → area from ``stratum,area`` rows, in file order."""
    path = Path(path)
    areas: dict[str, float] = {}
    for line, row in enumerate(_rows(path, ("stratum", "area")), start=2):
        try:
            area = float(row["area"])
        except ValueError:
            area = math.nan
        if not math.isfinite(area) or area < 0:
            raise InputError(f"{path.name} line {line}: the area of stratum {row['stratum']!r} must be a number ≥ 0.")
        if row["stratum"] in areas:
            raise InputError(f"{path.name} line {line}: stratum {row['stratum']!r} is listed twice.")
        areas[row["stratum"]] = area
    return areas


def read_sample(sample_path: str | Path, areas_path: str | Path, area_unit: str) -> LabelledSample:
    """The labelled sample of ``map,reference[,stratum]`` rows with the stratum areas of ``areas_path``."""
    sample_path = Path(sample_path)
    rows = _rows(sample_path, ("map", "reference"))
    if not rows:
        raise InputError(f"{sample_path.name} holds no sample unit.")
    areas = read_areas(areas_path)
    mapped = [row["map"] for row in rows]
    strata = [row.get("stratum") or row["map"] for row in rows]
    stratified_by_map = all(s == m for s, m in zip(strata, mapped))
    classes = tuple(dict.fromkeys([*(areas if stratified_by_map else ()), *mapped]))
    return labelled_sample(
        classes,
        areas,
        area_unit,
        [f"{sample_path.name} line {line}" for line in range(2, len(rows) + 2)],
        strata,
        mapped,
        [row["reference"] for row in rows],
        areas_source=Path(areas_path).name,
    )

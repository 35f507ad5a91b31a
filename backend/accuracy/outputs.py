"""What ``mosaic assess -o DIR`` writes, all at once or nothing.

- ``assessment.json``: the top-class map, ``{"overall_accuracy": {estimate, se}, "classes": {name:
  {users_accuracy, producers_accuracy, area_proportion (+ ci95), area (+ ci95, unit)}}}`` (``ci95``: half-width);
- ``accuracy.csv``: the same per class, one row each;
- ``error_matrix_counts.csv``: sample counts, rows map classes, columns reference classes, with totals;
- ``error_matrix_proportions.csv``: estimated area proportions p̂_ij with the map's (p̂_i.) and reference's (p̂_.j)
  totals;
- ``assessment_multilabel.json``: the multi-label map, the same shape for each class's presence (users = precision,
  producers = recall, overall = label accuracy); ``multilabel.csv``: per class precision, recall (with SE), F1, AP,
  presence accuracy and the area holding the class;
- ``agreement.json``, ``agreement_area.csv``: agreement with a reference map, the cross-tabulation by area (not
  accuracy);
- ``report.md``, ``report.html``, ``areas.png``, ``areas_multilabel.png``: the readable report and its bar charts;
- ``disagreement.gpkg``: layer ``disagreement``, the sample units where map and reference differ.

Each file is written into a hidden ``.mosaic-assess-partial-*`` folder inside ``DIR`` and moved into place only when
all are complete. Existing outputs are kept unless ``overwrite``; then outputs of an earlier assessment that this one
does not produce are removed too, so the folder never mixes two assessments.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import OutputError
from .agreement import Agreement
from .estimates import Assessment, Estimate
from .multilabel import MultilabelAssessment

OUTPUT_FILES = (
    "assessment.json",
    "accuracy.csv",
    "error_matrix_counts.csv",
    "error_matrix_proportions.csv",
    "assessment_multilabel.json",
    "multilabel.csv",
    "agreement.json",
    "agreement_area.csv",
    "report.md",
    "report.html",
    "areas.png",
    "areas_multilabel.png",
    "disagreement.gpkg",
)
PARTIAL_PREFIX = ".mosaic-assess-partial-"
Writer = Callable[[Path], object]


def csv_text(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def json_text(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _pair(e: Estimate) -> tuple[float, float]:
    return e.estimate, e.se


def accuracy_csv(result: Assessment) -> str:
    header = ["class", "users_accuracy", "users_accuracy_se", "producers_accuracy", "producers_accuracy_se"]
    header += ["area_proportion", "area_proportion_se", "area_proportion_ci95", "area", "area_se", "area_ci95"]
    rows = [
        (
            name,
            *_pair(result.users[k]),
            *_pair(result.producers[k]),
            *_pair(result.area_proportions[k]),
            result.area_proportions[k].ci95,
            *_pair(result.area(k)),
            result.area(k).ci95,
        )
        for k, name in enumerate(result.classes)
    ]
    return csv_text([*header, "area_unit"], [(*row, result.area_unit) for row in rows])


def counts_csv(result: Assessment) -> str:
    counts = result.counts
    rows = [(name, *counts[k].tolist(), int(counts[k].sum())) for k, name in enumerate(result.classes)]
    rows.append(("total", *counts.sum(axis=0).tolist(), int(counts.sum())))
    return csv_text(["map \\ reference", *result.classes, "total"], rows)


def proportions_csv(result: Assessment) -> str:
    p = result.proportions
    rows = [(name, *p[k].tolist(), float(p[k].sum())) for k, name in enumerate(result.classes)]
    rows.append(("total", *p.sum(axis=0).tolist(), float(p.sum())))
    return csv_text(["map \\ reference", *result.classes, "total"], rows)


def multilabel_csv(result: MultilabelAssessment) -> str:
    header = ["class", "precision", "precision_se", "recall", "recall_se", "f1", "average_precision"]
    header += ["presence_accuracy", "presence_accuracy_se", "area", "area_se", "area_ci95", "area_unit"]
    rows = []
    for c in result.classes:
        area = c.area_proportion.scaled(result.total_area)
        rows.append(
            (
                c.name,
                *_pair(c.precision),
                *_pair(c.recall),
                c.f1,
                c.average_precision,
                *_pair(c.assessment.overall),
                *_pair(area),
                area.ci95,
                result.area_unit,
            )
        )
    return csv_text(header, rows)


def agreement_csv(result: Agreement) -> str:
    rows = [(name, *result.area[k].tolist()) for k, name in enumerate(result.classes)]
    return csv_text([f"map \\ {result.reference_name} ({result.unit})", *result.classes], rows)


def text_writer(text: str) -> Writer:
    return lambda path: path.write_text(text, encoding="utf-8")


def write_folder(out: str | Path, files: Mapping[str, Writer], overwrite: bool) -> list[Path]:
    """Write ``files`` (name → writer of that file at a given path) into ``out``, all or nothing (see the module)."""
    out = Path(out)
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise OutputError(f"{out / existing[0]} exists; pass --overwrite to replace the assessment in {out}.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=out))
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc}") from None
    try:
        for name, write in files.items():
            write(staging / name)
        for name in existing:
            if name not in files:
                (out / name).unlink()
        for name in files:
            os.replace(staging / name, out / name)
    except OSError as exc:
        raise OutputError(f"cannot write the assessment into {out}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / name for name in files]

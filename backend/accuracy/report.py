"""The readable report of an assessment, as Markdown (``report.md``) and HTML (``report.html``) from one outline.

Sections: the sample and the estimator, overall accuracy, per-class accuracy and area with 95 % intervals, the bar
chart of areas, the error matrix in sample counts and in estimated area proportions, the multi-label classes
(precision, recall, F1, AP), the agreement with another map (labelled as such), and the references.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .agreement import Agreement
from .estimates import Z95, Assessment, Estimate
from .multilabel import MultilabelAssessment

REFERENCES = (
    "Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V., Woodcock, C. E., Wulder, M. A. (2014). Good practices "
    "for estimating area and assessing accuracy of land change. Remote Sensing of Environment 148, 42–57.",
    "Stehman, S. V. (2014). Estimating area and map accuracy for stratified random sampling when the strata are "
    "different from the map classes. International Journal of Remote Sensing 35(13), 4923–4939.",
    "FAO (2016). Map Accuracy Assessment and Area Estimation: A Practical Guide. National Forest Monitoring "
    "Assessment Working Paper No. 46/E, Rome.",
)


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass
class Outline:
    """Headings (``("h", text)``), paragraphs (``("p", text)``), tables and images (``("img", file, alt)``)."""

    title: str
    blocks: list = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.blocks.append(Table(header, rows))

    def image(self, file: str, alt: str) -> None:
        self.blocks.append(("img", file, alt))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            if isinstance(block, Table):
                out += ["| " + " | ".join(_md(h) for h in block.header) + " |"]
                out += ["|" + "|".join("---" for _ in block.header) + "|"]
                out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in block.rows]
            elif block[0] == "h":
                out.append(f"## {block[1]}")
            elif block[0] == "p":
                out.append(block[1])
            else:
                out.append(f"![{block[2]}]({block[1]})")
            out.append("")
        return "\n".join(out)

    def html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for block in self.blocks:
            if isinstance(block, Table):
                head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
                rows = "".join(
                    "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif block[0] == "h":
                body.append(f"<h2>{html.escape(block[1])}</h2>")
            elif block[0] == "p":
                body.append(f"<p>{html.escape(block[1])}</p>")
            else:
                body.append(f'<p><img src="{html.escape(block[1])}" alt="{html.escape(block[2])}"></p>')
        style = (
            "body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.2em .5em;"
            "text-align:right}td:first-child,th:first-child{text-align:left}"
        )
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
        )


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def proportion(e: Estimate) -> str:
    """``0.947 ± 0.018`` (± the 95 % half-width), ``—`` where undefined."""
    if not math.isfinite(e.estimate):
        return "—"
    return f"{e.estimate:.3f} ± {e.ci95:.3f}" if math.isfinite(e.se) else f"{e.estimate:.3f}"


def area_text(value: float, like: float | None = None) -> str:
    """Areas with thousands separators: whole units from 100 up (of ``like``, else of ``value``), else two
    decimals."""
    if not math.isfinite(value):
        return "—"
    return f"{value:,.0f}" if abs(value if like is None else like) >= 100 else f"{value:,.2f}"


def area_interval(e: Estimate) -> str:
    """``21,158 ± 6,158``: an area and the half-width of its 95 % interval, to the same decimals."""
    return f"{area_text(e.estimate)} ± {area_text(e.ci95, like=e.estimate)}"


def add_design(outline: Outline, source: str, strata: Sequence[tuple[str, float, int]], unit: str) -> None:
    """The sample: where it came from, its strata with their areas and sizes."""
    n = sum(units for _, _, units in strata)
    outline.heading("Sample")
    outline.paragraph(f"{n} sample units in {len(strata)} strata, from {source}.")
    outline.table(["stratum", f"area ({unit})", "sample units"], [(s, area_text(a), str(u)) for s, a, u in strata])


def add_top_class(outline: Outline, result: Assessment, chart: str | None, mapped: Sequence[float] | None) -> None:
    """Overall, per-class accuracy and area, the chart, and both error matrices."""
    outline.heading("Accuracy and area of the top-class map")
    outline.paragraph(
        f"Estimator: {result.estimator}. Intervals are 95 % confidence intervals, estimate ± {Z95} × standard "
        "error. Rows of the error matrices are map classes, columns reference classes."
    )
    outline.paragraph(f"Overall accuracy: {proportion(result.overall)} (standard error {result.overall.se:.4f}).")
    outline.table(
        ["class", "user's accuracy", "producer's accuracy", "area proportion", f"area ({result.area_unit})"],
        [
            (
                name,
                proportion(result.users[k]),
                proportion(result.producers[k]),
                proportion(result.area_proportions[k]),
                area_interval(result.area(k)),
            )
            for k, name in enumerate(result.classes)
        ],
    )
    add_chart(outline, chart, "estimated area of each class with its 95 % confidence interval")
    if mapped is not None:
        outline.paragraph(
            "Mapped areas (pixel counting): "
            + "; ".join(f"{n} {area_text(a)}" for n, a in zip(result.classes, mapped))
            + f" {result.area_unit}. They differ from the estimates by the map's errors."
        )
    classes = list(result.classes)
    outline.heading("Error matrix: sample counts")
    counts = result.counts
    outline.table(
        ["map \\ reference", *classes, "total"],
        [(name, *(str(v) for v in counts[k]), str(counts[k].sum())) for k, name in enumerate(classes)]
        + [("total", *(str(v) for v in counts.sum(axis=0)), str(counts.sum()))],
    )
    outline.heading("Error matrix: estimated area proportions")
    p = result.proportions
    outline.table(
        ["map \\ reference", *classes, "total"],
        [(name, *(f"{v:.4f}" for v in p[k]), f"{p[k].sum():.4f}") for k, name in enumerate(classes)]
        + [("total", *(f"{v:.4f}" for v in p.sum(axis=0)), f"{p.sum():.4f}")],
    )


def add_chart(outline: Outline, chart: str | None, alt: str) -> None:
    """The chart's image, or why there is none."""
    if chart:
        outline.image(chart, alt)
    else:
        outline.paragraph("(No chart: matplotlib is not installed in this Python; the areas are in the table above.)")


def add_multilabel(outline: Outline, result: MultilabelAssessment, chart: str | None) -> None:
    """The presence of each class: precision, recall, F1, AP, and the area holding it (and its chart)."""
    outline.heading("Multi-label map: the presence of each class")
    outline.paragraph(
        f"Label accuracy (share of the classes a cell has right, 1 − Hamming loss): {proportion(result.label_accuracy)}"
        ". Precision and recall are the user's and producer's accuracies of 'present', estimated over the map's "
        "area; AP weights each unit by the area it stands for."
    )
    outline.table(
        ["class", "precision", "recall", "F1", "AP", "presence accuracy", f"area holding it ({result.area_unit})"],
        [
            (
                c.name,
                proportion(c.precision),
                proportion(c.recall),
                _plain(c.f1),
                _plain(c.average_precision),
                proportion(c.assessment.overall),
                area_interval(c.area_proportion.scaled(result.total_area)),
            )
            for c in result.classes
        ],
    )
    add_chart(outline, chart, "estimated area holding each class with its 95 % confidence interval")


def add_agreement(outline: Outline, result: Agreement) -> None:
    """The cross-tabulation with another map, said to be agreement and not accuracy."""
    outline.heading(f"Agreement with {result.reference_name} (not accuracy)")
    outline.paragraph(
        "This compares two maps. The reference map has its own errors, classes and minimum mapping unit, so "
        "disagreement is not all this map's error and agreement is no accuracy. "
        f"Overall agreement: {_plain(result.overall)} of the compared area."
    )
    outline.table(
        [
            "class",
            f"area in this map ({result.unit})",
            f"area in {result.reference_name}",
            "area in both",
            "share of this map's area",
            "share of the reference's area",
        ],
        [
            (
                r["class"],
                area_text(r["map_area"]),
                area_text(r["reference_area"]),
                area_text(r["agreement_area"]),
                _plain(r["share_of_map_area"]),
                _plain(r["share_of_reference_area"]),
            )
            for r in result.per_class()
        ],
    )


def add_references(outline: Outline) -> None:
    outline.heading("References")
    for reference in REFERENCES:
        outline.paragraph(reference)


def _plain(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "—"

"""Which accuracy is which: the ``metrics.json`` of ``mosaic evaluate`` in a few plain lines, one per head, naming
the split and its patches, so that the figure the dock shows (the fused head's macro AP on the test split) can be
told from the others the evaluation log prints (each per-modality head, and every head on the snow / cloud / shadow
patches)."""

from __future__ import annotations

import json
from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicEvaluationSummary", text)


def accuracy_lines(metrics_json: str | Path) -> list[str]:
    """One line per head of an evaluation: its macro AP on the evaluated split (patches) and on the snow / cloud /
    shadow patches; the first line is the figure the model records as its headline (``test/ap_macro``)."""
    result = json.loads(Path(metrics_json).read_text(encoding="utf-8"))
    heads = {"fused": tr("Fused head"), "s1": tr("S1-only head"), "s2": tr("S2-only head")}
    if not result.get("heads"):
        heads["fused"] = tr("The model's head")
    lines = []
    for head, scores in [("fused", result), *result.get("heads", {}).items()]:
        test, cloudy = scores["metrics"], scores.get("cloudy_metrics")
        text = tr("{0}: macro AP {1} on the {2} split ({3} patches)").format(
            heads.get(head, head), ap_text(test["ap_macro"]), result["split"], test["n_samples"]
        )
        if cloudy:
            text += tr("; {0} on its {1} snow/cloud/shadow patches").format(
                ap_text(cloudy["ap_macro"]), cloudy["n_samples"]
            )
        lines.append(text)
    return lines


def ap_text(value: float | None) -> str:
    """``0.5964``; ``undefined`` where no class had a positive patch (``metrics.json`` writes null)."""
    return f"{value:.4f}" if value is not None else tr("undefined")

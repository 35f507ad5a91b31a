"""The dock's model panel as rich text: a plain summary for the analyst and the full record behind *Details*.

Summary: what the model classifies, the inputs it expects, its heads and one headline accuracy (macro average
precision on the test split). Details: every class with its colour, bands, resolution, strategy, training data, every
recorded metric, each head's metrics and the file's precision.

Free-text fields come from the (untrusted) model file and are HTML-escaped: a class name like
``<img src="/some/file">`` is shown as text, never rendered or loaded by Qt's rich-text engine.
"""

from __future__ import annotations

from html import escape

from qgis.PyQt.QtCore import QCoreApplication

HEADLINE_METRIC = "test/ap_macro"  #: the one accuracy figure of the summary
CLASSES_IN_SUMMARY = 3  #: class names the summary spells out before "and N more"


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicModelCard", text)


def head_names() -> dict[str, str]:
    """Head → its name for an analyst."""
    return {"fused": tr("S1+S2"), "s1": tr("S1 only (used under clouds)"), "s2": tr("S2 only (where S1 is missing)")}


def summary_html(meta) -> str:
    """Four lines: classes, expected inputs, heads, headline accuracy."""
    shown = ", ".join(escape(n) for n in meta.class_names[:CLASSES_IN_SUMMARY])
    more = len(meta.class_names) - CLASSES_IN_SUMMARY
    classes = shown + (tr(" and {0} more").format(more) if more > 0 else "")
    tile_km = meta.patch_size_px * meta.gsd_m / 1000
    inputs = tr("Sentinel-2 L2A ({0} bands) and Sentinel-1 VV+VH in dB at {1:g} m; one label set per {2:g} km tile")
    heads = ", ".join(head_names()[h] for h in meta.heads)
    return (
        f"<b>{tr('Classifies')}</b>: {len(meta.class_names)} {tr('land-cover classes')} ({classes})<br>"
        f"<b>{tr('Expects')}</b>: {inputs.format(len(meta.s2.bands), meta.gsd_m, tile_km)}<br>"
        f"<b>{tr('Heads')}</b>: {heads}<br>"
        f"<b>{tr('Accuracy')}</b>: {headline_accuracy(meta)}"
    )


def headline_accuracy(meta) -> str:
    """``macro AP 0.651 on the test split``, or that none was recorded."""
    value = meta.metrics.get(HEADLINE_METRIC)
    if value is None:
        return tr("not recorded (the model was not evaluated)")
    return tr("macro average precision {0:.3f} on its test split").format(value)


def details_html(meta) -> str:
    """Everything the file records: classes and colours, bands, resolution, strategy, training data, metrics,
    heads with their metrics, precision."""
    swatches = " ".join(
        f'<span style="color:{c}">■</span>&nbsp;{escape(n)}' for n, c in zip(meta.class_names, meta.class_colors)
    )
    metrics = ", ".join(f"{escape(k)} = {v:.3f}" for k, v in sorted(meta.metrics.items())) or tr("none recorded")
    return (
        f"<b>{len(meta.class_names)} {tr('classes')}</b>: {swatches}<br>"
        f"<b>S2</b>: {' '.join(meta.s2.bands)} · <b>S1</b>: {' '.join(meta.s1.bands)}<br>"
        f"<b>{tr('Resolution')}</b>: {meta.gsd_m:g} m, {meta.patch_size_px} px {tr('patches')} "
        f"({meta.patch_size_px * meta.gsd_m / 1000:g} km), {tr('upsampling')} {meta.upsampling}<br>"
        f"<b>{tr('Strategy')}</b>: {escape(meta.strategy)} · "
        f"<b>{tr('Training data')}</b>: {escape(str(meta.training.get('dataset', '?')))}<br>"
        f"<b>{tr('Metrics')}</b>: {metrics}<br>"
        f"<b>{tr('Heads')}</b>: {heads_html(meta)}<br>"
        f"<b>{tr('Precision')}</b>: {precision_html(meta)}"
    )


def heads_html(meta) -> str:
    """The model's classification heads: fused, and the S1-only (radar, used under clouds) and S2-only ones, each
    with its recorded macro AP on the test split and on the snow / cloud / shadow patches."""
    names = {"fused": tr("fused S1+S2"), "s1": tr("S1 only (radar, under clouds)"), "s2": tr("S2 only (no S1)")}
    shown = (("test/ap_macro", tr("test AP")), ("cloudy/ap_macro", tr("cloudy AP")))

    def head(name: str) -> str:
        metrics = meta.metrics_for(name)
        scores = ", ".join(f"{label} {metrics[key]:.3f}" for key, label in shown if key in metrics)
        return names[name] + (f" ({scores})" if scores else "")

    text = ", ".join(head(h) for h in meta.heads)
    return text if "s1" in meta.heads else text + " · " + tr("no cloud mask (exported before per-modality heads)")


def precision_html(meta) -> str:
    """The file's precision; for fp16 / int8 its test metrics next to the fp32 graph's (same patches)."""
    pairs = ", ".join(
        f"{escape(k)} = {v:.3f} ({tr('fp32')} {ref:.3f})" for k, (v, ref) in meta.precision_metrics.items()
    )
    return escape(meta.precision) + (f" · {pairs}" if pairs else "")

"""The dock's model panel as rich text: a plain summary for the analyst and the full record behind *Details*.

Summary: what the model classifies, the inputs it expects, its heads and what each is for, and its headline
accuracy: the macro average precision of the fused head on the model's test split as ``mosaic evaluate`` measured it
(the other heads' beside it), or for a published model the model card's figure, labelled as published; a published
model's source and licence. Details: every class with its colour, bands, resolution, strategy, training data, every
recorded metric, each head's metrics and the file's precision.

Free-text fields come from the (untrusted) model file and are HTML-escaped: a class name like
``<img src="/some/file">`` is shown as text, never rendered or loaded by Qt's rich-text engine.
"""

from __future__ import annotations

from html import escape

from qgis.PyQt.QtCore import QCoreApplication

HEADLINE_METRIC = "test/ap_macro"  #: the one accuracy figure of the summary: the fused head's, on the test split
PUBLISHED_METRIC = "published/test/ap_macro"  #: a published model's: the model card's, on BigEarthNet's test split
CLASSES_IN_SUMMARY = 3  #: class names the summary spells out before "and N more"


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicModelCard", text)


def modalities(meta) -> str:
    """The model's inputs: ``s1s2``, ``s1`` or ``s2`` (``architecture.modalities``; older files: S1+S2)."""
    return str((meta.raw.get("architecture") or {}).get("modalities", "s1s2"))


def head_label(meta, head: str) -> str:
    """``S1+S2``, ``S1-only``, ``S2-only``: the inputs a head sees (a one-modality model's one head: its modality)."""
    if head == "fused":
        return {"s1s2": tr("S1+S2"), "s1": tr("S1"), "s2": tr("S2")}[modalities(meta)]
    return {"s1": tr("S1-only"), "s2": tr("S2-only")}[head]


def head_purposes() -> dict[str, str]:
    """What each head of an S1+S2 model is for, in an analyst's words."""
    return {
        "fused": tr("S1+S2 head: every tile where both sensors see the ground"),
        "s1": tr("S1-only head: tiles under the cloud layer you give (radar sees through clouds), or S1 alone"),
        "s2": tr("S2-only head: tiles where Sentinel-1 is missing, or S2 alone"),
    }


def summary_html(meta) -> str:
    """Classes, expected inputs, heads, headline accuracy (which head, which split, measured or published) and,
    for a published model, where it comes from and its licence."""
    shown = ", ".join(escape(n) for n in meta.class_names[:CLASSES_IN_SUMMARY])
    more = len(meta.class_names) - CLASSES_IN_SUMMARY
    classes = shown + (tr(" and {0} more").format(more) if more > 0 else "")
    tile_km = meta.patch_size_px * meta.gsd_m / 1000
    inputs = {
        "s1s2": tr("Sentinel-2 L2A ({0} bands) and Sentinel-1 VV+VH in dB").format(len(meta.s2.bands)),
        "s2": tr("Sentinel-2 L2A ({0} bands)").format(len(meta.s2.bands)),
        "s1": tr("Sentinel-1 VV+VH in dB"),
    }[modalities(meta)]
    expects = tr("{0} at {1:g} m; one label set per {2:g} km tile").format(inputs, meta.gsd_m, tile_km)
    uses = {"fused": tr("clear tiles"), "s1": tr("under clouds"), "s2": tr("where S1 is missing")}
    heads = ", ".join(head_label(meta, h) + (f" ({uses[h]})" if len(meta.heads) > 1 else "") for h in meta.heads)
    text = (
        f"<b>{tr('Classifies')}</b>: {len(meta.class_names)} {tr('land-cover classes')} ({classes})<br>"
        f"<b>{tr('Expects')}</b>: {expects}<br>"
        f"<b>{tr('Heads')}</b>: {heads}<br>"
        f"<b>{tr('Accuracy')}</b>: {headline_accuracy(meta)}"
    )
    source = published_source(meta)
    return text + (f"<br><b>{tr('Source')}</b>: {source}" if source else "")


def headline_accuracy(meta) -> str:
    """The fused head's macro AP on the test split (measured by ``mosaic evaluate``), with the other heads' beside
    it; for a published model the model card's, labelled as published; or that none was recorded."""
    parts = []
    for key, words in (
        (HEADLINE_METRIC, tr("macro average precision {0:.3f} on its test split ({1} head{2})")),
        (
            PUBLISHED_METRIC,
            tr(
                "published macro average precision {0:.3f} on the BigEarthNet v2.0 test split ({1} head{2}), as "
                "reported by the model's authors, not measured by MoSAiC"
            ),
        ),
    ):
        value = meta.metrics.get(key)
        if value is not None:
            others = [(head_label(meta, h), meta.metrics_for(h).get(key)) for h in meta.heads if h != "fused"]
            shown = ", ".join(tr("{0} head {1:.3f}").format(name, v) for name, v in others if v is not None)
            parts.append(words.format(value, head_label(meta, "fused"), f"; {shown}" if shown else ""))
    return "<br>".join(parts) or tr("not recorded (the model was not evaluated)")


def published_source(meta) -> str:
    """For a model imported from published checkpoints: the model ids and the licence; ``""`` for other models
    (the ids are not links: the file is untrusted)."""
    published = meta.training.get("published")
    if not isinstance(published, dict) or not published:
        return ""
    records = [published.get(head) or {} for head in meta.heads]
    ids = [escape(str(record.get("model_id", "?"))) for record in records]
    licences = [escape(str(record.get("licence", "?"))) for record in records]
    return tr("published by the BigEarthNet v2.0 team (BIFOLD, TU Berlin): {0}; licence {1}").format(
        ", ".join(ids), ", ".join(dict.fromkeys(licences))
    )


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
    shown = (
        (HEADLINE_METRIC, tr("test AP")),
        ("cloudy/ap_macro", tr("AP on snow/cloud/shadow patches")),
        (PUBLISHED_METRIC, tr("published test AP")),
    )

    def head(name: str) -> str:
        metrics = meta.metrics_for(name)
        scores = ", ".join(f"{label} {metrics[key]:.3f}" for key, label in shown if key in metrics)
        return head_label(meta, name) + (f" ({scores})" if scores else "")

    text = ", ".join(head(h) for h in meta.heads)
    if "s1" in meta.heads or modalities(meta) != "s1s2":
        return text
    return text + " · " + tr("no cloud mask (exported before per-modality heads)")


def precision_html(meta) -> str:
    """The file's precision; for fp16 / int8 its test metrics next to the fp32 graph's (same patches)."""
    pairs = ", ".join(
        f"{escape(k)} = {v:.3f} ({tr('fp32')} {ref:.3f})" for k, (v, ref) in meta.precision_metrics.items()
    )
    return escape(meta.precision) + (f" · {pairs}" if pairs else "")

"""Hostile but schema-valid model metadata is shown as text in the dock, never rendered as markup."""

from __future__ import annotations

from qgis.PyQt.QtGui import QTextDocument

from mosaic.backend.data.classes import BEN19_CLASSES
from mosaic.backend.export.metadata import build_metadata
from mosaic.backend.inference.metadata import parse_metadata

HOSTILE = ['<img src="/etc/hostname">', "<b>bold</b>", "a & b", "../../x", "$(touch marker)"]


def test_dock_model_panel_escapes_metadata_text(qgis_app):
    from mosaic.plugin.model_card import details_html, summary_html

    parts = {
        "class_names": HOSTILE + list(BEN19_CLASSES[len(HOSTILE) :]),
        "strategy": "<script>x</script>",
        "training": {"dataset": '<a href="file:///tmp">data</a>', "licence": "CC-BY-4.0"},
        "metrics": {"<i>ap</i>": 0.5},
    }
    meta = parse_metadata(build_metadata(parts))
    html = summary_html(meta) + "<br>" + details_html(meta)
    assert "<img" not in html and "<script>" not in html and "<a href" not in html and "<i>" not in html
    doc = QTextDocument()
    doc.setHtml(html)
    text = doc.toPlainText()
    for shown in [*HOSTILE, "<script>x</script>", '<a href="file:///tmp">data</a>', "<i>ap</i> = 0.500"]:
        assert shown in text
    assert doc.toHtml().count("<img") == 0  # nothing for Qt to load from a path

"""README screenshots: saved into ``docs/img`` only on request, and without this machine's paths.

``make screenshots`` (``MOSAIC_UPDATE_SCREENSHOTS=1``) rewrites ``docs/img/*.png``; an ordinary test run saves them
under the test's temporary folder, so running the tests never changes tracked files.
"""

from __future__ import annotations

import os
from pathlib import Path

from qgis.PyQt.QtWidgets import QWidget

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """Where the screenshot ``name`` goes: ``docs/img`` when ``MOSAIC_UPDATE_SCREENSHOTS=1``, else ``tmp_path``."""
    folder = DOCS_IMG if os.environ.get("MOSAIC_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def show_neutral_paths(widget: QWidget, paths: dict[Path, str]) -> None:
    """Show every machine path of ``paths`` as its neutral text (e.g. ``data/…``, ``~/runs``) in the texts of
    ``widget`` and its children (labels, line edits, logs); the longest paths are replaced first."""
    pairs = sorted(((str(p), text) for p, text in paths.items()), key=lambda pair: -len(pair[0]))
    for child in [widget, *widget.findChildren(QWidget)]:
        for getter, setter in (("text", "setText"), ("toPlainText", "setPlainText")):
            if not (hasattr(child, getter) and hasattr(child, setter)):
                continue
            text = getattr(child, getter)()
            if not isinstance(text, str):
                continue
            new = text
            for old, neutral in pairs:
                new = new.replace(old, neutral)
            if new != text:
                blocked = child.blockSignals(True)  # only the shown text changes: the widget does not react
                getattr(child, setter)(new)
                child.blockSignals(blocked)

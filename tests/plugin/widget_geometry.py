"""Whether a widget is really shown to the user: its visible region (clipped by its window, the dock and any scroll
area's viewport) is its whole rectangle. Used by the README screenshot test and the desktop training probe."""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QToolButton


def fully_shown(widget) -> bool:
    """Whether ``widget`` is shown whole (not hidden, scrolled away or cut off on any side)."""
    region = widget.visibleRegion()
    return widget.isVisible() and not region.isEmpty() and region.boundingRect() == widget.rect()


def browse_button(file_widget):
    """The *…* button of a ``QgsFileWidget`` (its other tool button, the line edit's clear button, is hidden)."""
    return next(b for b in file_widget.findChildren(QToolButton) if b.text() == "…")

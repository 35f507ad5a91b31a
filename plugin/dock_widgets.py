"""Widgets and layout helpers of the dock: forms and combos that fit a narrow dock, and the status text."""

from __future__ import annotations

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QTextOption
from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QFrame, QPlainTextEdit, QWidget


def narrow_form(form: QFormLayout) -> QFormLayout:
    """``form`` with growing fields that move below their label where the dock is too narrow for both."""
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    return form


def narrow(combo: QComboBox, characters: int = 8) -> QComboBox:
    """``combo`` sized by ``characters`` rather than by its longest item, so the dock can be narrow."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(characters)
    return combo


class StatusText(QPlainTextEdit):
    """The run's status: read-only plain text that wraps anywhere (long paths too), ``lines`` high, scrolling for
    more; ``text()`` / ``setText()`` as a label's."""

    def __init__(self, parent: QWidget, lines: int) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.viewport().setAutoFillBackground(False)  # the dock's background, as a label's
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 2 * round(self.document().documentMargin()) + 2)

    def text(self) -> str:
        return self.toPlainText()

    def setText(self, text: str) -> None:
        self.setPlainText(text)

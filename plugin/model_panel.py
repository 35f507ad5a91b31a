"""The dock's model panel: the model card's summary (:mod:`.model_card`), its full record behind *Details*, and how
the model will run here: its precision, the execution provider it gets (with the fallback note when a requested one
is missing or cannot start) and, on the CPU, the int8 copy beside it with *Use the int8 copy*."""

from __future__ import annotations

from html import escape
from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from .model_card import details_html, summary_html

ERROR_STYLE = "color:#b00020"


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicModelPanel", text)


class ModelPanel(QWidget):
    """Summary, *Details*, how the model runs here; ``use_int8(path)`` when *Use the int8 copy* is clicked."""

    use_int8 = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.model_info = QLabel(self)
        self.model_info.setObjectName("mosaicModelSummary")
        self.model_info.setWordWrap(True)
        self.model_info.setTextFormat(Qt.TextFormat.RichText)
        self.details_button = QToolButton(self)
        self.details_button.setText(tr("Details"))
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.model_details = QLabel(self)
        self.model_details.setWordWrap(True)
        self.model_details.setTextFormat(Qt.TextFormat.RichText)
        self.model_details.setVisible(False)
        self.details_button.toggled.connect(self._show_details)
        self.run_note = QLabel(self)
        self.run_note.setObjectName("mosaicModelRunNote")
        self.run_note.setWordWrap(True)
        self.run_note.setTextFormat(Qt.TextFormat.RichText)
        self.int8_button = QPushButton(tr("Use the int8 copy"), self)
        self.int8_button.setObjectName("mosaicUseInt8Button")
        self.int8_button.clicked.connect(self._use_int8)
        self.int8_copy: Path | None = None  #: the int8 copy suggested (None: none)
        for widget in (self.model_info, self.details_button, self.model_details, self.run_note, self.int8_button):
            layout.addWidget(widget)
        self.show_prompt()

    def _show_details(self, shown: bool) -> None:
        self.model_details.setVisible(shown)
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def show_prompt(self) -> None:
        """No model yet: what to choose."""
        self._show(tr("Choose a model exported by MoSAiC (.onnx), or get a published one."), "", None)

    def show_error(self, message: str) -> None:
        """The model cannot be used: its one-line reason, in red."""
        self._show(f'<span style="{ERROR_STYLE}">{escape(message)}</span>', "", None)

    def show_model(self, meta, info) -> None:
        """The card of ``meta`` and how it runs here (``info``: the engine's ``ModelRunInfo``)."""
        self._show(summary_html(meta), details_html(meta), info)

    def _show(self, summary: str, details: str, info) -> None:
        self.model_info.setText(summary)
        self.model_details.setText(details)
        self.details_button.setEnabled(bool(details))
        self.int8_copy = info.int8_copy if info is not None else None
        self.run_note.setText(run_note_html(info) if info is not None else "")
        self.run_note.setVisible(info is not None)
        self.int8_button.setVisible(self.int8_copy is not None)

    def _use_int8(self) -> None:
        if self.int8_copy is not None:
            self.use_int8.emit(str(self.int8_copy))


def run_note_html(info) -> str:
    """``Runs here: fp32 on CPU (CPUExecutionProvider)``, the provider fallback note and the int8 suggestion."""
    lines = [f"<b>{tr('Runs here')}</b>: " + tr("{0} on {1}").format(escape(info.precision), escape(info.device))]
    if info.provider_note:
        lines.append(f'<span style="{ERROR_STYLE}">{escape(info.provider_note)}</span>')
    suggestion = info.suggestion()
    if suggestion:
        lines.append(escape(suggestion))
    return "<br>".join(lines)

"""The classification as a ``QgsTask``: runs in QGIS's task manager, cancellable between batches."""

from __future__ import annotations

import time

from qgis.core import QgsTask
from qgis.PyQt.QtCore import QCoreApplication, pyqtSignal

from ..backend.errors import MosaicError
from . import classify


def tr(text: str) -> str:
    return QCoreApplication.translate("ClassifyTask", text)


def format_eta(seconds: float | None) -> str:
    """``h:mm:ss`` (or ``m:ss``) of a duration; ``…`` before the first estimate."""
    if seconds is None:
        return "…"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ClassifyTask(QgsTask):
    """Runs :func:`classify.execute`; emits ``progress_text`` (ETA) and finishes with ``result`` or ``error``."""

    progress_text = pyqtSignal(str)

    def __init__(self, request: classify.ClassifyRequest, model, reader, run_name: str) -> None:
        super().__init__(tr("MoSAiC classification: {0}").format(run_name), QgsTask.Flag.CanCancel)
        self.request, self.model, self.reader, self.run_name = request, model, reader, run_name
        self.result: classify.ClassifyResult | None = None
        self.error: str = ""
        self.cancelled_by_user = False
        self.on_finished = None  #: callable(task) run in the main thread when the task ends

    def _progress(self, p) -> None:
        self.setProgress(100.0 * p.done / max(p.total, 1))
        self.progress_text.emit(
            tr("{0} of {1} tiles · {2} elapsed · {3} left").format(
                p.done, p.total, format_eta(p.elapsed_s), format_eta(p.eta_s)
            )
        )

    def run(self) -> bool:
        start = time.perf_counter()
        try:
            self.result = classify.execute(
                self.request, self.model, self.reader, self._progress, self.isCanceled, tags=self.reader.plan.tags()
            )
        except MosaicError as exc:
            self.error = str(exc)
            self.cancelled_by_user = self.isCanceled()
            return False
        except Exception as exc:  # a bug: keep QGIS alive and report it
            self.error = tr("Unexpected error: {0}").format(repr(exc))
            return False
        self.result.extra["seconds"] = time.perf_counter() - start
        self.result.extra["plan"] = self.reader.plan  # what the input inspector applied, shown by the dock
        return True

    def finished(self, ok: bool) -> None:
        if not ok and self.isCanceled():
            self.cancelled_by_user = True
        if self.on_finished is not None:
            self.on_finished(self)

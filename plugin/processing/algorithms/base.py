"""Shared pieces of the MoSAiC algorithms: naming, help, and running a backend command as a subprocess."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingParameterFile
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ...backend_env import backend_python
from ...backend_process import BackendProcess
from ...paths import ICON_PATH
from ...progress_stream import percent


class MosaicAlgorithm(QgsProcessingAlgorithm):
    """Base: group, icon, translated strings and a fresh instance per ``createInstance``."""

    NAME = ""
    DISPLAY = ""
    HELP = ""

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("MosaicProcessing", text)

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:
        return self.tr(self.DISPLAY)

    def group(self) -> str:
        return self.tr("Land cover")

    def groupId(self) -> str:
        return "landcover"

    def shortHelpString(self) -> str:
        return self.tr(self.HELP)

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def createInstance(self):
        return type(self)()

    def add_backend_python_parameter(self) -> None:
        """Optional ``BACKEND_PYTHON`` file parameter (empty: the interpreter from the plugin settings)."""
        self.addParameter(
            QgsProcessingParameterFile(
                "BACKEND_PYTHON",
                self.tr("Backend Python (default: the setting)"),
                optional=True,
                fileFilter="All files (*)",
            )
        )


def resolve_backend_python(explicit: str) -> str:
    """The backend interpreter: the algorithm's parameter, else the setting made in the training dialog."""
    python = explicit.strip() or backend_python()
    if not python or not Path(python).is_file():
        raise QgsProcessingException(
            QCoreApplication.translate(
                "MosaicProcessing",
                "No backend Python is set: give BACKEND_PYTHON, or create one in the MoSAiC training dialog.",
            )
        )
    return python


def run_backend(argv: list[str], feedback, cwd: str | None = None) -> dict:
    """Run ``argv`` with :class:`~mosaic.plugin.backend_process.BackendProcess`; progress → ``feedback``; returns
    the last ``done`` event.

    Cancelling in Processing stops the subprocess (Ctrl-C: the trainer saves a checkpoint) and waits for it.
    Raises :class:`QgsProcessingException` with the backend's own error sentence when it fails.
    """
    feedback.pushCommandInfo(" ".join(argv))
    backend = BackendProcess()

    def on_event(event: dict) -> None:
        value = percent(event)
        if value is not None:
            feedback.setProgress(value)
        if event["event"] in ("epoch", "checkpoint"):
            feedback.pushInfo(str({k: v for k, v in event.items() if k != "event"}))

    backend.progress.connect(on_event)
    backend.output.connect(feedback.pushConsoleInfo)
    code = backend.run(argv, cwd, feedback.isCanceled)
    if feedback.isCanceled():
        raise QgsProcessingException(QCoreApplication.translate("MosaicProcessing", "Cancelled."))
    if code != 0:
        raise QgsProcessingException(
            backend.error
            or QCoreApplication.translate(
                "MosaicProcessing", "The backend command failed with exit status {0}; see the log."
            ).format(code)
        )
    return backend.done

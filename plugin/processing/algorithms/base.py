"""Shared pieces of the MoSAiC algorithms: naming, help, and running a backend command as a subprocess."""

from __future__ import annotations

import signal
import subprocess  # nosec B404
import sys
from pathlib import Path

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingParameterFile
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ...backend_env import backend_python, subprocess_environment
from ...paths import ICON_PATH
from ...progress_stream import parse_line, percent


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


def interrupt(process: subprocess.Popen, timeout_s: float = 60.0, grace_s: float = 15.0) -> None:
    """Ctrl-C the backend: training finishes its step, saves a checkpoint and exits; after ``grace_s`` a second
    Ctrl-C makes it save at once; it is killed when it has not stopped after ``timeout_s``."""
    if sys.platform == "win32":
        process.terminate()
    else:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
    try:
        process.wait(max(timeout_s - grace_s, 1.0))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_backend(argv: list[str], feedback, cwd: str | None = None) -> dict:
    """Run ``argv`` (no shell); JSON-lines progress → ``feedback``; returns the last ``done`` event.

    Cancelling in Processing interrupts the subprocess (Ctrl-C: the trainer saves a checkpoint) and waits.
    Raises :class:`QgsProcessingException` with the backend's own error sentence when it fails.
    """
    feedback.pushCommandInfo(" ".join(argv))
    process = subprocess.Popen(  # noqa: S603 # nosec B603
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=subprocess_environment(),
        cwd=cwd,
    )
    done, error = {}, ""
    assert process.stdout is not None
    for line in process.stdout:
        if feedback.isCanceled():
            interrupt(process)
            break
        event = parse_line(line)
        if event is None:
            feedback.pushConsoleInfo(line.rstrip("\n"))
            if line.startswith("mosaic ") and ": error: " in line:
                error = line.split(": error: ", 1)[1].strip()
            continue
        value = percent(event)
        if value is not None:
            feedback.setProgress(value)
        if event["event"] == "done":
            done = event
        elif event["event"] == "error":
            error = event.get("message", "")
        elif event["event"] in ("epoch", "checkpoint"):
            feedback.pushInfo(str({k: v for k, v in event.items() if k != "event"}))
    code = process.wait()
    if feedback.isCanceled():
        raise QgsProcessingException(QCoreApplication.translate("MosaicProcessing", "Cancelled."))
    if code != 0:
        raise QgsProcessingException(
            error
            or QCoreApplication.translate(
                "MosaicProcessing", "The backend command failed with exit status {0}; see the log."
            ).format(code)
        )
    return done

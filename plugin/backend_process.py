"""One runner for backend commands (``<backend python> -m mosaic.backend.cli ...``), used by the training dialog
and by the Processing algorithms: a ``QProcess`` (argv list, no shell) that reads the JSON-lines progress stream
(docs/contracts.md), keeps the backend's one-line error and stops a run without losing its checkpoint.

Stopping (:meth:`BackendProcess.stop`): an interrupt (Ctrl-C: training finishes its step, saves
``interrupted.ckpt`` and exits), a second one after :data:`STEP_GRACE_S` (it saves at once), a kill after
:data:`KILL_AFTER_S`. The dialog stops without blocking (the later steps are pid-checked timers of the event
loop); Processing, in its worker thread without an event loop, blocks until the process has gone.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from qgis.PyQt.QtCore import QCoreApplication, QObject, QProcess, QProcessEnvironment, QTimer, pyqtSignal

from .backend_env import subprocess_environment
from .progress_stream import parse_line

STEP_GRACE_S = 15.0  #: after a stop request the running step has this long before a second interrupt
KILL_AFTER_S = 60.0  #: after a stop request the backend has this long to save its checkpoint, then it is killed
ERROR_MARK = ": error: "  #: ``mosaic <command>: error: <sentence>``, the CLI's one line on stderr


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicBackend", text)


class BackendProcess(QObject):
    """A backend command run as a subprocess; ``progress`` carries its JSON-lines events, ``output`` any other
    output line (stdout or stderr), ``ended`` its exit status (-1: killed, crashed or not started)."""

    progress = pyqtSignal(dict)
    output = pyqtSignal(str)
    ended = pyqtSignal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process = QProcess(self)
        self.error = ""  #: the backend's own error sentence (an ``error`` event, else its ``: error:`` line)
        self.done: dict = {}  #: the last ``done`` event
        self._not_started = False
        self._buffers = {QProcess.ProcessChannel.StandardOutput: b"", QProcess.ProcessChannel.StandardError: b""}
        self.process.readyReadStandardOutput.connect(lambda: self._read(QProcess.ProcessChannel.StandardOutput))
        self.process.readyReadStandardError.connect(lambda: self._read(QProcess.ProcessChannel.StandardError))
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)

    def start(self, argv: list[str], cwd: str | None = None) -> None:
        """Start ``argv`` in ``cwd`` with :func:`~.backend_env.subprocess_environment`; returns at once."""
        environment = QProcessEnvironment()
        for key, value in subprocess_environment().items():
            environment.insert(key, value)
        self.process.setProcessEnvironment(environment)
        self.process.setWorkingDirectory(cwd or "")
        self.error, self.done, self._not_started = "", {}, False
        self._buffers = dict.fromkeys(self._buffers, b"")
        self.process.start(argv[0], argv[1:])

    def run(self, argv: list[str], cwd: str | None, cancelled: Callable[[], bool]) -> int:
        """Run ``argv`` to its end, blocking (no event loop needed); :meth:`stop` as soon as ``cancelled()``.

        Returns the exit status, -1 when the process was killed, crashed or did not start.
        """
        self.start(argv, cwd)
        if self.process.waitForStarted(30_000):
            while self.is_running() and not self.process.waitForFinished(200):
                if cancelled():
                    self.stop(wait=True)
        return self.exit_code()

    def is_running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def exit_code(self) -> int:
        """Exit status of the last run; -1 when it was killed, crashed or did not start."""
        if self._not_started or self.process.exitStatus() != QProcess.ExitStatus.NormalExit:
            return -1
        return int(self.process.exitCode())

    def stop(self, wait: bool = False, grace_s: float = STEP_GRACE_S, timeout_s: float = KILL_AFTER_S) -> None:
        """Interrupt now, again after ``grace_s``, kill after ``timeout_s``; each step only if this run is still
        going. ``wait``: block until the process has stopped, else return at once (timers do the later steps)."""
        if not self.is_running():
            return
        pid = int(self.process.processId())
        self._interrupt()
        elapsed = 0.0
        for at_s, action in ((grace_s, self._interrupt), (max(timeout_s, grace_s), self.process.kill)):
            if not wait:
                self.later(round(1000 * at_s), pid, action)
            elif self.process.waitForFinished(round(1000 * (at_s - elapsed))):
                return
            else:
                elapsed = at_s
                self._if_running(pid, action)
        if wait:
            self.process.waitForFinished(5_000)

    def later(self, ms: int, pid: int, action: Callable[[], object]) -> None:
        """``action()`` after ``ms`` if the run with ``pid`` still goes — not a later run started meanwhile (a
        child timer of the process object, so it also goes when the process object does)."""
        timer = QTimer(self.process)
        timer.setSingleShot(True)
        timer.timeout.connect(lambda: self._if_running(pid, action))
        timer.start(ms)

    def _if_running(self, pid: int, action: Callable[[], object]) -> None:
        if self.is_running() and int(self.process.processId()) == pid:
            action()

    def _interrupt(self) -> None:
        """Ctrl-C (SIGINT) the backend; Windows, where one child cannot get a console Ctrl-C, asks it to close."""
        if sys.platform == "win32":
            self.process.terminate()
        else:
            os.kill(int(self.process.processId()), signal.SIGINT)

    def _read(self, channel: QProcess.ProcessChannel, flush: bool = False) -> None:
        stdout = channel == QProcess.ProcessChannel.StandardOutput
        chunk = self.process.readAllStandardOutput() if stdout else self.process.readAllStandardError()
        data = self._buffers[channel] + bytes(chunk)
        *lines, self._buffers[channel] = data.split(b"\n")
        if flush:
            lines.append(self._buffers[channel])
            self._buffers[channel] = b""
        for raw in lines:
            text = raw.decode("utf-8", errors="replace").rstrip()
            event = parse_line(text) if stdout else None
            if event is not None:
                if event["event"] == "done":
                    self.done = event
                elif event["event"] == "error":
                    self.error = event.get("message", "") or self.error
                self.progress.emit(event)
            elif text:
                if text.startswith("mosaic ") and ERROR_MARK in text and not self.error:
                    self.error = text.split(ERROR_MARK, 1)[1].strip()
                self.output.emit(text)

    def _finished(self, *_status) -> None:
        for channel in self._buffers:
            self._read(channel, flush=True)
        self.ended.emit(self.exit_code())

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._not_started = True
            self.error = tr("Could not start the backend Python {0}.").format(self.process.program())
            self.ended.emit(-1)

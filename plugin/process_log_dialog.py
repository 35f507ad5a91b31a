"""A dialog that runs a sequence of commands (``QProcess``, no shell) and shows their output live."""

from __future__ import annotations

from collections.abc import Callable

from qgis.PyQt.QtCore import QCoreApplication, QProcess, pyqtSignal
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout


def tr(text: str) -> str:
    return QCoreApplication.translate("ProcessLogDialog", text)


class ProcessLogDialog(QDialog):
    """Runs ``commands`` (argv lists) one after the other; stops at the first failure.

    ``finished_all(ok)`` is emitted once: ``True`` when every command exited with status 0. ``hide_line(line)``:
    True for output lines the log leaves out (known harmless noise).
    """

    finished_all = pyqtSignal(bool)

    def __init__(
        self, title: str, commands: list[list[str]], parent=None, hide_line: Callable[[str], bool] | None = None
    ) -> None:
        super().__init__(parent)
        self._hide_line = hide_line or (lambda _line: False)
        self._partial = ""  #: output after the last line break, completed by the next read
        self.setWindowTitle(title)
        self.setObjectName("mosaicProcessLogDialog")
        self.resize(720, 420)
        self._commands = [list(c) for c in commands]
        self._index = -1
        self.ok: bool | None = None
        self.status = QLabel(self)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setText(tr("Cancel"))
        self.buttons.rejected.connect(self._cancel_or_close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.log)
        layout.addWidget(self.buttons)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read_output)
        self.process.finished.connect(self._step_finished)
        self.process.errorOccurred.connect(self._failed_to_start)

    def start(self) -> None:
        """Start the first command (the dialog is usually shown just before)."""
        self._run_next()

    def _run_next(self) -> None:
        self._index += 1
        if self._index >= len(self._commands):
            self._finish(True)
            return
        argv = self._commands[self._index]
        self.status.setText(tr("Step {0} of {1}…").format(self._index + 1, len(self._commands)))
        self.log.appendPlainText("$ " + " ".join(argv))
        self.process.start(argv[0], argv[1:])

    def _read_output(self, flush: bool = False) -> None:
        text = self._partial + bytes(self.process.readAllStandardOutput()).decode("utf-8", errors="replace")
        *lines, self._partial = text.split("\n")
        if flush:
            lines.append(self._partial)
            self._partial = ""
        for line in lines:
            line = line.rstrip("\r")
            if line and not self._hide_line(line):
                self.log.appendPlainText(line)

    def _step_finished(self, exit_code: int, exit_status) -> None:
        self._read_output(flush=True)
        if exit_status == QProcess.ExitStatus.NormalExit and exit_code == 0:
            self._run_next()
        else:
            self.log.appendPlainText(tr("Command failed with exit status {0}.").format(exit_code))
            self._finish(False)

    def _failed_to_start(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.log.appendPlainText(tr("Could not start {0}.").format(self._commands[self._index][0]))
            self._finish(False)

    def _finish(self, ok: bool) -> None:
        if self.ok is not None:
            return
        self.ok = ok
        self.status.setText(tr("Done.") if ok else tr("Failed: see the log above."))
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setText(tr("Close"))
        self.finished_all.emit(ok)

    def _cancel_or_close(self) -> None:
        if self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()
            self.process.waitForFinished(3000)
        self.reject()

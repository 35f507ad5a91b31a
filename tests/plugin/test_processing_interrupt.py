"""Cancelling a backend run (the runner of Processing and the training dialog): Ctrl-C, a second Ctrl-C after the
grace time, kill at the end; Processing's cancel and the backend's one-line error through ``run_backend``."""

from __future__ import annotations

import sys
import time

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback
from qgis.PyQt.QtCore import QProcess

from mosaic.plugin.backend_process import BackendProcess
from mosaic.plugin.processing.algorithms.base import run_backend

# A stand-in for `mosaic train` with a long step: the first SIGINT is only noted, the second one stops it (exit 130).
TRAINER = """
import signal, sys, time
count = 0
def on_sigint(signum, frame):
    global count
    count += 1
    print(f"sigint {count}", flush=True)
    if count >= int(sys.argv[1]):
        sys.exit(130)
signal.signal(signal.SIGINT, on_sigint)
print("ready", flush=True)
while True:
    time.sleep(0.01)
"""


def start(stop_after: int) -> tuple[BackendProcess, list[str]]:
    """The stand-in running under the runner, once it has said ``ready``; its output lines are collected."""
    backend, lines = BackendProcess(), []
    backend.output.connect(lines.append)
    backend.start([sys.executable, "-c", TRAINER, str(stop_after)])
    deadline = time.monotonic() + 30
    while "ready" not in lines:
        assert time.monotonic() < deadline, "the stand-in did not start"
        backend.process.waitForReadyRead(100)
    return backend, lines


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_backend_that_stops_at_the_first_interrupt_gets_one():
    backend, lines = start(stop_after=1)
    t0 = time.monotonic()
    backend.stop(wait=True, grace_s=5, timeout_s=20)
    assert backend.exit_code() == 130 and time.monotonic() - t0 < 5
    assert lines == ["ready", "sigint 1"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_long_step_gets_a_second_interrupt_after_the_grace_time():
    backend, lines = start(stop_after=2)
    t0 = time.monotonic()
    backend.stop(wait=True, grace_s=0.5, timeout_s=20)
    assert backend.exit_code() == 130 and 0.5 <= time.monotonic() - t0 < 20
    assert lines == ["ready", "sigint 1", "sigint 2"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_backend_that_never_stops_is_killed_at_the_timeout():
    backend, lines = start(stop_after=99)
    t0 = time.monotonic()
    backend.stop(wait=True, grace_s=0.5, timeout_s=1.5)
    assert backend.process.exitStatus() == QProcess.ExitStatus.CrashExit and backend.exit_code() == -1  # SIGKILL
    assert 1.5 <= time.monotonic() - t0 < 10 and lines == ["ready", "sigint 1", "sigint 2"]


class CancelWhenReady(QgsProcessingFeedback):
    """Processing's feedback whose user presses Cancel once the backend has said ``ready``."""

    def __init__(self) -> None:
        super().__init__()
        self.console: list[str] = []

    def pushConsoleInfo(self, info: str) -> None:
        self.console.append(info)
        if info == "ready":
            self.cancel()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cancel_in_processing_interrupts_the_backend_and_says_cancelled():
    feedback = CancelWhenReady()
    t0 = time.monotonic()
    with pytest.raises(QgsProcessingException, match=r"^Cancelled"):
        run_backend([sys.executable, "-c", TRAINER, "1"], feedback)
    assert feedback.console == ["ready", "sigint 1"] and time.monotonic() - t0 < 10


FAILING = """
import json, sys
if sys.argv[1] == "event":
    print(json.dumps({"event": "error", "message": "the event's sentence"}), flush=True)
print("mosaic prepare: error: the stderr sentence", file=sys.stderr, flush=True)
sys.exit(2)
"""


@pytest.mark.parametrize(("kind", "sentence"), [("event", "the event's sentence"), ("line", "the stderr sentence")])
def test_a_failing_backend_raises_its_one_sentence(kind, sentence):
    """The ``error`` event wins; without one, the CLI's ``mosaic <command>: error:`` line on stderr."""
    feedback = QgsProcessingFeedback()
    with pytest.raises(QgsProcessingException) as raised:
        run_backend([sys.executable, "-c", FAILING, kind], feedback)
    assert str(raised.value) == sentence

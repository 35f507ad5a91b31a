"""Cancelling a backend run from Processing: Ctrl-C, a second Ctrl-C after the grace time, kill at the end."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from mosaic.plugin.processing.algorithms.base import interrupt

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


def start(stop_after: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", TRAINER, str(stop_after)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_backend_that_stops_at_the_first_interrupt_gets_one():
    proc = start(stop_after=1)
    t0 = time.monotonic()
    interrupt(proc, timeout_s=20, grace_s=5)
    assert proc.returncode == 130 and time.monotonic() - t0 < 5
    assert proc.stdout.read().split() == ["sigint", "1"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_long_step_gets_a_second_interrupt_after_the_grace_time():
    proc = start(stop_after=2)
    t0 = time.monotonic()
    interrupt(proc, timeout_s=20, grace_s=0.5)
    assert proc.returncode == 130 and 0.5 <= time.monotonic() - t0 < 20
    assert proc.stdout.read().split() == ["sigint", "1", "sigint", "2"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_backend_that_never_stops_is_killed_at_the_timeout():
    proc = start(stop_after=99)
    interrupt(proc, timeout_s=1.5, grace_s=0.5)
    assert proc.returncode == -9  # SIGKILL

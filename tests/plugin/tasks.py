"""Waiting for the plugin's background tasks in tests."""

from __future__ import annotations


def wait_for_task(qtbot, dock, timeout_ms=120_000):
    """Process Qt events until ``dock`` has no running task (fails after ``timeout_ms``)."""
    qtbot.waitUntil(lambda: dock.task is None, timeout=timeout_ms)

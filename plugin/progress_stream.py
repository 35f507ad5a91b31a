"""Reading the backend's JSON-lines progress stream (``--progress-jsonl``; see docs/contracts.md)."""

from __future__ import annotations

import json

EVENTS = frozenset(
    {"start", "step", "epoch", "checkpoint", "done", "error", "progress", "dataset"}
    | {"download", "verified", "import", "model"}  # mosaic models get / import reben
)


def parse_line(line: str) -> dict | None:
    """The event dict of one stdout line, or ``None`` for any line that is not a known JSON event."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") not in EVENTS:
        return None
    return event


def percent(event: dict) -> float | None:
    """Progress in % carried by an event: ``100 * step / total_steps`` for steps, 100 when done."""
    if event["event"] == "done":
        return 100.0
    total = event.get("total_steps") or event.get("total")
    done = event.get("step", event.get("done"))
    if total and done is not None:
        return max(0.0, min(100.0, 100.0 * float(done) / float(total)))
    return None

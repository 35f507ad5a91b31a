"""JSON-lines progress events of ``mosaic import`` and ``mosaic models get`` (``--progress-jsonl``), one object per
line on a stream (the plugin's backend runner reads stdout); see docs/contracts.md for the events."""

from __future__ import annotations

import json
from typing import IO, Any


class Events:
    """``events("download", file=..., done_bytes=...)`` writes ``{"event": "download", ...}`` and flushes;
    without a stream it does nothing."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def __call__(self, event: str, **fields: Any) -> None:
        if self.stream is not None:
            self.stream.write(json.dumps({"event": event, **fields}) + "\n")
            self.stream.flush()

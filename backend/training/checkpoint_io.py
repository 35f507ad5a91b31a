"""Checkpoint files that are either complete or absent, even when the process is killed while writing."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes ``<name>.partial`` beside the target, flushes it to disk (fsync), then renames it over the target.

    ``os.replace`` within one folder is atomic on POSIX and Windows, so a SIGKILL or power loss leaves the previous
    complete checkpoint or the new complete one, never a truncated file (Lightning's own save renames from the
    system temp folder, which is a copy, not a rename, when that lies on another file system).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)

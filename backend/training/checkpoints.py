"""Training checkpoints: read safely (only ``torch.load(weights_only=True)``) and written whole.

A Lightning ``.ckpt`` is a zip with a pickle inside. ``weights_only=True`` restricts unpickling to tensors and
plain data (dict, list, str, numbers, ...), so a file that names any other Python callable — which a full
unpickle would *call* — is refused before anything in it runs.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from ..atomic import atomic_write
from ..errors import InputError

_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def unsafe_checkpoint_error(path: str | os.PathLike, exc: pickle.UnpicklingError) -> InputError:
    """The user-facing refusal of a checkpoint whose pickle holds objects other than tensors and plain data."""
    found = _GLOBAL.search(str(exc))
    what = f"the Python object {found.group(1)}" if found else "Python objects other than tensors and plain data"
    return InputError(
        f"refusing checkpoint {Path(path).name}: it contains {what}, which loading would run as code; "
        "use a .ckpt written by `mosaic train` from a source you trust."
    )


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dict at ``path``, loaded with ``weights_only=True`` and ``mmap=True`` (tensors are mapped,
    not read); :class:`InputError` when the file is missing, damaged, or holds pickled code."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist; give the path of a .ckpt file from `mosaic train`.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        raise unsafe_checkpoint_error(path, exc) from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read checkpoint {path.name} ({reason}); give a .ckpt from `mosaic train`.") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise InputError(f"{path.name} is not a training checkpoint (no state_dict); give a .ckpt from `mosaic train`.")
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves checkpoints with :func:`~mosaic.backend.atomic.atomic_write`: a SIGKILL or power loss leaves the previous
    complete checkpoint or the new complete one, never a truncated file (Lightning's own save renames from the
    system temp folder, which is a copy, not a rename, when that lies on another file system)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))

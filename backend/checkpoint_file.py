"""Reading training checkpoints from users safely: only ``torch.load(weights_only=True)``.

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

from .errors import InputError

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
    import torch

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


def checkpoint_dataset(
    checkpoint: str | os.PathLike,
    split: str,
    class_names: list[str],
    data_root: str | os.PathLike | None = None,
    dataset_options: dict[str, Any] | None = None,
):
    """The ``split`` of the dataset ``checkpoint`` was trained on (or of ``data_root``), in the checkpoint's band
    set and options; :class:`InputError` when the folder is unknown or the split is empty."""
    from .data import make_dataset

    data_h = dict(read_checkpoint(checkpoint).get("datamodule_hyper_parameters") or {})
    root = data_root or data_h.get("root")
    if not root:
        raise InputError(f"{checkpoint} does not record its dataset folder; pass --data-root")
    options = {**(data_h.get("options") or {}), **(dataset_options or {})}
    ds = make_dataset(
        data_h.get("dataset", "bigearthnet_v2"),
        root=str(root),
        split=split,
        s2_bands=data_h.get("s2_band_set", "s2_10"),
        class_names=class_names,
        **options,
    )
    if len(ds) == 0:
        raise InputError(f"the {split!r} split of {root} is empty; choose another --split / --val-split")
    return ds

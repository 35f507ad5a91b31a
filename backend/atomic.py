"""Files that appear whole or not at all: write to a temporary name beside the target, then rename."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` to a temporary name beside ``path``, then rename it to ``path`` (never a half-written file).

    ``os.replace`` within one folder is atomic on POSIX and Windows; the temporary file is removed when ``write``
    fails.
    """
    tmp = path.with_name(f".{path.name}.partial")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

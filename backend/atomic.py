"""Files that appear whole or not at all: write to a temporary name beside the target, flush it, then rename."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def partial_path(path: Path) -> Path:
    """The temporary name of ``path`` while it is written: hidden, beside it, same extension (GDAL picks drivers by
    extension): ``dir/.name.partial.tif`` for ``dir/name.tif``."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` to :func:`partial_path`, flush it to disk, then rename it to ``path``: never a half-written file.

    ``os.replace`` within one folder is atomic on POSIX and Windows. The data is flushed (``fsync``) before the
    rename and the folder after it, so after a crash or power loss ``path`` holds the previous complete file or the
    new complete one. The temporary file is removed when ``write`` fails.
    """
    path = Path(path)
    tmp = partial_path(path)
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Persist a rename in ``folder`` (POSIX; Windows cannot open folders and flushes renames itself)."""
    if os.name != "posix":
        return
    _fsync(folder)

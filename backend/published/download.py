"""Downloading one file over HTTP(S) into a cache: resumable, verified, never left half-written under its name.

A file is written to a hidden ``.<name>.part`` beside its target and renamed only after its checks pass. A run that
is interrupted (Ctrl-C, a killed process, a dropped connection) leaves the ``.part``; the next run asks the server
for the rest (``Range: bytes=<size>-``) and appends it, or starts again when the server sends the whole file.

Checks, in this order, each where the expectation is known: the size the server announced for the whole file
(``Content-Range`` / ``Content-Length``, or Hugging Face's ``X-Linked-Size`` of the LFS file), the approximate size
of the catalogue (±2 %), and the SHA-256: the catalogue's, else the one the server announces (Hugging Face's
``X-Linked-Etag`` of an LFS file). A file that fails is deleted and refused in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

SOURCE_FILE = "source.json"  #: written beside the downloaded files: where they came from and how they were checked
CHUNK = 1 << 20  #: bytes read per step
TIMEOUT_S = 30.0  #: socket timeout of each request
APPROX_TOLERANCE = 0.02  #: the catalogue's approximate sizes are within ±2 % of the real ones
_SHA256 = re.compile(r'^"?([0-9a-f]{64})"?$')
_CONTENT_RANGE = re.compile(r"bytes (?:\d+-\d+|\*)/(\d+)")


class DownloadError(InputError):
    """A download that failed its checks (the file was deleted) or could not be made."""


class UnreachableError(DownloadError):
    """The server could not be reached or refused the file (offline, blocked, moved)."""


@dataclass(frozen=True)
class Downloaded:
    """A verified file: its path, size, SHA-256 and what they were checked against."""

    path: Path
    size: int
    sha256: str
    checked_against: str  #: ``catalogue SHA-256``, ``server SHA-256`` or ``size only``
    commit: str | None = None  #: the repository commit the server resolved the revision to (``X-Repo-Commit``)


def default_cache() -> Path:
    """The published-model cache: ``$MOSAIC_CACHE`` (the project's cache root, as ``tools/setup_env.sh``), else the
    user's cache folder (``%LOCALAPPDATA%`` on Windows, ``$XDG_CACHE_HOME`` or ``~/.cache``) ``/mosaic-qgis``;
    then ``published-models``."""
    root = os.environ.get("MOSAIC_CACHE")
    if not root:
        base = os.environ.get("LOCALAPPDATA") if os.name == "nt" else os.environ.get("XDG_CACHE_HOME")
        root = str(Path(base or Path.home() / ".cache") / "mosaic-qgis")
    return Path(root) / "published-models"


def imported_model_path(cache: Path, name: str, out_dir: Path | None = None) -> Path:
    """Where ``mosaic models get NAME`` writes the imported model: ``<out_dir>/NAME.onnx``, by default
    ``<cache>/onnx/NAME.onnx``."""
    return (cache / "onnx" if out_dir is None else out_dir) / f"{name}.onnx"


def part_path(target: Path) -> Path:
    """Where ``target`` is written while it downloads."""
    return target.with_name(f".{target.name}.part")


def download_file(
    url: str,
    target: Path,
    sha256: str | None = None,
    approx_size: float | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Downloaded:
    """``url`` → ``target``, resuming a ``.part`` left by an interrupted run, checked (module docstring).

    ``progress(done_bytes, total_bytes or None)`` is called after every chunk. An existing ``target`` is checked
    and kept. :class:`UnreachableError` when the server cannot be reached or refuses; :class:`DownloadError` when
    the file fails a check (it is deleted).
    """
    target = Path(target)
    if target.is_file():
        return _check(target, target, sha256, None, approx_size, "", None)
    if not url.startswith(("https://", "http://")):
        raise DownloadError(f"refusing to download {url}: only http(s) addresses are fetched.")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(target)
    announced = _fetch(url, part, progress)
    return _check(part, target, sha256, announced.size, approx_size, announced.sha256 or "", announced.commit)


@dataclass(frozen=True)
class _Announced:
    size: int | None
    sha256: str | None
    commit: str | None


class _RedirectHeaders(urllib.request.HTTPRedirectHandler):
    """Follows redirects (keeping the ``Range`` header) and keeps the headers of each redirect response: Hugging Face
    announces an LFS file's SHA-256 and size on the redirect, not on the file's host."""

    def __init__(self) -> None:
        self.seen: list = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.seen.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, part: Path, progress) -> _Announced:
    """Append the missing bytes of ``url`` to ``part`` (all of them when the server ignores ``Range``)."""
    from ..version import __version__

    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"mosaic-qgis/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    redirects = _RedirectHeaders()
    opener = urllib.request.build_opener(redirects)
    try:
        response = opener.open(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)  # noqa: S310  # nosec B310
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part holds the whole file already
            found = _CONTENT_RANGE.search(exc.headers.get("Content-Range", ""))
            return _announced([*redirects.seen, exc.headers], int(found[1]) if found else None)
        raise UnreachableError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UnreachableError(f"cannot reach {url} ({getattr(exc, 'reason', exc)})") from None
    with response:
        if offset and response.status != 206:  # the server sends the whole file: start again
            offset = 0
        found = _CONTENT_RANGE.search(response.headers.get("Content-Range", ""))
        length = response.headers.get("Content-Length")
        total = int(found[1]) if found else (offset + int(length) if length else None)
        done = offset
        try:
            with open(part, "ab" if offset else "wb") as fh:
                while block := response.read(CHUNK):
                    fh.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
        except OSError as exc:  # a dropped connection: the .part stays for the next run
            raise UnreachableError(f"the download of {url} broke off after {done} bytes ({exc})") from None
    return _announced([*redirects.seen, response.headers], total)


def _announced(header_sets: list, total: int | None) -> _Announced:
    """The size, SHA-256 and commit the server announced (the last of the redirect chain that says each)."""
    sha, size, commit = None, total, None
    for h in header_sets:
        found = _SHA256.match((h.get("X-Linked-Etag") or "").strip())
        sha = found[1] if found else sha
        size = int(h["X-Linked-Size"]) if (h.get("X-Linked-Size") or "").isdigit() else size
        commit = h.get("X-Repo-Commit") or commit
    return _Announced(size, sha, commit)


def _check(
    path: Path,
    target: Path,
    sha256: str | None,
    size: int | None,
    approx_size: float | None,
    server_sha: str,
    commit: str | None,
) -> Downloaded:
    """Check ``path`` (see the module docstring) and move it to ``target``; delete it and raise when it fails."""
    got = path.stat().st_size
    problem = None
    if size is not None and got != size:
        problem = f"it has {got} bytes but the server announced {size}"
    elif approx_size and abs(got - approx_size) > APPROX_TOLERANCE * approx_size:
        problem = f"it has {got} bytes, far from the catalogue's {approx_size / 1e6:.1f} MB"
    digest = sha256_of(path) if problem is None else ""
    expected, against = (sha256, "catalogue SHA-256") if sha256 else (server_sha, "server SHA-256")
    if problem is None and expected and digest != expected:
        problem = f"its SHA-256 {digest[:12]}… differs from the {against} {expected[:12]}…"
    if problem is not None:
        path.unlink(missing_ok=True)
        raise DownloadError(
            f"{target.name} of {target.parent} failed its check ({problem}); it was deleted: run the command again, "
            "and if it fails again the file on the server has changed."
        )
    if path != target:
        os.replace(path, target)
    return Downloaded(target, got, digest, against if expected else "size only", commit)


def write_source(folder: Path, record: dict) -> None:
    """Record where the files of ``folder`` came from (:data:`SOURCE_FILE`)."""
    (folder / SOURCE_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")


def read_source(folder: Path) -> dict:
    """The :data:`SOURCE_FILE` of ``folder``, or ``{}`` (a folder downloaded by hand)."""
    try:
        record = json.loads((Path(folder) / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def throttled(report: Callable[[int, int | None], None], every_s: float = 0.5):
    """``report`` called at most every ``every_s`` seconds, and always for the last chunk (done == total)."""
    last = [0.0]

    def call(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s or done == total:
            last[0] = now
            report(done, total)

    return call


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the file at ``path``, read in ``chunk``-byte pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()

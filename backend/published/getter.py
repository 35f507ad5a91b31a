"""``get_models``: published models by catalogue name → downloaded checkpoints in the cache → imported ONNX models.

Cache layout: ``<cache>/<model id>/<revision>/`` holds ``config.json``, ``model.safetensors`` and ``source.json``
(where they came from, their SHA-256 and what it was checked against); imported models go to ``<out>/<name>.onnx``
(default ``<cache>/onnx``). A model imported already is kept (``overwrite`` imports again). When the server cannot be
reached, one line names the files to fetch by hand and the ``mosaic import reben`` command that imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .catalogue import Catalogue, Entry, load_catalogue
from .download import (
    Downloaded,
    UnreachableError,
    default_cache,
    download_file,
    imported_model_path,
    throttled,
    write_source,
)


@dataclass(frozen=True)
class GetRequest:
    """``mosaic models get NAME... [--cache DIR] [--out DIR] [--no-import] [--overwrite] [--catalogue FILE]``."""

    names: Sequence[str]
    cache: str | None = None
    out: str | None = None
    import_models: bool = True
    overwrite: bool = False
    catalogue: str | None = None


def get_models(request: GetRequest, events: Callable[..., None], bar: Callable | None = None) -> dict:
    """Download (and import) every model of ``request``; returns ``{"models": {name: onnx path or None},
    "folders": {name: {head: checkpoint folder}}}``.

    ``events(event, **fields)`` receives ``start``, ``download``, ``verified``, ``import``, ``model`` (see
    docs/contracts.md); ``bar(total_bytes, description)`` makes a progress bar (tqdm) for each file, or None.
    """
    catalogue = load_catalogue(request.catalogue)
    plan = {name: catalogue.resolve(name) for name in request.names}
    cache = Path(request.cache) if request.cache else default_cache()
    out_dir = Path(request.out) if request.out else None
    events(
        "start",
        models=list(plan),
        checkpoints=sorted({e.id for heads in plan.values() for e in heads.values()}),
        approx_bytes=int(sum(e.approx_size_mb * 1e6 for e in _unique(plan))),
        cache=str(cache),
    )
    result: dict = {"models": {}, "folders": {}}
    for name, heads in plan.items():
        try:
            folders = {head: fetch_checkpoint(entry, catalogue, cache, events, bar) for head, entry in heads.items()}
        except UnreachableError as exc:
            raise UnreachableError(offline_message(name, heads, catalogue, str(exc))) from None
        result["folders"][name] = {h: str(f) for h, f in folders.items()}
        result["models"][name] = (
            str(import_model(name, list(folders.values()), imported_model_path(cache, name, out_dir), request, events))
            if request.import_models
            else None
        )
    return result


def fetch_checkpoint(entry: Entry, catalogue: Catalogue, cache: Path, events, bar) -> Path:
    """The verified files of ``entry`` in ``<cache>/<id>/<revision>``, downloaded where missing."""
    folder = cache / entry.id / entry.revision
    record: dict = {"model_id": entry.id, "revision": entry.revision, "files": {}}
    for file in catalogue.files:
        weights = file == "model.safetensors"
        done = _download(entry, file, folder, weights, events, bar)
        events(
            "verified",
            model=entry.id,
            file=file,
            size=done.size,
            sha256=done.sha256,
            checked_against=done.checked_against,
        )
        record["files"][file] = {"sha256": done.sha256, "size": done.size, "checked_against": done.checked_against}
        if weights:
            record.update(url=entry.url(file), commit=done.commit)
    write_source(folder, record)
    return folder


def _download(entry: Entry, file: str, folder: Path, weights: bool, events, bar) -> Downloaded:
    progress_bar = None

    def report(done: int, total: int | None) -> None:
        nonlocal progress_bar
        if bar is not None:
            if progress_bar is None:
                progress_bar = bar(total, f"{entry.id}/{file}")
            progress_bar.update(done - progress_bar.n)

    def emit(done: int, total: int | None) -> None:
        events("download", model=entry.id, file=file, done_bytes=done, total_bytes=total)

    def progress(done: int, total: int | None) -> None:
        report(done, total)
        throttled_emit(done, total)

    throttled_emit = throttled(emit)
    try:
        return download_file(
            entry.url(file),
            folder / file,
            sha256=entry.sha256 if weights else None,
            approx_size=entry.approx_size_mb * 1e6 if weights else None,
            progress=progress,
        )
    finally:
        if progress_bar is not None:
            progress_bar.close()


def import_model(name: str, folders: list[Path], output: Path, request: GetRequest, events) -> Path:
    """Model ``name`` at ``output`` imported from ``folders`` (kept when it exists, unless ``request.overwrite``)."""
    from .importer import ImportRequest, import_reben

    if output.is_file() and not request.overwrite:
        events("model", name=name, path=str(output), imported=False)
        return output
    import_reben(
        ImportRequest([str(f) for f in folders], str(output), overwrite=request.overwrite, catalogue=request.catalogue),
        progress=lambda event, **fields: events(event, model=name, **fields),
    )
    events("model", name=name, path=str(output), imported=True)
    return output


def offline_message(name: str, heads: dict[str, Entry], catalogue: Catalogue, reason: str) -> str:
    """One line: why the download failed, the files to fetch by hand and the command that imports them."""
    urls = " ".join(e.url(f) for e in heads.values() for f in catalogue.files)
    ids = " ".join(e.id for e in heads.values())
    return (
        f"cannot download {name}: {reason}. Fetch {urls} by hand into one folder per model named after it ({ids}), "
        f"then run: mosaic import reben {ids} -o {name}.onnx"
    )


def _unique(plan: dict[str, dict[str, Entry]]) -> list[Entry]:
    return list({e.id: e for heads in plan.values() for e in heads.values()}.values())

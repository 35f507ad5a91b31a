"""``mosaic predict --scenes FILE``: many scenes in parallel on Dask distributed, resumable, plus their mosaic.

Each scene is one Dask task that runs the single-scene prediction (:func:`~.prediction.predict`) into
``OUT/<name>/`` with the run's options (a scene's ``cloud_mask`` becomes its ``--cloud-mask``). Workers: a
``LocalCluster`` of ``--workers`` processes (default: one per core, at most one per scene) with one task thread
each, or the cluster of ``--scheduler ADDRESS``. Unless ``--threads`` is given, a task's onnxruntime threads are
``cores of its host // task threads on that host``, so onnxruntime threads × tasks never exceed the cores.

Resuming: after a scene's outputs are committed its task writes the marker ``OUT/.mosaic-scenes/<name>.json``
(atomically: a temporary file renamed). A scene whose marker exists, names the same inputs and settings (the
model's SHA-256 and every option that changes outputs) and whose files all exist is finished and skipped; any other
scene is (re)computed, replacing what a killed run left in its folder. A marker with other settings is refused
unless ``--overwrite`` (which recomputes every scene). A scene that fails (a :class:`~.errors.MosaicError`, or a
crashed worker) is reported and leaves no marker; the others go on.

At the end: ``OUT/mosaic/`` (:func:`~.scene_mosaic.build_mosaic` of every finished scene), the summary table
(printed and ``OUT/scenes_summary.csv``: ``name,status,tiles,seconds,message``; status ``done``, ``skipped``
(finished by an earlier run) or ``failed``), and a :class:`~.errors.MosaicError` naming the failed scenes, if any.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write
from ..errors import InputError, MosaicError
from .prediction import predict
from .request import PredictRequest
from .scenes import Scene, read_scenes

MARKER_DIR = ".mosaic-scenes"
SUMMARY_FILE = "scenes_summary.csv"
SUMMARY_FIELDS = ("name", "status", "tiles", "seconds", "message")


@dataclass(frozen=True)
class ScenesRun:
    """How a many-scene run itself runs, beside the single-scene options every scene shares."""

    scenes: str  #: the scene file (CSV or STAC ItemCollection JSON)
    workers: int | None = None  #: LocalCluster worker processes (None: one per core, at most one per scene)
    scheduler: str | None = None  #: address of a Dask cluster to run on instead of a LocalCluster
    progress_jsonl: bool = False  #: one JSON progress event per finished scene on stdout


def model_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the model file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scene_request(request: PredictRequest, scene: Scene) -> PredictRequest:
    """The single-scene request of ``scene`` in a many-scene run whose shared options are ``request``."""
    return request.replace(
        s2=list(scene.s2),
        s1=list(scene.s1),
        out=str(Path(request.out) / scene.name),
        overwrite=True,
        show_progress=False,
        cloud_mask=scene.cloud_mask[0] if scene.cloud_mask else None,
    )


def settings(request: PredictRequest, digest: str, scene: Scene) -> dict:
    """What a scene's outputs depend on: its inputs, the model's SHA-256 and every output-changing option."""
    return {
        "s2": list(scene.s2),
        "s1": list(scene.s1),
        "cloud_mask": list(scene.cloud_mask),
        "model_sha256": digest,
        "options": request.settings(),
    }


def marker_path(out: Path, name: str) -> Path:
    return out / MARKER_DIR / f"{name}.json"


def finished(out: Path, scene: Scene, expected: dict) -> bool | None:
    """True: the scene's marker matches ``expected`` and its files exist; None: no usable marker (to be computed);
    False: finished with other settings."""
    try:
        marker = json.loads(marker_path(out, scene.name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not all((out / scene.name / f).is_file() for f in marker.get("files", [""])):
        return None
    return marker.get("settings") == expected


def write_marker(path: Path, content: dict) -> None:
    """Write ``content`` as JSON to ``path`` atomically (a temporary file in the same folder, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(content, indent=1)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def run_scene(request: PredictRequest, marker: str, expected: dict, threads: dict[str, int]) -> dict:
    """The Dask task of one scene: the single-scene ``predict``, then its marker. A :class:`MosaicError` is returned
    as a ``failed`` result (other errors propagate: Dask reports them). ``threads``: worker address → onnxruntime
    threads."""
    if request.threads is None:
        from distributed import get_worker

        worker = get_worker()
        cores = threads.get(worker.address) or max(1, (os.cpu_count() or 1) // worker.state.nthreads)
        request = request.replace(threads=cores)
    start = time.monotonic()
    try:
        summary, paths = predict(request)
    except MosaicError as exc:
        return {"status": "failed", "tiles": "", "seconds": round(time.monotonic() - start, 1), "message": str(exc)}
    write_marker(Path(marker), {"settings": expected, "files": [p.name for p in paths], "tiles": summary.tiles_run})
    return {"status": "done", "tiles": summary.tiles_run, "seconds": round(time.monotonic() - start, 1), "message": ""}


def engine_threads(client) -> dict[str, int]:
    """Worker address → onnxruntime threads: the cores of its host // the task threads of all workers there."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    cores = client.run(os.cpu_count)
    per_host = Counter()
    for w in workers.values():
        per_host[w["host"]] += w["nthreads"]
    return {a: max(1, (cores.get(a) or 1) // per_host[w["host"]]) for a, w in workers.items()}


def _client(run: ScenesRun, n_tasks: int):
    from distributed import Client, LocalCluster

    if run.scheduler:
        try:
            return Client(run.scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler {run.scheduler} ({exc}); check --scheduler.") from None
    n = run.workers or max(1, min(n_tasks, os.cpu_count() or 1))
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    return Client(cluster)


def _compute(
    run: ScenesRun, todo: list[tuple[Scene, PredictRequest, dict]], out: Path, results: dict[str, dict], report
) -> None:
    """Run the ``todo`` scenes on Dask; each result into ``results`` and ``report(name, result)``."""
    from distributed import as_completed

    client = _client(run, len(todo))
    try:
        threads = engine_threads(client)
        futures = {}
        for scene, request, expected in todo:
            marker = str(marker_path(out, scene.name))
            task = client.submit(
                run_scene, request, marker, expected, threads, pure=False, key=f"mosaic-scene-{scene.name}"
            )
            futures[task] = scene.name
        for future in as_completed(futures):
            name = futures[future]
            try:
                result = future.result()
            except MosaicError as exc:
                result = {"status": "failed", "tiles": "", "seconds": "", "message": str(exc)}
            except Exception as exc:  # a crashed scene (or worker) must not stop the others
                result = {"status": "failed", "tiles": "", "seconds": "", "message": f"{type(exc).__name__}: {exc}"}
            results[name] = result
            report(name, result)
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()


def _write_summary(out: Path, rows: list[dict]) -> Path:
    path = out / SUMMARY_FILE

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)
    return path


def _print_table(rows: list[dict]) -> None:
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in SUMMARY_FIELDS[:-1]}
    print("  ".join(k.ljust(widths[k]) for k in SUMMARY_FIELDS[:-1]) + "  message")
    for r in rows:
        print("  ".join(str(r[k]).ljust(widths[k]) for k in SUMMARY_FIELDS[:-1]) + f"  {r['message']}")


def run_scenes(request: PredictRequest, run: ScenesRun) -> int:
    """``mosaic predict --scenes``, every scene with the options of ``request``: see the module docstring."""
    from ..inference import read_metadata
    from ..inference.outputs import output_catalogue
    from .scene_mosaic import MOSAIC_DIR, build_mosaic

    if request.s2 or request.s1:
        raise InputError("--scenes replaces --s2 and --s1: give the inputs of each scene in the scene file.")
    if run.workers is not None and run.workers < 1:
        raise InputError(f"--workers must be at least 1, not {run.workers}.")
    if request.cloud_mask:
        raise InputError(
            "--cloud-mask names one scene's mask: with --scenes give each scene's in the cloud_mask "
            "column of the scene file."
        )
    scenes = read_scenes(run.scenes)
    for s in scenes:
        if len(s.cloud_mask) > 1:
            raise InputError(f"scene {s.name}: give one cloud mask file (e.g. the SCL band), not {len(s.cloud_mask)}.")
    catalogue = output_catalogue(read_metadata(request.model), request.model)
    out, digest = Path(request.out), model_digest(request.model)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out} ({exc.strerror}); choose another --out.") from None
    results: dict[str, dict] = {}
    todo = []
    for s in scenes:
        scene = scene_request(request, s)
        expected = settings(scene, digest, s)
        state = None if request.overwrite else finished(out, s, expected)
        if state:
            results[s.name] = {"status": "skipped", "tiles": "", "seconds": "", "message": "finished by an earlier run"}
        elif state is False:
            results[s.name] = {
                "status": "failed",
                "tiles": "",
                "seconds": "",
                "message": "finished earlier with another model, inputs or options; pass --overwrite "
                "or choose another --out",
            }
        else:
            marker_path(out, s.name).unlink(missing_ok=True)
            todo.append((s, scene, expected))

    def report(name: str, result: dict) -> None:
        done = sum(r["status"] != "failed" for r in results.values())
        if run.progress_jsonl:
            print(
                json.dumps(
                    {
                        "event": "progress",
                        "done": len(results),
                        "total": len(scenes),
                        "scene": name,
                        "status": result["status"],
                    }
                ),
                flush=True,
            )
        else:
            print(
                f"mosaic predict: scene {name}: {result['status']} ({done}/{len(scenes)} finished) "
                f"{result['message']}".rstrip(),
                file=sys.stderr,
            )

    if todo:
        _compute(run, todo, out, results, report)
    rows = [{"name": s.name, **{k: results[s.name][k] for k in SUMMARY_FIELDS[1:]}} for s in scenes]
    summary = _write_summary(out, rows)
    _print_table(rows)
    finished_dirs = [out / r["name"] for r in rows if r["status"] in ("done", "skipped")]
    if finished_dirs:
        build_mosaic(out, finished_dirs, catalogue)
    failed = [r["name"] for r in rows if r["status"] == "failed"]
    if run.progress_jsonl:
        print(
            json.dumps(
                {
                    "event": "done",
                    "scenes": len(scenes),
                    "failed": len(failed),
                    "mosaic": str(out / MOSAIC_DIR) if finished_dirs else "",
                }
            ),
            flush=True,
        )
    if failed:
        raise MosaicError(
            f"{len(failed)} of {len(scenes)} scenes failed ({', '.join(failed)}); the others are "
            f"finished. See {summary}."
        )
    return 0

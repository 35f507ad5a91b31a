"""``mosaic predict --scenes FILE``: many scenes in parallel on Dask distributed, resumable, plus their mosaic.

Each scene is one Dask task that runs the single-scene ``mosaic predict`` (:func:`~.predict.predict`) into
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

import argparse
import csv
import hashlib
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from .atomic import atomic_write
from .errors import InputError, MosaicError
from .scenes import Scene, read_scenes

MARKER_DIR = ".mosaic-scenes"
SUMMARY_FILE = "scenes_summary.csv"
SUMMARY_FIELDS = ("name", "status", "tiles", "seconds", "message")
#: options of the many-scene run itself, not of each scene's single-scene run
RUN_OPTIONS = ("scenes", "workers", "scheduler", "progress_jsonl", "debug")
#: single-scene arguments that are no setting of a finished scene: its inputs and output folder (recorded apart),
#: the model's path (its SHA-256 is recorded), and options that change how fast, not what, the outputs are
NOT_SETTINGS = (
    "s2",
    "s1",
    "cloud_mask",
    "out",
    "model",
    "threads",
    "provider",
    "batch_size",
    "prefetch",
    "no_progress",
    "overwrite",
)
#: the single-scene prediction: arguments → (run summary, written paths)
Predict = Callable[[argparse.Namespace], tuple]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mosaic predict`` that only ``--scenes`` runs take."""
    group = parser.add_argument_group("many scenes")
    group.add_argument(
        "--scenes",
        default=None,
        metavar="FILE",
        help="run every scene of FILE instead of --s2/--s1: a CSV (name,s2,s1[,cloud_mask]; several "
        "paths per cell separated by ';', relative to the CSV) or a STAC ItemCollection "
        "JSON; writes OUT/<name>/ per scene, OUT/mosaic/ and OUT/scenes_summary.csv; "
        "resumable",
    )
    group.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="with --scenes: Dask LocalCluster worker processes (default: one per core, at most one per scene)",
    )
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --scenes: run on this Dask cluster (e.g. tcp://host:8786) instead of a LocalCluster",
    )
    group.add_argument(
        "--progress-jsonl",
        action="store_true",
        help="with --scenes: one JSON progress event per finished scene on stdout (docs/contracts.md)",
    )


def model_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the model file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scene_arguments(args: argparse.Namespace, scene: Scene) -> argparse.Namespace:
    """The single-scene ``mosaic predict`` arguments of ``scene`` in a ``--scenes`` run with ``args``."""
    values = {k: v for k, v in vars(args).items() if k not in RUN_OPTIONS}
    values |= {
        "s2": list(scene.s2),
        "s1": list(scene.s1),
        "out": str(Path(args.out) / scene.name),
        "overwrite": True,
        "no_progress": True,
    }
    if scene.cloud_mask:
        values["cloud_mask"] = scene.cloud_mask[0]
    return argparse.Namespace(**values)


def settings(scene_args: argparse.Namespace, digest: str, scene: Scene) -> dict:
    """What a scene's outputs depend on: its inputs, the model's SHA-256 and every output-changing option."""
    options = {k: v for k, v in sorted(vars(scene_args).items()) if k not in NOT_SETTINGS}
    return {
        "s2": list(scene.s2),
        "s1": list(scene.s1),
        "cloud_mask": list(scene.cloud_mask),
        "model_sha256": digest,
        "options": options,
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


def run_scene(
    predict: Predict, scene_args: argparse.Namespace, marker: str, expected: dict, threads: dict[str, int]
) -> dict:
    """The Dask task of one scene: the single-scene ``predict``, then its marker. A :class:`MosaicError` is returned
    as a ``failed`` result (other errors propagate: Dask reports them). ``threads``: worker address → onnxruntime
    threads."""
    if scene_args.threads is None:
        from distributed import get_worker

        worker = get_worker()
        scene_args.threads = threads.get(worker.address) or max(1, (os.cpu_count() or 1) // worker.state.nthreads)
    start = time.monotonic()
    try:
        summary, paths = predict(scene_args)
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


def _client(args: argparse.Namespace, n_tasks: int):
    from distributed import Client, LocalCluster

    if args.scheduler:
        try:
            return Client(args.scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler {args.scheduler} ({exc}); check --scheduler.") from None
    n = args.workers or max(1, min(n_tasks, os.cpu_count() or 1))
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    return Client(cluster)


def _compute(
    predict: Predict,
    args: argparse.Namespace,
    todo: list[tuple[Scene, argparse.Namespace, dict]],
    out: Path,
    results: dict[str, dict],
    report,
) -> None:
    """Run the ``todo`` scenes on Dask; each result into ``results`` and ``report(name, result)``."""
    from distributed import as_completed

    client = _client(args, len(todo))
    try:
        threads = engine_threads(client)
        futures = {}
        for scene, sargs, expected in todo:
            marker = str(marker_path(out, scene.name))
            task = client.submit(
                run_scene, predict, sargs, marker, expected, threads, pure=False, key=f"mosaic-scene-{scene.name}"
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


def run_scenes(args: argparse.Namespace, predict: Predict) -> int:
    """``mosaic predict --scenes`` with the single-scene ``predict`` (:func:`~.predict.predict`): see the module
    docstring."""
    from .inference import read_metadata
    from .inference.outputs import output_catalogue
    from .scene_mosaic import MOSAIC_DIR, build_mosaic

    if args.s2 or args.s1:
        raise InputError("--scenes replaces --s2 and --s1: give the inputs of each scene in the scene file.")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, not {args.workers}.")
    if args.cloud_mask:
        raise InputError(
            "--cloud-mask names one scene's mask: with --scenes give each scene's in the cloud_mask "
            "column of the scene file."
        )
    scenes = read_scenes(args.scenes)
    for s in scenes:
        if len(s.cloud_mask) > 1:
            raise InputError(f"scene {s.name}: give one cloud mask file (e.g. the SCL band), not {len(s.cloud_mask)}.")
    catalogue = output_catalogue(read_metadata(args.model), args.model)
    out, digest = Path(args.out), model_digest(args.model)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out} ({exc.strerror}); choose another --out.") from None
    results: dict[str, dict] = {}
    todo = []
    for s in scenes:
        sargs = scene_arguments(args, s)
        expected = settings(sargs, digest, s)
        state = None if args.overwrite else finished(out, s, expected)
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
            todo.append((s, sargs, expected))

    def report(name: str, result: dict) -> None:
        done = sum(r["status"] != "failed" for r in results.values())
        if args.progress_jsonl:
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
        _compute(predict, args, todo, out, results, report)
    rows = [{"name": s.name, **{k: results[s.name][k] for k in SUMMARY_FIELDS[1:]}} for s in scenes]
    summary = _write_summary(out, rows)
    _print_table(rows)
    finished_dirs = [out / r["name"] for r in rows if r["status"] in ("done", "skipped")]
    if finished_dirs:
        build_mosaic(out, finished_dirs, catalogue)
    failed = [r["name"] for r in rows if r["status"] == "failed"]
    if args.progress_jsonl:
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

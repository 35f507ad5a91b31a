"""``mosaic bench train``: training throughput (samples/s) per strategy and backbone, and the input path alone.

Measured on CUDA when available (bf16 autocast, channels_last, fused AdamW), else on CPU:

* **loader alone**: samples/s the ``DataLoader`` (``--num-workers`` processes) delivers to the main process with no
  model, for the per-sample path (``dataset[i]``: float32 120 px samples, default collate) and the compact batch path
  the trainer uses (:mod:`mosaic.backend.data.batches`), also with the batch moved to the device and assembled
  there. Total samples / wall seconds over ``--loader-batches`` batches, median of ``--repeats`` interleaved runs;
  before each timing the batches the workers prefetched meanwhile (``2 × workers``) are taken: steady state. The
  loaders draw one long epoch (shuffled passes over the split back to back), as a real BigEarthNet epoch of 929
  batches is, instead of restarting their workers' pipeline every pass over a small replicated sample.
* **in memory**: one assembled batch kept on the device; median samples/s of ``--steps`` training steps after
  ``--warmup`` untimed ones: the model's ceiling.
* **loader-fed**: the same steps fed by the compact batch loader (wall time of ``--steps`` steps, prefetched batches
  taken first);
  ``loader ÷ in memory`` says how much of the ceiling the input path lets through.
* **peak GPU memory**: ``torch.cuda.max_memory_allocated`` over the strategy's measurements.

One step = two augmented views (contrastive strategies) or one view, every active loss term, backward, an AdamW
step. ``--replicate N`` first writes the source dataset ``N`` times into one LMDB
(:func:`~mosaic.backend.data.replicate.replicate_dataset`) so a device check needs only a small sample.
``--compile on|both`` wraps the encoders in ``torch.compile``; ``--profile DIR`` writes a ``torch.profiler`` table of
three in-memory steps per measured model.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import time
from pathlib import Path

#: Batches in one epoch of the bench's loaders: shuffled passes over the split back to back, so no measurement
#: times the restart of a short epoch (the replicated sample has 14 batches of 256; BigEarthNet's train split 929).
LONG_EPOCH_BATCHES = 100_000

STRATEGY_MODALITIES = {
    "supervised": "s1s2",
    "simclr": "s2",
    "iai_simclr": "s1s2",
    "mulsupcon": "s1s2",
    "mosaic1": "s1s2",
    "mosaic2": "s1s2",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mosaic bench train``."""
    parser.add_argument("--data-root", required=True, help="BigEarthNet v2 folder (metadata.parquet, ...)")
    parser.add_argument("--lmdb-path", help="read pixels from this LMDB instead of the GeoTIFF folders")
    parser.add_argument(
        "--replicate",
        type=int,
        default=0,
        metavar="N",
        help="first write every pair of --data-root/--lmdb-path N times into one LMDB (needs "
        "--lmdb-path and --replicate-dir) and measure on that",
    )
    parser.add_argument("--replicate-dir", help="folder of the replicated dataset (reused when already complete)")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGY_MODALITIES), choices=list(STRATEGY_MODALITIES))
    parser.add_argument("--backbones", "--backbone", nargs="+", default=["resnet18"], dest="backbones")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--loader-batches", type=int, default=20, help="batches per loader-alone run")
    parser.add_argument("--repeats", type=int, default=3, help="loader-alone runs per input path (median)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument(
        "--compile",
        choices=["off", "on", "both"],
        default="off",
        help="torch.compile the encoders (both: measure eager and compiled)",
    )
    parser.add_argument("--profile", metavar="DIR", help="write a torch.profiler table of 3 in-memory steps here")
    parser.add_argument("--output", "-o", help="also write the results as JSON here")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _to_device(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if hasattr(v, "to") else v) for k, v in batch.items()}


def _step_fn(module, optimizer, device, channels_last: bool, layout):
    """One training step on a compact (loader) or assembled (in-memory) batch."""
    import torch

    from ..data.batches import assemble_batch

    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def step(batch: dict) -> None:
        batch = _to_device(batch, device)
        if "s2" not in batch:
            batch = assemble_batch(batch, layout)
        batch["s2"] = batch["s2"].contiguous(memory_format=fmt)
        batch["s1"] = batch["s1"].contiguous(memory_format=fmt)
        with amp:
            terms = module.loss_terms(batch)
            loss = sum(module.weights[t] * v for t, v in terms.items())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _timed(step, batch, steps: int, warmup: int, device) -> float:
    """Median samples/s of ``steps`` calls of ``step`` on ``batch`` after ``warmup`` untimed ones."""
    rates = []
    for i in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        step(batch)
        _sync(device)
        if i >= warmup:
            rates.append(batch["label"].shape[0] / (time.perf_counter() - start))
    return statistics.median(rates)


def _loader_fed(step, batches, steps: int, warmup: int, prefetched: int, device) -> float:
    """Samples/s including data loading: wall time of ``steps`` loader-fed steps after ``warmup`` (and after the
    batches prefetched meanwhile are taken)."""
    for _ in range(warmup):
        step(next(batches))
    _sync(device)
    _drain(batches, prefetched)
    start, n = time.perf_counter(), 0
    for _ in range(steps):
        batch = next(batches)
        step(batch)
        n += batch["label"].shape[0]
    _sync(device)
    return n / (time.perf_counter() - start)


def _drain(batches, n: int) -> None:
    """Take the ``n`` batches the workers prefetched while nobody asked, so timing sees the steady state."""
    for _ in range(n):
        next(batches)


def _loader_alone(batches, n: int, prefetched: int, device=None, layout=None) -> float:
    """Samples/s delivered over ``n`` batches (moved to ``device`` and assembled when ``layout`` is given)."""
    from ..data.batches import assemble_batch

    _drain(batches, prefetched)
    start, count = time.perf_counter(), 0
    for _ in range(n):
        batch = next(batches)
        if layout is not None:
            batch = assemble_batch(_to_device(batch, device), layout)
        count += batch["label"].shape[0]
    if device is not None:
        _sync(device)
    return count / (time.perf_counter() - start)


def _dataset(args: argparse.Namespace):
    from ..data import make_dataset
    from ..data.replicate import LMDB_DIR, replicate_dataset
    from ..errors import InputError

    root, lmdb_path = args.data_root, args.lmdb_path
    if args.replicate:
        if not (lmdb_path and args.replicate_dir):
            raise InputError("--replicate needs --lmdb-path (the source LMDB) and --replicate-dir (where to write)")
        root = replicate_dataset(root, lmdb_path, args.replicate_dir, args.replicate)
        lmdb_path = str(Path(root) / LMDB_DIR)
    options = {"lmdb_path": lmdb_path} if lmdb_path else {}
    return make_dataset("bigearthnet_v2", root=root, split=args.split, **options)


def _profile(step, batch, device, path: Path) -> None:
    """A ``torch.profiler`` table (self time, top 40 ops) of 3 steps after 2 warm-up steps."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(2):
        step(batch)
    _sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(3):
            step(batch)
        _sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(prof.key_averages().table(sort_by=key, row_limit=40) + "\n")


def run(args: argparse.Namespace) -> int:
    """Measure and print two Markdown tables (loader alone; training per strategy and backbone)."""
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from ..data.batches import NativeBatches, assemble_batch, native_loader
    from ..errors import InputError
    from .module import MosaicModule

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    channels_last = not args.no_channels_last
    dataset = _dataset(args)
    if len(dataset) < args.batch_size:
        raise InputError(f"the {args.split} split has fewer than --batch-size {args.batch_size} patches; lower it")
    native = NativeBatches(dataset)
    common = {
        "drop_last": True,
        "num_workers": args.num_workers,
        "persistent_workers": args.num_workers > 0,
        "pin_memory": device.type == "cuda",
    }
    long_epoch = args.batch_size * LONG_EPOCH_BATCHES
    samples = DataLoader(dataset, args.batch_size, sampler=RandomSampler(dataset, num_samples=long_epoch), **common)
    compact = native_loader(native, args.batch_size, sampler=RandomSampler(native, num_samples=long_epoch), **common)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"device: {name}; batch {args.batch_size}; {len(dataset)} patches ({args.split}); loader: "
        f"{'LMDB' if dataset.reader.__class__.__name__ == 'LmdbReader' else 'GeoTIFF'} x {args.num_workers} "
        f"workers; channels_last {channels_last}; bf16 {device.type == 'cuda'}"
    )
    results: dict = {"device": name, "batch_size": args.batch_size, "num_workers": args.num_workers, "training": []}

    runs: dict[str, list[float]] = {"per-sample": [], "compact": [], "compact + device": []}
    its = {"per-sample": iter(samples), "compact": iter(compact)}
    prefetched = args.num_workers * 2  # DataLoader's default prefetch_factor per worker
    for it in its.values():  # start the workers, warm the page cache
        _loader_alone(it, 3, 0)
    for _ in range(args.repeats):
        runs["per-sample"].append(_loader_alone(its["per-sample"], args.loader_batches, prefetched))
        runs["compact"].append(_loader_alone(its["compact"], args.loader_batches, prefetched))
        runs["compact + device"].append(
            _loader_alone(its["compact"], args.loader_batches, prefetched, device, native.layout)
        )
    alone = {k: statistics.median(v) for k, v in runs.items()}
    results["loader_alone"] = alone
    print("\n| input path (loader alone) | samples/s | vs per-sample |\n|---|---|---|")
    labels = {
        "per-sample": "per-sample (dataset[i], float32 120 px)",
        "compact": "compact batches (native)",
        "compact + device": f"compact batches, assembled on {device.type}",
    }
    for key, rate in alone.items():
        print(f"| {labels[key]} | {rate:,.0f} | {rate / alone['per-sample']:.2f}x |")

    memory_batch = assemble_batch(_to_device(native.__getitems__(list(range(args.batch_size))), device), native.layout)
    print(
        "\n| strategy | backbone | compile | in memory (samples/s) | loader-fed (samples/s) | loader ÷ in memory "
        "| peak GPU memory (GiB) |\n|---|---|---|---|---|---|---|"
    )
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    fed = its["compact"]
    for strategy, backbone, compiled in itertools.product(args.strategies, args.backbones, compiles):
        module = MosaicModule(
            strategy=strategy,
            modalities=STRATEGY_MODALITIES[strategy],
            backbone=backbone,
            class_names=dataset.class_names,
            s2_bands=dataset.s2_bands,
            upsampling=dataset.upsampling,
        )
        module = module.to(device).train()
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        if compiled:
            for m in module.net.encoder:
                module.net.encoder[m] = torch.compile(module.net.encoder[m])
        optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4, fused=device.type == "cuda")
        step = _step_fn(module, optimizer, device, channels_last, native.layout)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        in_memory = _timed(step, memory_batch, args.steps, args.warmup, device)
        loader = _loader_fed(step, fed, args.steps, args.warmup, prefetched, device)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
        if args.profile:
            tag = f"{strategy}_{backbone}{'_compiled' if compiled else ''}"
            _profile(step, memory_batch, device, Path(args.profile) / f"profile_{tag}.txt")
        row = {
            "strategy": strategy,
            "backbone": backbone,
            "compile": compiled,
            "in_memory": in_memory,
            "loader_fed": loader,
            "ratio": loader / in_memory,
            "peak_gpu_gib": peak,
        }
        results["training"].append(row)
        peak_text = f"{peak:.1f}" if peak == peak else "n/a"
        print(
            f"| {strategy} | {backbone} | {'yes' if compiled else 'no'} | {in_memory:,.1f} | {loader:,.1f} | "
            f"{loader / in_memory:.2f} | {peak_text} |",
            flush=True,
        )
        del module, optimizer, step
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0

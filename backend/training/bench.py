"""``mosaic bench train``: training throughput (samples/s) per strategy, in memory and through the real loader.

One timed step = two augmented views (contrastive strategies) or one view, forward of both encoders, every
active loss term, backward and an AdamW step. *In memory*: one batch of real patches kept on the device, so the
figure is the model's ceiling. *Loader*: the same steps fed by the real ``DataLoader`` (GeoTIFF folders or
LMDB, ``--num-workers`` processes). On CUDA: bf16 autocast and channels_last (``--no-channels-last`` to
compare); ``--compile`` wraps the encoders in ``torch.compile``. Figures are medians over ``--steps`` steps
after ``--warmup`` untimed ones.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

STRATEGY_MODALITIES = {"supervised": "s1s2", "simclr": "s2", "iai_simclr": "s1s2", "mulsupcon": "s1s2",
                       "mosaic1": "s1s2", "mosaic2": "s1s2"}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mosaic bench train``."""
    parser.add_argument("--data-root", required=True, help="BigEarthNet v2 folder (metadata.parquet, ...)")
    parser.add_argument("--lmdb-path", help="read pixels from this LMDB instead of the GeoTIFF folders")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGY_MODALITIES), choices=list(STRATEGY_MODALITIES))
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--split", default="train")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoders")


def _step_fn(module, optimizer, device, channels_last: bool):
    import torch

    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def step(batch: dict) -> None:
        batch = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
        batch["s2"] = batch["s2"].contiguous(memory_format=fmt)
        batch["s1"] = batch["s1"].contiguous(memory_format=fmt)
        with amp:
            terms = module.loss_terms(batch)
            loss = sum(module.weights[t] * v for t, v in terms.items())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _timed(step, batches, steps: int, warmup: int, device) -> float:
    """Median samples/s of ``steps`` calls of ``step`` after ``warmup`` untimed ones."""
    import torch

    rates = []
    for i in range(warmup + steps):
        batch = next(batches)
        start = time.perf_counter()
        step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            rates.append(batch["label"].shape[0] / (time.perf_counter() - start))
    return statistics.median(rates)


def _loader_rate(step, loader, steps: int, warmup: int, device) -> float:
    """Samples/s including data loading: wall time of ``steps`` loader-fed steps after ``warmup``."""
    import torch

    it = iter(loader)
    for _ in range(warmup):
        step(next(it))
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, n = time.perf_counter(), 0
    for _ in range(steps):
        batch = next(it)
        step(batch)
        n += batch["label"].shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> int:
    """Measure and print a Markdown table (strategy, in-memory samples/s, loader samples/s)."""
    import itertools

    import torch
    from torch.utils.data import DataLoader

    from ..data import make_dataset
    from ..errors import InputError
    from .module import MosaicModule

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    channels_last = not args.no_channels_last
    options = {"lmdb_path": args.lmdb_path} if args.lmdb_path else {}
    dataset = make_dataset("bigearthnet_v2", root=args.data_root, split=args.split, **options)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                        num_workers=args.num_workers, persistent_workers=args.num_workers > 0,
                        pin_memory=device.type == "cuda")  # fmt: skip
    n_batches = len(loader)
    if n_batches == 0:
        raise InputError(f"the {args.split} split has fewer than --batch-size {args.batch_size} patches; lower it")
    memory_batch = next(iter(DataLoader(dataset, batch_size=args.batch_size, shuffle=False, drop_last=True)))
    memory_batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in memory_batch.items()}
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; backbone {args.backbone}; batch {args.batch_size}; channels_last {channels_last}; "
          f"bf16 {device.type == 'cuda'}; compile {args.compile}; loader: {'LMDB' if args.lmdb_path else 'GeoTIFF'} "
          f"x {args.num_workers} workers")  # fmt: skip
    print("\n| strategy | in memory (samples/s) | real loader (samples/s) |\n|---|---|---|")
    for strategy in args.strategies:
        module = MosaicModule(
            strategy=strategy, modalities=STRATEGY_MODALITIES[strategy], backbone=args.backbone,
            class_names=dataset.class_names, s2_bands=dataset.s2_bands, upsampling=dataset.upsampling,
        )  # fmt: skip
        module = module.to(device).train()
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        if args.compile:
            for m in module.net.used:
                module.net.encoder[m] = torch.compile(module.net.encoder[m])
        optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
        step = _step_fn(module, optimizer, device, channels_last)
        in_memory = _timed(step, itertools.repeat(memory_batch), args.steps, args.warmup, device)
        cycled = itertools.chain.from_iterable(itertools.repeat(loader))
        real = _loader_rate(step, cycled, args.steps, args.warmup, device)
        print(f"| {strategy} | {in_memory:.1f} | {real:.1f} |", flush=True)
    return 0

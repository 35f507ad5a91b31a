"""``mosaic stats``: per-band mean / std of a dataset (folders or LMDB), printed and optionally written as JSON.

Statistics are over every valid pixel of the chosen split *after* upsampling to the 10 m grid (so they match
the ``upsampling`` the model trains with). Valid = finite and not the band's nodata (S2 0, S1 NaN).
Batches are merged with Chan et al.'s parallel update, in float64:
``n = n_a + n_b``, ``δ = μ_b − μ_a``, ``μ = μ_a + δ·n_b/n``, ``M2 = M2_a + M2_b + δ²·n_a·n_b/n``;
``std = sqrt(M2 / n)``.
The output has the shape of :data:`~mosaic.backend.data.bands.STATS` entries: ``{"bands": {band: [mean, std]}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..atomic import atomic_write
from ..errors import OutputError
from ..models.normalization import clip_bands, range_bounds
from . import make_dataset
from .bands import band_ranges


class RunningStats:
    """Per-channel count, mean and M2 (sum of squared deviations), merged batch by batch (Chan et al.)."""

    def __init__(self, channels: int):
        self.n = np.zeros(channels)
        self.mean = np.zeros(channels)
        self.m2 = np.zeros(channels)

    def update(self, x: torch.Tensor, nodata: float | None) -> None:
        """Add ``x [B, C, H, W]``, skipping non-finite values and ``nodata``."""
        x = x.double().transpose(0, 1).reshape(x.shape[1], -1)
        valid = torch.isfinite(x) if nodata is None else torch.isfinite(x) & (x != nodata)
        n_b = valid.sum(1).double()
        xs = torch.where(valid, x, 0.0)
        mean_b = xs.sum(1) / n_b.clamp(min=1)
        m2_b = (torch.where(valid, x - mean_b[:, None], 0.0) ** 2).sum(1)
        n_b, mean_b, m2_b = n_b.numpy(), mean_b.numpy(), m2_b.numpy()
        n = self.n + n_b
        delta = mean_b - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean = np.where(n > 0, self.mean + delta * n_b / n, 0.0)
            self.m2 = np.where(n > 0, self.m2 + m2_b + delta**2 * self.n * n_b / n, 0.0)
        self.n = n

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` per channel (population std)."""
        return self.mean, np.sqrt(self.m2 / np.maximum(self.n, 1))


def dataset_stats(
    dataset, batch_size: int = 64, workers: int = 0, progress: bool = False, statistics: str = "bigearthnet_v2"
) -> dict:
    """``{"bands": {band: [mean, std]}, "n_patches": N, "upsampling": ...}`` of every S2 and S1 band of ``dataset``,
    after clipping to the value ranges a model of the dataset ``statistics`` clips its inputs to
    (:func:`~mosaic.backend.data.bands.band_ranges`; SEN12MS S1: [-25, 0] dB), as the model normalises them."""
    s2 = RunningStats(len(dataset.s2_bands))
    s1 = RunningStats(len(dataset.s1_bands))
    bounds = {}  # modality → (low, high) [1, C, 1, 1]
    for key, bands in (("s2", dataset.s2_bands), ("s1", dataset.s1_bands)):
        ranges = band_ranges(bands, statistics)
        if ranges is not None:
            bounds[key] = range_bounds(ranges)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    for batch in tqdm(loader, disable=not progress, desc="stats", unit="batch"):
        x = {key: clip_bands(batch[key], *bounds[key]) if key in bounds else batch[key] for key in ("s2", "s1")}
        s2.update(x["s2"], nodata=0.0)
        s1.update(x["s1"], nodata=None)
    bands: dict[str, list[float]] = {}
    for names, stats in ((dataset.s2_bands, s2), (dataset.s1_bands, s1)):
        for name, mean, std in zip(names, *stats.result()):
            bands[name] = [float(mean), float(std)]
    return {"n_patches": len(dataset), "upsampling": dataset.upsampling, "bands": bands}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mosaic stats``."""
    parser.add_argument("root", help="dataset folder (BigEarthNet v2 layout with metadata.parquet, or SEN12MS)")
    parser.add_argument("--dataset", default="bigearthnet_v2", choices=["bigearthnet_v2", "sen12ms"])
    parser.add_argument("--lmdb", default=None, help="read pixels from this packed LMDB (BigEarthNet v2 only)")
    parser.add_argument("--split", default="train", help="split to measure (default: train)")
    parser.add_argument("--s2-bands", default="s2_12", choices=["s2_10", "s2_12"])
    parser.add_argument("--upsampling", default="nearest", choices=["nearest", "bilinear"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--output", "-o", default=None, help="write the statistics to this JSON file")


def run(args: argparse.Namespace) -> int:
    """Compute, print and optionally write the statistics."""
    options = {"root": args.root, "split": args.split, "s2_bands": args.s2_bands}
    if args.dataset == "bigearthnet_v2":
        options.update(upsampling=args.upsampling, lmdb_path=args.lmdb)
    dataset = make_dataset(args.dataset, **options)
    measured = dataset_stats(dataset, args.batch_size, args.workers, statistics=args.dataset)
    text = json.dumps({"dataset": args.dataset, "split": args.split, **measured}, indent=2)
    print(text)
    if args.output:
        out = Path(args.output)
        try:
            atomic_write(out, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
        except OSError as exc:
            raise OutputError(f"cannot write {out}: {exc.strerror}") from None
        print(f"written to {out}", file=sys.stderr)
    return 0

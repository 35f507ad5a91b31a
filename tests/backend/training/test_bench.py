"""``mosaic bench train`` measures real training steps on the real sample and prints a Markdown table."""

from __future__ import annotations

import argparse

from mosaic.backend.training import bench


def test_bench_train_prints_positive_rates(ben_v2, capsys):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(
        ["--data-root", str(ben_v2), "--lmdb-path", str(ben_v2 / "BigEarthNet-V2-LMDB"), "--strategies",
         "supervised", "--batch-size", "3", "--steps", "1", "--warmup", "0", "--num-workers", "0"]
    )  # fmt: skip
    assert bench.run(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("device: CPU") or out[0].startswith("device: NVIDIA")
    assert out[-3:-1] == ["| strategy | in memory (samples/s) | real loader (samples/s) |", "|---|---|---|"]
    name, in_memory, loader = (c.strip() for c in out[-1].strip("|").split("|"))
    assert name == "supervised" and float(in_memory) > 0 and float(loader) > 0

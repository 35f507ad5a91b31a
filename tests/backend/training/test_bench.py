"""``mosaic bench train`` measures the real input path and real training steps on the real sample."""

from __future__ import annotations

import argparse
import json

from mosaic.backend.training import bench


def test_bench_train_reports_loader_alone_and_training_rates(ben_v2, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(
        [
            "--data-root",
            str(ben_v2),
            "--lmdb-path",
            str(ben_v2 / "BigEarthNet-V2-LMDB"),
            "--replicate",
            "2",
            "--replicate-dir",
            str(tmp_path / "rep"),
            "--strategies",
            "supervised",
            "--batch-size",
            "3",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--num-workers",
            "0",
            "--loader-batches",
            "2",
            "--repeats",
            "1",
            "--output",
            str(tmp_path / "bench.json"),
        ]
    )
    assert bench.run(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(("device: CPU", "device: NVIDIA")) and "12 patches (train)" in out[0]  # 2 × 6 train
    result = json.loads((tmp_path / "bench.json").read_text())
    assert set(result["loader_alone"]) == {"per-sample", "compact", "compact + device"}
    assert all(rate > 0 for rate in result["loader_alone"].values())
    assert "| per-sample (dataset[i], float32 120 px) |" in "\n".join(out)
    (row,) = result["training"]
    assert row["strategy"] == "supervised" and row["backbone"] == "resnet18" and row["compile"] is False
    assert row["in_memory"] > 0 and row["loader_fed"] > 0
    assert row["ratio"] == row["loader_fed"] / row["in_memory"]
    cells = [c.strip() for c in out[-1].strip("|").split("|")]
    assert cells[:3] == ["supervised", "resnet18", "no"] and float(cells[3].replace(",", "")) > 0

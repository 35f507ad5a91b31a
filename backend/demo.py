"""``make demo``: the whole loop on bundled real data, with each step run through the real ``mosaic`` command.

1. train MoSAiC-1 (ResNet-18 encoders, a few epochs; GPU when present) on ``sample_data/bigearthnet-v2``;
2. evaluate the best checkpoint on the test split and on the snow / cloud / shadow patches, for the fused, S1-only
   and S2-only heads (metrics, tuned thresholds, t-SNE PNGs, report);
3. export ONNX with the tuned thresholds in its metadata;
4. predict the bundled T33UUP S1+S2 mosaic (tiled, stride 120 = one cell per BigEarthNet patch);
5. render the styled label and confidence maps through QGIS (a separate process: no qgis in the backend);
6. write ``report.md`` beside everything in ``out/demo/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .evaluation.report import heads_table

REPO = Path(__file__).resolve().parents[1]


def mosaic(*args: str) -> subprocess.CompletedProcess:
    """Run ``mosaic ARGS`` with this interpreter; stop the demo with the command's own error line on failure."""
    cmd = [sys.executable, "-m", "mosaic.backend.cli", *args]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)  # noqa: S603 - fixed argv
    if result.returncode != 0:
        raise SystemExit(f"demo: step `mosaic {args[0]}` failed (exit {result.returncode}); see the message above")
    return result


def train(out: Path, epochs: int) -> Path:
    """Train MoSAiC-1 on the bundled sample; returns the best checkpoint."""
    run_dir = out / "run"
    result = mosaic(
        "train",
        "--config",
        "configs/mosaic1.yaml",
        "--progress-jsonl",
        "--data.root",
        "sample_data/bigearthnet-v2",
        "--protocol.label_fraction",
        "null",
        "--protocol.batch_size",
        "6",
        "--data.num_workers",
        "0",
        "--model.backbone",
        "resnet18",
        "--protocol.warmup_steps",
        "2",
        "--protocol.epochs",
        str(epochs),
        "--trainer.log_every_n_steps",
        "1",
        "--trainer.default_root_dir",
        str(run_dir),
        "--trainer.logger.init_args.save_dir",
        str(run_dir),
    )
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    done = [e for e in events if e.get("event") == "done"]
    if not done:
        raise SystemExit("demo: training finished without a checkpoint")
    best = done[-1].get("best_checkpoint") or done[-1]["last_checkpoint"]
    return Path(best) if Path(best).is_absolute() else REPO / best


def write_report(out: Path, metrics: dict, seconds: float, heads: list[str]) -> None:
    """``report.md``: metrics table, the heads on clean and cloudy patches (``heads``: :func:`heads_table` lines),
    t-SNE and map PNGs, how to open the result."""
    lines = [
        "# MoSAiC demo report",
        "",
        "Model: MoSAiC-1, two ResNet-18 encoders, trained a few epochs on 6 real BigEarthNet v2 patches "
        "(bundled sample). **A demonstration of the workflow, not a land-cover product.**",
        "",
        "## Test-split metrics",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            lines.append(f"| {key} | {value:.4f} |")
    lines += [
        "",
        "## Fused, S1-only and S2-only heads on clean and on snow / cloud / shadow patches",
        "",
        "Each head at its own thresholds tuned on validation. The S1-only head is what classifies a tile under "
        "cloud, where S2 cannot see.",
        "",
        *heads,
    ]
    lines += [
        "",
        "Per-class metrics, thresholds and the classes left out of macro means are in `metrics.json` "
        "and `evaluation/report.md`.",
        "",
        "## Embeddings (t-SNE)",
        "",
    ]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in sorted(out.glob("evaluation/tsne_*.png"))]
    lines += [
        "",
        "## Predictions on the T33UUP S1+S2 mosaic (rendered through QGIS)",
        "",
        "![labels](map_labels.png) ![confidence](map_confidence.png)",
        "",
        "Files: `probabilities.tif`, `labels.tif`, `confidence.tif`, `tiles.gpkg`, `.qml` styles, `model.onnx`.",
        "Open them in QGIS with `make qgis`.",
        "",
        f"Total time: {seconds:.0f} s.",
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "out" / "demo")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    start = time.monotonic()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    print("demo 1/5: training MoSAiC-1 on the bundled BigEarthNet sample", flush=True)
    checkpoint = train(out, args.epochs)
    print("demo 2/5: evaluating on the test split", flush=True)
    mosaic(
        "evaluate",
        str(checkpoint),
        "--data-root",
        "sample_data/bigearthnet-v2",
        "--out",
        str(out / "evaluation"),
        "--num-workers",
        "0",
    )
    shutil.copyfile(out / "evaluation" / "metrics.json", out / "metrics.json")
    print("demo 3/5: exporting ONNX", flush=True)
    mosaic("export", str(checkpoint), "-o", str(out / "model.onnx"), "--evaluation", str(out / "metrics.json"))
    print("demo 4/5: tiled inference on the bundled S1+S2 mosaic", flush=True)
    mosaic(
        "predict",
        "--s2",
        "sample_data/t33uup-mosaic",
        "--s1",
        "sample_data/t33uup-mosaic",
        "--model",
        str(out / "model.onnx"),
        "--out",
        str(out),
        "--stride",
        "120",
        "--overwrite",
    )
    print("demo 5/5: rendering the styled maps through QGIS", flush=True)
    render = [sys.executable, "-m", "mosaic.plugin.render_map", str(out), "--model", str(out / "model.onnx")]
    render += ["--background", "sample_data/t33uup-mosaic"]  # the labels over the scene, as QGIS shows them
    with tempfile.TemporaryDirectory() as runtime:  # Qt wants a private runtime folder, or prints a warning
        env = {"QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": runtime, **os.environ}
        if subprocess.run(render, cwd=REPO, env=env).returncode != 0:  # noqa: S603 - fixed argv
            raise SystemExit("demo: rendering through QGIS failed; see the message above")
    metrics = json.loads((out / "metrics.json").read_text())
    summary = {k: v for k, v in metrics["metrics"].items() if not isinstance(v, (dict, list))}
    write_report(out, summary, time.monotonic() - start, heads_table(metrics))
    print(f"\nDone in {time.monotonic() - start:.0f} s. Look at {out / 'report.md'} (metrics, t-SNE, maps);")
    print("open the styled result in QGIS with `make qgis`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

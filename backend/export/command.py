"""``mosaic export CHECKPOINT -o model.onnx``: the inference graph as ONNX with validated metadata.

The graph is ``MosaicModule.inference_model()``: S2 and S1 encoders, fusion, classifier and sigmoid, taking
**physical inputs** — ``s2 [N, C_s2, P, P]`` reflectance × 10000 and ``s1 [N, C_s1, P, P]`` dB — and normalising
them inside (``x' = (x − mean) / std`` per band; the statistics are also recorded in the metadata with
``in_graph: true``). Output ``probabilities [N, n_classes]`` of the fused head and, for S1+S2 models trained with
per-modality heads, ``probabilities_s1`` / ``probabilities_s2`` of the S1-only / S2-only heads (metadata
``heads``); the batch axis ``N`` is dynamic.

The metadata (``resources/schema/model_metadata.v3.json``) is stored as JSON in ``metadata_props["mosaic"]``;
it is validated with the same code the plugin uses before the file is written (temporary name, renamed when
complete).

``--precision fp16|int8`` writes a reduced copy (:mod:`.precision`): int8 calibrated on a few batches of the
checkpoint's validation patches. Its metadata ``precision`` records the method and the test metrics of that
exact file next to those of the fp32 graph, both run through the engine on the same test patches.
"""

from __future__ import annotations

import argparse

from ..inference.model import read_metadata
from .from_checkpoint import export_checkpoint
from .precision import PRECISIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="training checkpoint (.ckpt) written by `mosaic train`")
    parser.add_argument("-o", "--output", required=True, help="ONNX file to write, e.g. model.onnx")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--evaluation",
        default=None,
        metavar="METRICS_JSON",
        help="metrics.json of `mosaic evaluate` on this checkpoint: record its tuned per-class "
        "thresholds and test metrics (default: thresholds 0.5, flagged as not tuned)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default); fp16: float16 weights, half the file; int8: static quantisation "
        "calibrated on validation patches. fp16/int8 record their own test metrics",
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help="dataset folder for calibration and test metrics of fp16/int8 (default: the one "
        "the checkpoint was trained on)",
    )
    parser.add_argument(
        "--calibration-batches",
        type=int,
        default=4,
        help="int8: batches of validation patches to calibrate on (default 4)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="patches per calibration / test batch")


def run(args: argparse.Namespace) -> int:
    out = export_checkpoint(
        args.checkpoint,
        args.output,
        overwrite=args.overwrite,
        evaluation=args.evaluation,
        precision=args.precision,
        data_root=args.data_root,
        calibration_batches=args.calibration_batches,
        batch_size=args.batch_size,
    )
    meta = read_metadata(out)
    print(
        f"wrote {out} ({len(meta.class_names)} classes, strategy {meta.strategy}, heads {', '.join(meta.heads)}, "
        f"{meta.precision})"
    )
    ap, ap32 = (meta.precision_info.get(k, {}).get("test/ap_macro") for k in ("metrics", "fp32_metrics"))
    if ap is not None and ap32 is not None:
        print(f"test AP macro: {ap:.4f} ({meta.precision}) vs {ap32:.4f} (fp32)")
    return 0

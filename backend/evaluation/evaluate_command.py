"""``mosaic evaluate CHECKPOINT``: metrics, per-class thresholds, t-SNE plots and a report (:mod:`.evaluate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .evaluate import evaluate_checkpoint
from .report import head_rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mosaic evaluate``."""
    parser.add_argument("checkpoint", help="a .ckpt file written by `mosaic train`")
    parser.add_argument("--data-root", help="dataset folder (default: the one the model was trained on)")
    parser.add_argument("--lmdb-path", help="read the pixels from this LMDB (faster than GeoTIFF folders)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--val-split", default="validation", help="split to tune per-class thresholds on")
    parser.add_argument("--out", "-o", default="evaluation", help="output folder (default: ./evaluation)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--no-tsne", action="store_true", help="skip the t-SNE plots")
    parser.add_argument("--tsne-max", type=int, default=3000, help="at most this many points per t-SNE plot")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the summary metrics."""
    options = {"lmdb_path": args.lmdb_path} if args.lmdb_path else None
    result = evaluate_checkpoint(
        args.checkpoint,
        data_root=args.data_root,
        split=args.split,
        val_split=args.val_split,
        out_dir=args.out,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        tsne=not args.no_tsne,
        tsne_max=args.tsne_max,
        dataset_options=options,
    )
    m = result["metrics"]
    print(
        f"{result['split']}: {m['n_samples']} patches; AP macro {m['ap_macro']:.4f} micro {m['ap_micro']:.4f}; "
        f"F1@0.5 macro {m['f1_macro']:.4f} micro {m['f1_micro']:.4f}; F1@tuned macro {m['f1_macro_tuned']:.4f}; "
        f"report: {Path(args.out) / 'report.md'}"
    )
    for head, row in head_rows(result):
        print(
            f"  {head}: "
            + "; ".join(
                f"{where} ({n} patches) AP macro {ap:.4f} micro {ap_mi:.4f}, F1@tuned macro {f1:.4f} micro {f1_mi:.4f}"
                for where, n, ap, ap_mi, f1, f1_mi in row
            )
        )
    return 0

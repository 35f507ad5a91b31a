"""The ``mosaic`` command: one sub-command per step of the workflow.

Sub-commands live in their own modules and are imported only when run, so ``mosaic --help`` is instant and
never imports torch. Errors the user can fix (:class:`~mosaic.backend.errors.MosaicError`) print one line
and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .errors import MosaicError
from .training.log_noise import quiet_known_noise

# name -> (module of mosaic.backend implementing ``add_arguments(parser)`` and ``run(args)``, one-line help).
# A module with ``PASS_THROUGH = True`` parses its own arguments in ``run_argv(argv)`` (LightningCLI).
COMMANDS: dict[str, tuple[str, str]] = {
    "version": ("version", "print the versions of MoSAiC and of its main dependencies"),
    "prepare": ("data.prepare", "build a training dataset (BigEarthNet v2 layout) from your rasters and polygons"),
    "pack": ("data.pack", "convert a BigEarthNet v2 folder dataset to the fast packed LMDB form"),
    "stats": ("data.stats", "recompute per-band normalisation statistics of a dataset"),
    "train": ("training.cli", "train a model from a YAML config (LightningCLI; overrides on the command line)"),
    "evaluate": ("evaluation.evaluate_command", "evaluate a checkpoint: AP, F1, per-class metrics, t-SNE, report"),
    "experiment": ("evaluation.experiment", "a matrix of trainings + evaluations (strategies, label fractions, seeds)"),
    "export": ("export.command", "export a checkpoint to ONNX with embedded, schema-validated metadata"),
    "predict": ("predict.command", "tiled inference over S1 + S2 rasters with an ONNX model"),
    "inspect": ("export.inspection", "show and validate the metadata of an ONNX model"),
    "sample": ("accuracy.sample_command", "a stratified random sample of a map's cells to label in QGIS (GeoPackage)"),
    "assess": ("accuracy.assess_command", "accuracy and area with 95 %% intervals from a labelled sample; agreement"),
    "import": ("published.import_command", "import published BigEarthNet v2.0 (reBEN) checkpoints as an ONNX model"),
    "models": ("published.models_command", "list, download and import the published BigEarthNet v2.0 models"),
    "bench": ("bench", "benchmarks: data loading, training throughput, inference efficiency and memory"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per registered command."""
    parser = argparse.ArgumentParser(
        prog="mosaic",
        description="MoSAiC multi-modal (Sentinel-1 + Sentinel-2) multi-label land-cover classification: "
        "prepare datasets, train, evaluate, export ONNX models and predict over large rasters.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in sorted(COMMANDS.items()):
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mosaic`` command line; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    parser = build_parser()
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        if argv and argv[0] not in {"-h", "--help"}:
            parser.error(f"unknown command {argv[0]!r}; choose one of: {', '.join(sorted(COMMANDS))}")
        parser.print_help()
        return 0
    name, rest = argv[0], argv[1:]
    quiet_known_noise()  # Lightning's tips and known deprecation notes: never in what the user reads
    module = importlib.import_module(f"{__package__}.{COMMANDS[name][0]}")
    sub = argparse.ArgumentParser(prog=f"mosaic {name}", description=COMMANDS[name][1])
    module.add_arguments(sub)
    try:
        if getattr(module, "PASS_THROUGH", False):
            return int(module.run_argv(rest) or 0)
        args = sub.parse_args(rest)
        args.debug = debug
        return int(module.run(args) or 0)
    except MosaicError as exc:
        if debug:
            raise
        print(f"mosaic {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mosaic {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``mosaic train --config configs/<strategy>.yaml [--section.key value ...] [--resume CKPT] [--progress-jsonl]``.

A :class:`~lightning.pytorch.cli.LightningCLI` over :class:`MosaicModule` and :class:`MosaicDataModule`: every
setting comes from the YAML config and can be overridden on the command line (``--trainer.max_epochs 2``,
``--model.backbone resnet18``). The settings every strategy shares — label fraction, use of unlabelled patches,
seed, epochs, batch size, optimiser, schedule, augmentations — are the ``protocol`` section
(:mod:`.protocol`, ``--protocol.epochs 2``, ``--protocol.label_fraction 0.1``). Extra options, read before the
config:

* ``--resume CKPT``: continue a run from a checkpoint with its exact state (weights, optimizer, scheduler,
  epoch / step, RNG states).
* ``--progress-jsonl`` (or ``MOSAIC_PROGRESS_JSONL=1``): JSON-lines progress events on stdout
  (``docs/contracts.md``); every human-readable log goes to stderr.

Defaults: best checkpoint on ``val/ap_macro`` (max), ``last.ckpt`` every epoch, early stopping on ``val/ap_macro``
in the evaluation stages only (a pre-training always runs ``protocol.epochs``), TensorBoard logs under ``runs/``,
bf16 autocast on CUDA (fp32 on CPU). Multi-GPU / multi-node: ``--trainer.devices``, ``--trainer.num_nodes``,
``--trainer.strategy ddp`` (torchrun and SLURM are detected by Lightning).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import itertools
import logging
import os
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, InputError, MosaicError
from .checkpoints import read_checkpoint
from .protocol import add_protocol, check_no_protocol_targets

PASS_THROUGH = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Nothing to add: LightningCLI parses the arguments itself (see :func:`run_argv`)."""


def _pre_parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--resume", default=None)
    pre.add_argument("--progress-jsonl", action="store_true")
    return pre.parse_known_args(list(argv))


def _build_cli(argv: list[str], extra_callbacks: list):
    import torch
    from jsonargparse import ArgumentError
    from lightning.pytorch.cli import LightningCLI

    from .callbacks import EvaluationEarlyStopping, InterruptCheckpoint, MosaicCheckpoint, RngState, TrainingRecord
    from .datamodule import MosaicDataModule
    from .module import MosaicModule

    parsers = []  # the parser LightningCLI builds, kept to suggest valid keys when parsing fails

    class MosaicCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parsers.append(parser)
            add_protocol(parser)
            parser.add_lightning_class_args(MosaicCheckpoint, "checkpoint")
            parser.set_defaults(
                {
                    "checkpoint.monitor": "val/ap_macro",
                    "checkpoint.mode": "max",
                    "checkpoint.save_last": True,
                    "checkpoint.filename": "best-{epoch}-{step}",
                }
            )
            parser.add_lightning_class_args(EvaluationEarlyStopping, "early_stopping")
            parser.set_defaults(
                {
                    "early_stopping.monitor": "val/ap_macro",
                    "early_stopping.mode": "max",
                    "early_stopping.patience": 10,
                    "early_stopping.check_finite": False,
                    "early_stopping.strict": False,  # a run resumed from a mid-epoch interrupted.ckpt
                }
            )
            for src, dst in (
                ("class_names", "class_names"),
                ("s2_band_names", "s2_bands"),
                ("s1_band_names", "s1_bands"),
                ("upsampling", "upsampling"),
                ("patch_size_px", "patch_size_px"),
                ("statistics", "statistics"),
                ("training_data", "training_data"),
            ):
                parser.link_arguments(f"data.{src}", f"model.{dst}", apply_on="instantiate")

    check_no_protocol_targets(argv)
    # "Seed set to 0" would precede an error line; the seed is in the saved config.yaml
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    flat = " ".join(argv).replace("=", " ").split()
    on_cpu = any(a == "--trainer.accelerator" and b == "cpu" for a, b in itertools.pairwise(flat))
    cuda = torch.cuda.is_available() and not on_cpu
    if cuda:
        torch.set_float32_matmul_precision("high")
    trainer_defaults = {
        "precision": "bf16-mixed" if cuda else "32-true",
        "default_root_dir": "runs",
        "logger": {
            "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
            "init_args": {"save_dir": "runs", "name": "mosaic"},
        },
        "callbacks": [RngState(), InterruptCheckpoint(), TrainingRecord(), *extra_callbacks],
    }
    try:
        with warnings.catch_warnings():  # args= is how `mosaic train` passes its own argv
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            return MosaicCLI(
                MosaicModule,
                MosaicDataModule,
                run=False,
                args=argv,
                seed_everything_default=0,
                trainer_defaults=trainer_defaults,
                save_config_kwargs={"overwrite": True},
                parser_kwargs={"exit_on_error": False, "description": __doc__},
            )
    except ArgumentError as exc:
        message = " ".join(str(exc).split())
        keys = [a.dest for a in parsers[0]._actions] if parsers else []
        raise ConfigError(f"invalid training configuration: {message}{_did_you_mean(message, keys)}") from None


_UNKNOWN_KEY = (
    re.compile(r"Group '(?P<group>[\w.]+)' does not accept option '(?P<key>\w+)'"),
    re.compile(r"Option '(?P<key>[\w.]+)' is not accepted"),
    re.compile(r"unrecognized arguments: --(?P<key>[\w.]+)"),
)


def _did_you_mean(message: str, keys: Sequence[str]) -> str:
    """``"; did you mean 'model.backbone'?"`` for the closest valid key (difflib ratio ≥ 0.6) of an unknown key
    named in a jsonargparse ``message``; ``""`` when there is none."""
    for pattern in _UNKNOWN_KEY:
        found = pattern.search(message)
        if found:
            group = found.groupdict().get("group")
            key = f"{group}.{found['key']}" if group else found["key"]
            close = difflib.get_close_matches(key, [k for k in keys if "." in k], n=1)
            return f"; did you mean '{close[0]}'?" if close else ""
    return ""


def _check_resume(path: str) -> None:
    """Refuse a damaged or code-carrying checkpoint before building anything, naming the newest other ``.ckpt``
    of its folder to resume from instead."""
    try:
        read_checkpoint(path)
    except InputError as exc:
        target = Path(path).resolve()
        others = sorted((p for p in target.parent.glob("*.ckpt") if p != target), key=lambda p: p.stat().st_mtime)
        if not others:
            raise
        raise InputError(f"{str(exc).rstrip('.')}, or resume from the older --resume {others[-1]}") from None


def train(argv: Sequence[str], progress_stream=None) -> dict:
    """Run a training from LightningCLI arguments; returns ``{"best_checkpoint", "last_checkpoint"}``."""
    pre, rest = _pre_parse(argv)
    extra = []
    progress = None
    if progress_stream is not None:
        from .callbacks import ProgressJsonl

        progress = ProgressJsonl(progress_stream)
        extra.append(progress)
    cli = None
    try:
        if pre.resume and not os.path.isfile(pre.resume):
            raise ConfigError(f"--resume {pre.resume}: no such checkpoint file; give the path of a .ckpt file")
        if pre.resume:
            _check_resume(pre.resume)
        from .checkpoints import AtomicCheckpointIO

        cli = _build_cli(rest, extra)
        cli.trainer.strategy.checkpoint_io = AtomicCheckpointIO()  # a kill never leaves a truncated .ckpt
        if cli.trainer.world_size == 1:  # the data module resumes the epoch's order itself (EpochSampler)
            warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
        cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=pre.resume, weights_only=True)
    except MosaicError as exc:
        if progress is not None:
            progress.emit("error", message=str(exc))
        raise
    except SystemExit:
        if cli is not None and cli.trainer.interrupted:  # Lightning exits 1 after Ctrl-C; the CLI answers 130
            raise KeyboardInterrupt from None
        raise
    except Exception as exc:
        if progress is not None:
            progress.emit("error", message=f"{type(exc).__name__}: {exc}")
        raise
    ckpt = cli.trainer.checkpoint_callback
    return {"best_checkpoint": ckpt.best_model_path or None, "last_checkpoint": ckpt.last_model_path or None}


def run_argv(argv: Sequence[str]) -> int:
    """Entry point of ``mosaic train`` (the main CLI passes the raw arguments through)."""
    pre, _ = _pre_parse(argv)
    if pre.progress_jsonl or os.environ.get("MOSAIC_PROGRESS_JSONL") == "1":
        stdout = sys.stdout
        with contextlib.redirect_stdout(sys.stderr):
            train(argv, progress_stream=stdout)
    else:
        train(argv)
    return 0

"""Callbacks of ``mosaic train``: JSON-lines progress stream, exact RNG resume, checkpoint on Ctrl-C, a record of
the data each training saw, early stopping of the evaluation stages only."""

from __future__ import annotations

import json
import math
import random
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from ..atomic import atomic_write
from .step_record import StepRecord


def _plain(value: Any) -> Any:
    """JSON-safe scalar: tensors → float, NaN/Inf → None."""
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ProgressJsonl(Callback):
    """Writes the progress events of ``docs/contracts.md`` as one JSON object per line (rank 0 only).

    Events: ``start``, ``step`` (every ``every_n_steps`` optimizer steps), ``epoch`` (after validation),
    ``checkpoint`` (each saved file), ``done``, ``error``. On CUDA a ``step`` event is written one step late
    (:class:`~.step_record.StepRecord`), so the stream never makes the host wait for the device.
    """

    def __init__(self, stream: IO[str] | None = None, every_n_steps: int = 1) -> None:
        self.stream = stream or sys.stdout
        self.every_n_steps = max(1, every_n_steps)
        self.enabled = True
        self._pending: tuple[StepRecord, int, int, int] | None = None  # record, step, epoch, total steps

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event line and flush."""
        if self.enabled:
            self.stream.write(json.dumps({"event": event, **fields}) + "\n")
            self.stream.flush()

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.enabled = trainer.is_global_zero

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total = int(trainer.max_steps) if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)
        self.emit(
            "start",
            max_epochs=trainer.max_epochs,
            total_steps=total,
            log_dir=trainer.log_dir,
            start_step=trainer.global_step,
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps and step != trainer.max_steps:
            return
        total = int(trainer.max_steps) if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)
        self._flush()
        if not outputs:
            self.emit("step", step=step, epoch=trainer.current_epoch, total_steps=total, loss=None, losses={})
            return
        record: StepRecord = outputs["record"]  # the module's, its copy to the host already started
        self._pending = (record, step, trainer.current_epoch, total)
        if not record.deferred:
            self._flush()

    def _flush(self) -> None:
        """Write the pending ``step`` event."""
        if self._pending is None:
            return
        (record, step, epoch, total), self._pending = self._pending, None
        values = {k: _plain(v) for k, v in record.read().items()}
        self.emit("step", step=step, epoch=epoch, total_steps=total, loss=values.pop("loss"), losses=values)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush()
        metrics = {k: _plain(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        self.emit("epoch", epoch=trainer.current_epoch, metrics=metrics)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush()
        ckpt = trainer.checkpoint_callback
        self.emit(
            "done",
            best_checkpoint=(ckpt.best_model_path or None) if ckpt else None,
            last_checkpoint=(ckpt.last_model_path or None) if ckpt else None,
        )


def _progress(trainer: pl.Trainer) -> ProgressJsonl | None:
    return next((c for c in trainer.callbacks if isinstance(c, ProgressJsonl)), None)


class MosaicCheckpoint(ModelCheckpoint):
    """:class:`ModelCheckpoint` that announces every file it writes on the progress stream and writes ``last.ckpt``
    after every epoch (Lightning's ``save_last`` only refreshes it when a top-k checkpoint is saved, so a run
    killed after epochs without improvement would resume from its last improvement)."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def _refresh_last(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` unless this step's checkpoints were written already."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        progress = _progress(trainer)
        if progress is not None:
            progress.emit("checkpoint", path=str(filepath))


class EvaluationEarlyStopping(EarlyStopping):
    """:class:`EarlyStopping` of the evaluation stages (``model.stage`` ``linear_probe`` / ``finetune``) only.

    A pre-training always runs its whole budget (``protocol.epochs``), whatever ``early_stopping.*`` says: early
    stopping would give the strategies different budgets, on a signal that differs between them (an online probe
    for the self-supervised baselines, the jointly trained classifier for the others), and a run cut short never
    anneals its cosine schedule. The evaluation stages train the same classifier on every strategy's encoders, so
    the same rule means the same thing there.
    """

    @staticmethod
    def _pretraining(pl_module: pl.LightningModule) -> bool:
        return getattr(pl_module, "hparams", {}).get("stage", "pretrain") == "pretrain"

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._pretraining(pl_module):
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._pretraining(pl_module):
            super().on_validation_end(trainer, pl_module)


class RngState(Callback):
    """Saves the Python, NumPy, torch and CUDA RNG states in every checkpoint and restores them on resume.

    The states are applied when the checkpoint is restored and again after the sanity-check validation (whose
    loader draws a seed), i.e. just before the resumed run creates its training loader: the same point of the
    random stream where the uninterrupted run continued, so shuffling, augmentations and dropout repeat exactly.
    """

    def __init__(self) -> None:
        self._restored: dict | None = None

    def state_dict(self) -> dict[str, Any]:
        _, keys, pos, has_gauss, cached = np.random.get_state()
        return {
            "python": random.getstate(),
            "numpy": {
                "keys": torch.from_numpy(keys.astype(np.int64)),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached),
            },
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict
        self._apply(state_dict)

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._restored is not None:
            self._apply(self._restored)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restored = None

    @staticmethod
    def _apply(state: dict[str, Any]) -> None:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        n = state["numpy"]
        np.random.set_state(
            ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
        )
        torch.set_rng_state(state["torch"])
        if torch.cuda.is_available() and state["cuda"]:
            torch.cuda.set_rng_state_all(state["cuda"])


class TrainingRecord(Callback):
    """Writes ``training_record.json`` beside the checkpoints when a training ends (rank 0).

    It holds the best and last checkpoints, the epochs and optimizer steps done, what the train split gave the run
    (:meth:`~.datamodule.MosaicDataModule.train_record`: image count and the sorted labelled patch ids) and the
    images its training steps drew, ``images_seen = batches × batch_size × processes`` — so runs meant to be
    compared can be checked to have seen the same data.
    """

    FILE = "training_record.json"

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        ckpt = trainer.checkpoint_callback
        folder = Path(ckpt.dirpath) if ckpt and ckpt.dirpath else Path(trainer.default_root_dir)
        batches = trainer.fit_loop.epoch_loop.batch_progress.total.completed
        data = trainer.datamodule
        record: dict[str, Any] = {
            "best_checkpoint": (ckpt.best_model_path or None) if ckpt else None,
            "last_checkpoint": (ckpt.last_model_path or None) if ckpt else None,
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "processes": trainer.world_size,
        }
        if data is not None and hasattr(data, "train_record"):
            record["images_seen"] = batches * data.hparams.batch_size * trainer.world_size
            record.update(data.train_record())
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, indent=1)
        atomic_write(folder / self.FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


class InterruptCheckpoint(Callback):
    """Ctrl-C stops at the next step boundary and writes ``<checkpoint dir>/interrupted.ckpt``; says how to resume.

    The first SIGINT only sets a flag (main thread, while training): the running step finishes and the next one
    raises ``KeyboardInterrupt`` before it starts, so the checkpoint holds whole steps, the RNG state between two
    steps and the number of batches done in the epoch — ``--resume`` then continues exactly as if never stopped.
    A second Ctrl-C interrupts at once (that checkpoint resumes at the right step, not bit for bit).
    """

    def __init__(self) -> None:
        self._requested = False
        self._previous: Any = None

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._requested:
            raise KeyboardInterrupt
        self._requested = True
        print("mosaic train: stopping after this step (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    def _restore_handler(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._requested = False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        if self._requested:
            raise KeyboardInterrupt

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_handler()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore_handler()
        if not isinstance(exception, KeyboardInterrupt):
            return
        ckpt = trainer.checkpoint_callback
        folder = Path(ckpt.dirpath) if ckpt and ckpt.dirpath else Path(trainer.default_root_dir)
        path = folder / "interrupted.ckpt"
        trainer.save_checkpoint(path)
        if trainer.is_global_zero:
            progress = _progress(trainer)
            if progress is not None:
                progress.emit("checkpoint", path=str(path))
            print(
                f"mosaic train: interrupted at step {trainer.global_step}; checkpoint saved to {path}; "
                f"continue with --resume {path}",
                file=sys.stderr,
            )

"""The training step never makes the host wait for the device: the loss is checked and logged one step late."""

from __future__ import annotations

import io
import json

import lightning.pytorch as pl
import pytest
import torch

from mosaic.backend.errors import ConfigError
from mosaic.backend.training.callbacks import ProgressJsonl
from mosaic.backend.training.datamodule import MosaicDataModule
from mosaic.backend.training.module import MosaicModule


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_nan_loss_on_cuda_stops_one_step_later_naming_its_step(ben_v2):
    """On CUDA the loss is read one step late (no host wait); the error still names the step that diverged."""
    lmdb = {"lmdb_path": str(ben_v2 / "BigEarthNet-V2-LMDB")}
    data = MosaicDataModule(root=str(ben_v2), batch_size=6, num_workers=0, options=lmdb)
    model = MosaicModule(strategy="supervised", backbone="resnet18", fusion_dim=64, class_names=data.class_names)
    model = model.cuda().train()
    batch = data.on_after_batch_transfer({k: v.cuda() for k, v in next(iter(data.train_dataloader())).items()}, 0)
    model.training_step(batch, 0)  # finite: reported at the next step
    with torch.no_grad():
        model.net.classifier.bias.fill_(float("nan"))
    model.training_step(batch, 1)  # NaN, not read yet: the previous (finite) step is checked
    with pytest.raises(ConfigError, match=r"the loss became nan at step 0 \(epoch 0; bce=nan, bce_s1="):
        model.on_train_epoch_end()


class _Outputs(pl.Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(outputs["loss"].detach().clone())


def test_logged_loss_is_a_host_value_equal_to_the_step_loss(ben_v2, tmp_path):
    """What the progress bar and loggers read is a CPU tensor holding the step's loss (no device read there)."""
    data = MosaicDataModule(root=str(ben_v2), batch_size=6, num_workers=0)
    model = MosaicModule(
        strategy="supervised", backbone="resnet18", fusion_dim=64, class_names=data.class_names, augment={"size": 64}
    )
    seen = _Outputs()
    trainer = pl.Trainer(
        max_steps=1,
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[seen],
    )
    trainer.fit(model, datamodule=data)
    logged = trainer.callback_metrics["train/loss"]
    assert logged.device.type == "cpu" and float(logged) == pytest.approx(float(seen.losses[0]), rel=1e-6)
    assert set(trainer.callback_metrics) >= {"train/bce", "train/bce_s1", "train/bce_s2"}


class _CountSteps(pl.Callback):
    """How many ``step`` events the progress stream holds when each batch ends (after ProgressJsonl ran)."""

    def __init__(self, stream):
        self.stream, self.written, self.losses = stream, [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.written.append(self.stream.getvalue().count('"event": "step"'))
        self.losses.append(float(outputs["loss"]))


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_progress_step_events_never_read_the_device_in_the_step(ben_v2, tmp_path, device):
    """``--progress-jsonl`` step events carry each step's own loss; on CUDA they come one step late (the values are
    copied without waiting), on CPU at once; the last one is written at the epoch's end."""
    data = MosaicDataModule(root=str(ben_v2), batch_size=2, num_workers=0)
    model = MosaicModule(
        strategy="supervised", backbone="resnet18", fusion_dim=64, class_names=data.class_names, augment={"size": 64}
    )
    stream = io.StringIO()
    count = _CountSteps(stream)
    trainer = pl.Trainer(
        accelerator=device,
        devices=1,
        max_steps=3,
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[ProgressJsonl(stream), count],
    )
    trainer.fit(model, datamodule=data)
    steps = [e for e in map(json.loads, stream.getvalue().splitlines()) if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3]
    assert [e["loss"] for e in steps] == pytest.approx(count.losses, rel=1e-6)
    assert set(steps[0]["losses"]) == {"bce", "bce_s1", "bce_s2"}
    assert count.written == ([0, 1, 2] if device == "cuda" else [1, 2, 3])

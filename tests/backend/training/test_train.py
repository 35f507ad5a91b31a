"""Every strategy trains on the real BigEarthNet v2 sample with its loss going down; exact resume; the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from mosaic.backend.errors import ConfigError
from mosaic.backend.training.callbacks import RngState
from mosaic.backend.training.cli import train
from mosaic.backend.training.datamodule import MosaicDataModule
from mosaic.backend.training.module import MosaicModule

from ..small_training import SMALL_RUN

FAST_AUGMENT = {"size": 64}  # views resampled to 64 px keep these CPU tests fast


class LossRecorder(pl.Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def make(ben_v2: Path, strategy: str, modalities: str = "s1s2", **model_kw):
    data = MosaicDataModule(root=str(ben_v2), batch_size=6, num_workers=0)
    model = MosaicModule(
        strategy=strategy,
        modalities=modalities,
        backbone="resnet18",
        fusion_dim=64,
        projection_dim=32,
        augment=FAST_AUGMENT,
        class_names=data.class_names,
        s2_bands=data.s2_band_names,
        s1_bands=data.s1_band_names,
        upsampling=data.upsampling,
        training_data=data.training_data,
        **model_kw,
    )
    return model, data


def first_batch(data: MosaicDataModule) -> dict:
    """The first training batch as the module gets it (compact batch assembled as after the device transfer)."""
    return data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)


def trainer(tmp_path: Path, max_steps: int, callbacks=(), **kw) -> pl.Trainer:
    return pl.Trainer(
        max_steps=max_steps,
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=list(callbacks),
        **kw,
    )


def objective(model: MosaicModule, batch: dict, seeds: tuple[int, ...] = (7, 8, 9, 10)) -> float:
    """The training objective on ``batch`` with fixed views (the same augmentation and dropout draws every call),
    the mean over the view draws of ``seeds``: one draw of six patches' views is too noisy a yardstick."""
    values = []
    for seed in seeds:
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(seed)
            model.train()
            terms = model.loss_terms(batch)
        values.append(float(sum(model.weights[t] * v for t, v in terms.items())))
    return sum(values) / len(values)


STRATEGIES = [
    ("supervised", "s1s2"),
    ("simclr", "s1"),
    ("iai_simclr", "s1s2"),
    ("mulsupcon", "s1s2"),
    ("mosaic1", "s1s2"),
    ("mosaic2", "s1s2"),
    ("mosaic2_terms", "s1s2"),
]
MODALITY_VARIANTS = [
    pytest.param(s, m, marks=pytest.mark.slow)
    for s, m in [("supervised", "s1"), ("supervised", "s2"), ("simclr", "s2")]
]


@pytest.mark.parametrize(("strategy", "modalities"), STRATEGIES + MODALITY_VARIANTS)
def test_strategy_loss_goes_down_on_real_patches(ben_v2, tmp_path, strategy, modalities):
    """Three optimizer steps on six real S1+S2 pairs lower the objective measured on fixed views."""
    pl.seed_everything(0)
    model, data = make(ben_v2, strategy, modalities, lr=3e-3)
    batch = first_batch(data)
    before = objective(model, batch)
    recorder = LossRecorder()
    trainer(tmp_path, 3, [recorder], limit_val_batches=0, enable_checkpointing=False).fit(model, datamodule=data)
    after = objective(model, batch)
    assert len(recorder.losses) == 3 and all(torch.isfinite(torch.tensor(recorder.losses)))
    assert recorder.losses[0] == pytest.approx(before, rel=0.5)  # the same objective, other views
    assert after < 0.97 * before, (before, after, recorder.losses)


def test_terms_follow_the_strategy_and_labelled_rows(ben_v2):
    pl.seed_everything(0)
    model, data = make(ben_v2, "mosaic2")
    assert model.weights == {
        "intra_s1": 0.5,
        "intra_s2": 0.5,
        "inter": 1.0,
        "mulsupcon_fused": 0.5,
        "mulsupcon_s1": 0.25,
        "mulsupcon_s2": 0.25,
        "bce": 1.0,
        "bce_s1": 1.0,
        "bce_s2": 1.0,
    }
    batch = first_batch(data)
    batch["labelled"] = torch.zeros_like(batch["labelled"])  # no labels: supervised terms are exactly 0
    terms = model.loss_terms(batch)
    assert {t for t, v in terms.items() if v.item() == 0.0} == {
        "mulsupcon_fused",
        "mulsupcon_s1",
        "mulsupcon_s2",
        "bce",
        "bce_s1",
        "bce_s2",
    }
    assert all(terms[t].item() > 0 for t in ("intra_s1", "intra_s2", "inter"))
    # online probe of a self-supervised strategy: BCE trains fusion + classifier, never the encoders
    probe, _ = make(ben_v2, "iai_simclr")
    batch["labelled"] = torch.ones_like(batch["labelled"])
    probe.loss_terms(batch)["bce"].backward()
    assert all(p.grad is None for p in probe.net.encoder.parameters())
    assert probe.net.fusion[0].weight.grad.abs().sum() > 0 and probe.net.classifier.weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="unknown loss term"):
        MosaicModule(strategy="mosaic1", loss_weights={"bce": 1.0, "typo": 1.0})
    with pytest.raises(ConfigError, match="needs s1"):
        MosaicModule(strategy="supervised", modalities="s2", loss_weights={"intra_s1": 1.0})


def test_nan_loss_stops_with_the_step_and_the_terms(ben_v2):
    """A diverged classifier (NaN bias) on a real batch: the step refuses with the step and the loss terms."""
    model, data = make(ben_v2, "supervised")
    batch = first_batch(data)
    with torch.no_grad():
        model.net.classifier.bias.fill_(float("nan"))
    with pytest.raises(ConfigError) as err:
        model.training_step(batch, 0)
    assert re.fullmatch(  # the per-modality heads' terms stay finite: only the fused classifier diverged
        r"the loss became nan at step 0 \(epoch 0; bce=nan, bce_s1=0\.\d+, bce_s2=0\.\d+\): lower protocol\.lr or "
        r"check the input data for NaN/Inf values",
        str(err.value),
    )


class StopAfter(pl.Callback):
    """Ends the run cleanly after ``epochs`` epochs although it was configured for more (an interrupted run)."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


class CtrlC(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        raise KeyboardInterrupt


def _weights(module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_resume_restores_exact_state(ben_v2, tmp_path):
    """4 steps straight == 2 steps (of a 4-step run), checkpoint, resume for 2 more: identical weights.

    The train split holds 6 patches, so one step per epoch: the schedule, optimizer moments, epoch/step
    counters, loader shuffling and augmentation RNG must all come back for the weights to match bit for bit.
    """
    pl.seed_everything(0)
    straight, data = make(ben_v2, "mosaic1", warmup_steps=2)
    trainer(tmp_path / "a", 4, [RngState()], limit_val_batches=0).fit(straight, datamodule=data)

    pl.seed_everything(0)
    first, data = make(ben_v2, "mosaic1", warmup_steps=2)
    t1 = trainer(tmp_path / "b", 4, [RngState(), StopAfter(2)], limit_val_batches=0)
    t1.fit(first, datamodule=data)
    assert t1.global_step == 2
    ckpt = tmp_path / "half.ckpt"
    t1.save_checkpoint(ckpt)
    torch.manual_seed(123)  # a different RNG state: the checkpoint must bring back its own
    resumed, data = make(ben_v2, "mosaic1", warmup_steps=2)
    t2 = trainer(tmp_path / "c", 4, [RngState()], limit_val_batches=0)
    t2.fit(resumed, datamodule=data, ckpt_path=ckpt, weights_only=True)
    assert t2.global_step == 4
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert t2.lr_scheduler_configs[0].scheduler.last_epoch == 4


def test_ctrl_c_saves_a_checkpoint(ben_v2, tmp_path):
    from mosaic.backend.training.callbacks import InterruptCheckpoint

    model, data = make(ben_v2, "supervised")
    t = trainer(tmp_path, 5, [InterruptCheckpoint(), CtrlC()], limit_val_batches=0)
    with pytest.raises(SystemExit):
        t.fit(model, datamodule=data)
    saved = torch.load(tmp_path / "checkpoints" / "interrupted.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == 1
    torch.testing.assert_close(saved["state_dict"]["net.classifier.weight"], model.net.classifier.weight)


def test_cli_progress_stream_checkpoint_and_export_parts(ben_v2, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import io

    stream = io.StringIO()
    cfg = Path(__file__).resolve().parents[3] / "configs" / "supervised_s1s2.yaml"
    result = train(
        [
            "--config",
            str(cfg),
            "--data.root",
            str(ben_v2),
            *SMALL_RUN,
            "--protocol.epochs",
            "2",
            "--trainer.log_every_n_steps",
            "1",
            "--trainer.enable_progress_bar",
            "false",
        ],
        progress_stream=stream,
    )
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert events[0]["total_steps"] == 2 and events[0]["max_epochs"] == 2
    steps = [e for e in events if e["event"] == "step"]
    assert [s["step"] for s in steps] == [1, 2] and set(steps[0]["losses"]) == {"bce", "bce_s1", "bce_s2"}
    assert steps[0]["loss"] == pytest.approx(sum(steps[0]["losses"].values()))
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1] and 0 < epochs[0]["metrics"]["val/ap_macro"] <= 1
    saved = {Path(e["path"]).name for e in events if e["event"] == "checkpoint"}
    assert "last.ckpt" in saved
    assert Path(result["last_checkpoint"]).is_file() and events[-1]["last_checkpoint"] == result["last_checkpoint"]
    raw = torch.load(result["last_checkpoint"], map_location="cpu", weights_only=True)
    assert raw["hyper_parameters"]["class_names"][0] == "Urban fabric"
    module = MosaicModule.load_from_checkpoint(result["best_checkpoint"], map_location="cpu", weights_only=True).eval()
    parts = module.export_metadata()
    assert parts["s2_bands"] == ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    assert parts["s1_bands"] == ["VV", "VH"] and parts["strategy"] == "supervised"
    assert parts["norm_mean"]["s1"] == pytest.approx([-12.643863677978516, -19.352558135986328])
    assert parts["training"]["licence"] == "CDLA-Permissive-1.0"
    assert parts["metrics"]["val/ap_macro"] == pytest.approx(max(e["metrics"]["val/ap_macro"] for e in epochs))
    # the exported graph takes physical units and returns the module's sigmoid outputs
    s2 = torch.full((2, 10, 120, 120), 1500.0)
    s1 = torch.full((2, 2, 120, 120), -12.0)
    with torch.no_grad():
        expected = torch.sigmoid(module.net(s2, s1))
        torch.testing.assert_close(module.inference_model().probabilities(s2, s1)["fused"], expected)


def test_cli_unknown_key_is_one_clear_line(ben_v2, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"model:\n  strategy: mosaic1\n  backbon: resnet18\ndata:\n  root: {ben_v2}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mosaic.backend.cli", "train", "--config", str(cfg)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "mosaic train: error: invalid training configuration: Group 'model' does not accept option 'backbon'; "
        "did you mean 'model.backbone'?"
    ]


def test_too_few_labelled_patches_for_the_batch_name_both_protocol_keys(ben_v2):
    data = MosaicDataModule(root=str(ben_v2), batch_size=4, num_workers=0, label_fraction=0.1, keep_unlabelled=False)
    with pytest.raises(ConfigError) as err:
        data.train_dataloader()
    assert str(err.value) == (
        "the train split has 1 patches (protocol.label_fraction=0.1 of its labels), fewer than protocol.batch_size=4: "
        "lower the batch size or raise the label fraction"
    )

"""MoSAiC from published encoders (``--model.init_published``): at step 0 the encoders hold the published weights,
first-layer channels permuted so that each physical band meets its own weights (v0.1.1: S1 VH, VV and the S2 order
B02 B03 B04 B08 B05 B06 B07 B11 B12 B8A), so they compute the published network's features; bad combinations are
refused in one line; a short training from them on the bundled BigEarthNet sample runs and exports."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mosaic.backend.data.bands import S1_BANDS, s2_bands
from mosaic.backend.errors import ConfigError
from mosaic.backend.inference import load_model
from mosaic.backend.training.cli import train
from mosaic.backend.training.module import MosaicModule

from .conftest import card_order

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
MOSAIC = str(Path(sys.executable).parent / "mosaic")


def module(folders, **kw) -> MosaicModule:
    options = {"strategy": "mosaic1", "backbone": "resnet18", "fusion_dim": 64, "projection_dim": 32} | kw
    return MosaicModule(init_published=[str(f) for f in folders], **options)


def pooled(official, x: torch.Tensor) -> torch.Tensor:
    """The published network's pooled feature (before its classifier) of normalised input ``x``."""
    timm_model = official.vision_encoder
    return timm_model.forward_head(timm_model.forward_features(x), pre_logits=True)


def test_late_fusion_encoders_are_the_s1_and_s2_models_at_step_0(published, reference):
    (s1, s1_official), (s2, s2_official) = (
        published("resnet18", c, "0.1.1", seed=30 + i) for i, c in enumerate(("s1", "s2"))
    )
    net = module([s1, s2]).net.eval()
    for m, official, bands in (("s1", s1_official, S1_BANDS), ("s2", s2_official, s2_bands())):
        want = official.vision_encoder.state_dict()
        order = [card_order("0.1.1", m).index(b) for b in bands]  # our band i is the checkpoint's band order[i]
        first = "conv1.weight"
        want[first] = want[first][:, order]
        got = net.encoder[m].state_dict()
        assert set(got) == set(want) - {"fc.weight", "fc.bias"}
        for key, value in got.items():
            torch.testing.assert_close(value, want[key], atol=1e-6, rtol=0)
        # the same real patches through our normalisation + encoder (our band order) and through the published
        # network (its order, configilm's statistics) give the same feature
        ours = reference.patches(list(bands))  # normalised in our order by configilm's functions
        with torch.no_grad():
            torch.testing.assert_close(
                net.encoder[m](ours), pooled(official, reference.patches(card_order("0.1.1", m))), atol=1e-5, rtol=0
            )
        assert first in got and not torch.equal(got[first], official.vision_encoder.state_dict()[first])


def test_early_fusion_encoder_is_the_s1s2_model(published):
    folder, official = published("resnet18", "all", "0.2.0", seed=33)
    net = module([folder], strategy="supervised", fusion="early").net
    want = official.vision_encoder.state_dict()
    stacked = [*s2_bands(), *S1_BANDS]  # the early-fusion encoder's input: S2 then S1
    want["conv1.weight"] = want["conv1.weight"][:, [card_order("0.2.0", "all").index(b) for b in stacked]]
    for key, value in net.encoder["s1s2"].state_dict().items():
        torch.testing.assert_close(value, want[key], atol=1e-6, rtol=0)


def test_mismatches_are_refused_in_one_line(published):
    s1, _ = published("resnet18", "s1", "0.1.1", seed=30)
    s2, _ = published("resnet18", "s2", "0.1.1", seed=31)
    with pytest.raises(
        ConfigError, match=r"holds resnet18 encoders but model\.backbone is resnet50; set --model\.backbone"
    ):
        module([s1, s2], backbone="resnet50")
    with pytest.raises(ConfigError, match=r"needs an s1 \(for the s1 encoder\) and an s2 \(for the s2 encoder\)"):
        module([s2])
    with pytest.raises(ConfigError, match=r"use data\.upsampling nearest and no model\.norm_mean / norm_std"):
        module([s1, s2], upsampling="bilinear")
    with pytest.raises(ConfigError, match=r"takes the bands .* use data\.s2_bands s2_10"):
        module([s1, s2], s2_bands=s2_bands("s2_12"))


def test_a_short_training_from_published_encoders_runs_and_exports(published, ben_v2, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s1, _ = published("resnet18", "s1", "0.2.0", seed=34)
    s2, _ = published("resnet18", "s2", "0.2.0", seed=35)
    stream = io.StringIO()
    result = train(
        [
            "--config",
            str(CONFIGS / "mosaic1.yaml"),
            "--data.root",
            str(ben_v2),
            "--data.num_workers",
            "0",
            "--model.backbone",
            "resnet18",
            "--model.init_published",
            json.dumps([str(s1), str(s2)]),
            "--protocol.label_fraction",
            "null",
            "--protocol.batch_size",
            "6",
            "--protocol.epochs",
            "1",
            "--trainer.enable_progress_bar",
            "false",
        ],
        progress_stream=stream,
    )
    kinds = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert kinds[0] == "start" and kinds[-1] == "done"
    saved = torch.load(result["last_checkpoint"], map_location="cpu", weights_only=True)["hyper_parameters"]
    assert saved["init_published"] == [str(s1), str(s2)]
    run = subprocess.run(
        [MOSAIC, "export", result["last_checkpoint"], "-o", str(tmp_path / "model.onnx")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    meta = load_model(tmp_path / "model.onnx").metadata
    assert meta.heads == ("fused", "s1", "s2") and meta.strategy == "mosaic1"

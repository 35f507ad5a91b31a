"""``mosaic import reben``: published checkpoints (made with configilm in the published format) imported as ONNX
models predict the real T33UUP mosaic (``mosaic predict``, stride 120) equal to the official configilm model on the
same patches read with configilm's reader, interpolation and statistics; a wrong band order does not; a checkpoint
without a version is refused; the metadata says what the engine and the analyst need."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mosaic.backend.errors import ModelError
from mosaic.backend.inference import load_model
from mosaic.backend.published import reben

from .conftest import card_order
from .runs import imported, predict_cells

MOSAIC = str(Path(sys.executable).parent / "mosaic")


@pytest.mark.parametrize(
    ("arch", "band_config", "version"),
    [
        ("resnet18", "s2", "0.1.1"),
        ("resnet18", "s1", "0.2.0"),
        ("vit_tiny_patch16_224", "all", "0.2.0"),  # a ViT built for 120 px (token grid 7 x 7), as the published ViT-B/8
    ],
)
def test_imported_model_predicts_the_mosaic_as_the_official_model(
    arch, band_config, version, published, reference, t33uup_mosaic, tmp_path
):
    folder, official = published(arch, band_config, version, seed=1)
    path = imported([folder], tmp_path)
    got = predict_cells(path, t33uup_mosaic, tmp_path / "pred")
    want = reference.probabilities(official, card_order(version, band_config))
    assert want.std() > 0.02  # the random weights give spread-out probabilities: equality is a real check
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    meta = load_model(path).metadata
    assert meta.raw["architecture"] == {"backbone": arch, "modalities": reben.MODALITIES[band_config]}
    assert meta.heads == ("fused",)


def test_a_wrong_version_gives_another_map(published, reference, t33uup_mosaic, tmp_path):
    """The v0.1.1 checkpoint imported as v0.2.0 (a folder without the version in its name) differs from the
    official result; as v0.1.1 it equals it."""
    folder, official = published("resnet18", "all", "0.1.1", seed=2, folder_name="my-download")
    want = reference.probabilities(official, card_order("0.1.1", "all"))
    right = predict_cells(imported([folder], tmp_path, "right.onnx", version="0.1.1"), t33uup_mosaic, tmp_path / "r")
    wrong = predict_cells(imported([folder], tmp_path, "wrong.onnx", version="0.2.0"), t33uup_mosaic, tmp_path / "w")
    np.testing.assert_allclose(right, want, atol=1e-4, rtol=0)
    assert np.abs(wrong - want).max() > 0.02


def test_no_version_is_refused_in_one_line(published, tmp_path):
    folder, _ = published("resnet18", "s2", "0.2.0", seed=3, folder_name="downloaded")
    run = subprocess.run(
        [MOSAIC, "import", "reben", str(folder), "-o", str(tmp_path / "m.onnx")], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1
    assert "the reBEN version of" in run.stderr and "pass --reben-version 0.1.1 or 0.2.0" in run.stderr
    assert not (tmp_path / "m.onnx").exists()
    with pytest.raises(ModelError, match=r"is named resnet18-s2-v0\.2\.0 but --reben-version says 0\.1\.1"):
        imported([published("resnet18", "s2", "0.2.0", seed=3)[0]], tmp_path, version="0.1.1")


def test_metadata_of_an_imported_model(published, tmp_path):
    folder, _ = published("resnet18", "s2", "0.1.1", seed=1)
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(
        json.dumps(
            {
                "base_url": "http://127.0.0.1:9",
                "organisation": "test",
                "files": ["config.json", "model.safetensors"],
                "models": [
                    {
                        "id": "resnet18-s2-v0.1.1",
                        "architecture": "resnet18",
                        "band_config": "s2",
                        "modalities": "s2",
                        "version": "0.1.1",
                        "licence": "MIT",
                        "revision": "main",
                        "weights": {"approx_size_mb": 44.8, "sha256": None},
                        "published_metrics": {"ap_macro": 0.5, "ap_micro": 0.75},
                    }
                ],
            }
        )
    )
    meta = load_model(imported([folder], tmp_path, catalogue=str(catalogue))).metadata
    assert meta.class_names == tuple(sorted(meta.class_names)) and len(meta.class_names) == 19
    assert meta.s2.bands == ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")  # ESA order in
    assert (meta.s2.level, meta.s2.quantification_value, meta.s2.add_offset) == ("L2A", 10000.0, 0.0)
    assert meta.upsampling == "nearest" and meta.patch_size_px == 120 and meta.gsd_m == 10
    assert meta.thresholds == (0.5,) * 19 and not meta.thresholds_tuned
    assert meta.metrics == {"published/test/ap_macro": 0.5, "published/test/ap_micro": 0.75}
    source = meta.training["published"]["fused"]
    assert source["model_id"] == "resnet18-s2-v0.1.1" and source["licence"] == "MIT"
    assert source["band_order"] == card_order("0.1.1", "s2")
    from mosaic.backend.published.checkpoint import sha256_of

    assert source["weights_sha256"] == sha256_of(folder / "model.safetensors")
    shown = subprocess.run([MOSAIC, "inspect", str(tmp_path / "model.onnx")], capture_output=True, text=True)
    assert shown.returncode == 0 and "published/test/ap_macro=0.5000" in shown.stdout


def test_thresholds_tuned_on_a_validation_split(published, ben_v2, tmp_path):
    folder, _ = published("resnet18", "all", "0.2.0", seed=4)
    meta = load_model(imported([folder], tmp_path, tune_on=str(ben_v2))).metadata
    assert meta.thresholds_tuned and meta.thresholds != (0.5,) * 19
    assert 0 < meta.metrics["test/ap_macro"] <= 1
    assert "validation split (6 patches)" in meta.training["thresholds_tuned_on"]


def test_an_unsupported_architecture_is_refused_listing_the_supported(published, tmp_path):
    folder, _ = published("resnet18", "s2", "0.2.0", seed=1)
    other = tmp_path / "efficientnet_b0-s2-v0.2.0"
    other.mkdir()
    (other / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    config = json.loads((folder / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "timm_model_name": "efficientnet_b0"}))
    run = subprocess.run(
        [MOSAIC, "import", "reben", str(other), "-o", str(tmp_path / "m.onnx")], capture_output=True, text=True
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert (
        "the published architecture 'efficientnet_b0' is not supported; supported (all at 120 px): ResNet" in run.stderr
    )
    assert "ViT (vit_base_patch8_224, built for 120 px)" in run.stderr and not (tmp_path / "m.onnx").exists()

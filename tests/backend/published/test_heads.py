"""One model from an S1+S2, an S1-only and an S2-only published checkpoint: ``mosaic predict`` on the real T33UUP
mosaic uses the fused head (= the S1+S2 model) on clear tiles, the S1-only head (= the S1 model) under a cloud mask
over everything, the S2-only head (= the S2 model) where S1 is missing; each equal to the official configilm model
on configilm's patches to 1e-5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from mosaic.backend.errors import ModelError
from mosaic.backend.inference import LABEL_NODATA, load_model

from .conftest import card_order
from .runs import imported, predict_cells


def full_cloud_mask(mosaic: Path, path: Path) -> Path:
    """A binary mask (1 = cloud) over the whole mosaic, on its B02 grid."""
    with rasterio.open(next(mosaic.glob("S2A_*_B02.tif"))) as b02:
        profile = b02.profile | {"dtype": "uint8", "nodata": None, "count": 1}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((profile["height"], profile["width"]), dtype=np.uint8), 1)
    return path


def missing_s1(mosaic: Path, folder: Path) -> list[Path]:
    """The mosaic's VV and VH as files holding no data (NaN everywhere)."""
    folder.mkdir()
    out = []
    for src_path in sorted(mosaic.glob("S1_*.tif")):
        with rasterio.open(src_path) as src:
            profile = src.profile
        out.append(folder / src_path.name)
        with rasterio.open(out[-1], "w", **profile) as dst:
            dst.write(np.full((profile["height"], profile["width"]), np.nan, dtype=np.float32), 1)
    return out


@pytest.mark.parametrize(("arch", "version"), [("resnet18", "0.2.0"), ("convnextv2_atto", "0.1.1")])
def test_three_heads_equal_the_three_official_models(arch, version, published, reference, t33uup_mosaic, tmp_path):
    checkpoints = {
        config: published(arch, config, version, seed=10 + i) for i, config in enumerate(("all", "s1", "s2"))
    }
    path = imported([folder for folder, _ in checkpoints.values()], tmp_path)
    meta = load_model(path).metadata
    assert meta.heads == ("fused", "s1", "s2") and meta.raw["architecture"]["modalities"] == "s1s2"
    assert {h: s["model_id"] for h, s in meta.training["published"].items()} == {
        "fused": f"{arch}-all-v{version}",
        "s1": f"{arch}-s1-v{version}",
        "s2": f"{arch}-s2-v{version}",
    }

    def official(config: str) -> np.ndarray:
        return reference.probabilities(checkpoints[config][1], card_order(version, config))

    fused = predict_cells(path, t33uup_mosaic, tmp_path / "clear")
    cloudy = predict_cells(
        path, t33uup_mosaic, tmp_path / "cloudy", cloud_mask=str(full_cloud_mask(t33uup_mosaic, tmp_path / "c.tif"))
    )
    no_s1 = predict_cells(path, t33uup_mosaic, tmp_path / "no_s1", s1=missing_s1(t33uup_mosaic, tmp_path / "s1"))
    np.testing.assert_allclose(fused, official("all"), atol=1e-5, rtol=0)
    np.testing.assert_allclose(cloudy, official("s1"), atol=1e-5, rtol=0)
    np.testing.assert_allclose(no_s1, official("s2"), atol=1e-5, rtol=0)
    with rasterio.open(tmp_path / "cloudy" / "labels.tif") as ds:
        assert set(np.unique(ds.read(3))) == {2, LABEL_NODATA}  # source band: S1 only; the empty cell 37_87: nodata


def test_two_of_a_kind_and_no_fused_head_are_refused(published, tmp_path):
    s1, _ = published("resnet18", "s1", "0.2.0", seed=10)
    s2, _ = published("resnet18", "s2", "0.2.0", seed=11)
    s1_old, _ = published("resnet18", "s1", "0.1.1", seed=12)
    with pytest.raises(ModelError, match="are both s1 models; give one checkpoint per modality"):
        imported([s1, s1_old], tmp_path)
    with pytest.raises(ModelError, match="an S1-only and an S2-only checkpoint make no fused head"):
        imported([s1, s2], tmp_path)

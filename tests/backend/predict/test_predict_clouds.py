"""``mosaic predict --cloud-mask`` on the real T33UUP mosaic: cloudy tiles go to the S1-only head, the others stay
exactly today's fused prediction; an SCL layer in EPSG:4326 is warped onto the S2 grid; old models refuse it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from mosaic.backend.errors import InputError, ModelError
from mosaic.backend.inference import LABEL_NODATA, Window, load_model
from mosaic.backend.predict.prediction import predict
from mosaic.backend.predict.reader import RasterioReader
from mosaic.backend.predict.request import PredictRequest

from ...cloud_masks import CLOUDY, P
from .prediction_requests import predict_request


def _files(folder: Path, prefix: str) -> list[Path]:
    return sorted(folder.glob(f"{prefix}*.tif"))


def _args(mosaic: Path, model, out, **kw) -> PredictRequest:
    return predict_request(_files(mosaic, "S2A"), _files(mosaic, "S1_"), model, out, **kw)


def _read(out: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    with rasterio.open(out / "probabilities.tif") as ds:
        probs = ds.read()
    with rasterio.open(out / "labels.tif") as ds:
        labels, tags = ds.read(), ds.tags()
    return probs, labels, tags


@pytest.fixture(scope="module")
def runs(t33uup_mosaic, heads_onnx_model_path, t33uup_cloud_mask, tmp_path_factory):
    """The 3-head model without and with the cloud mask."""
    clear, cloudy = tmp_path_factory.mktemp("clear"), tmp_path_factory.mktemp("cloudy")
    predict(_args(t33uup_mosaic, heads_onnx_model_path, clear))
    predict(_args(t33uup_mosaic, heads_onnx_model_path, cloudy, cloud_mask=str(t33uup_cloud_mask)))
    return _read(clear), _read(cloudy), cloudy


def _s1_only(mosaic: Path, model_path: str, r: int, c: int) -> np.ndarray:
    """The S1-only head's probabilities of tile (r, c), read with the same reader."""
    model = load_model(model_path, threads=2)
    with RasterioReader(_files(mosaic, "S2A"), _files(mosaic, "S1_"), model.metadata) as reader:
        s2, s1 = reader.read(Window(r * P, c * P, P, P))
    return model.predict_heads(s2[None], s1[None])["s1"][0]


def test_cloudy_tiles_are_the_s1_head_and_the_others_todays_fused_prediction(
    runs, t33uup_mosaic, heads_onnx_model_path
):
    (clear, clear_labels, _), (probs, labels, tags), out = runs
    assert "binary mask" in tags["MOSAIC_INPUT_CLOUD_MASK"]
    for r in range(4):
        for c in range(2):
            if (r, c) in CLOUDY:
                np.testing.assert_allclose(
                    probs[:, r, c], _s1_only(t33uup_mosaic, heads_onnx_model_path, r, c), atol=1e-5
                )
                assert not np.allclose(probs[:, r, c], clear[:, r, c], atol=1e-3)
            else:
                np.testing.assert_array_equal(probs[:, r, c], clear[:, r, c])
    # source band: 2 = S1 only where cloudy, 1 = fused elsewhere; the empty cell 37_87 (0, 0) has neither modality
    expected = np.ones((4, 2), dtype=np.uint32)
    for r, c in CLOUDY:
        expected[r, c] = 2
    expected[0, 0] = LABEL_NODATA
    np.testing.assert_array_equal(labels[2], expected)
    assert set(np.unique(clear_labels[2])) == {1, LABEL_NODATA}
    np.testing.assert_array_equal(labels[0][labels[2] == 1], clear_labels[0][labels[2] == 1])
    assert (out / "labels_source.qml").read_text(encoding="utf-8").count("paletteEntry") == 4
    import geopandas as gpd

    tiles = gpd.read_file(out / "tiles.gpkg").sort_values(["row", "col"])
    cells = [(r, c) for r in range(4) for c in range(2) if (r, c) != (0, 0)]
    assert {(t.row, t.col): t.source for t in tiles.itertuples()} == {
        cell: "s1" if cell in CLOUDY else "fused" for cell in cells
    }


def test_an_scl_layer_in_another_crs_is_warped_and_used(
    runs, t33uup_mosaic, heads_onnx_model_path, t33uup_scl_4326, tmp_path
):
    _, (probs, labels, _), _ = runs
    predict(_args(t33uup_mosaic, heads_onnx_model_path, tmp_path, cloud_mask=str(t33uup_scl_4326)))
    scl_probs, scl_labels, tags = _read(tmp_path)
    assert tags["MOSAIC_INPUT_CLOUD_MASK"].startswith("band 1: Sentinel-2 scene classification; cloudy: cloud shadows")
    np.testing.assert_array_equal(scl_labels[2], labels[2])
    np.testing.assert_allclose(scl_probs, probs, atol=1e-6)


def test_old_models_and_bad_masks_are_refused_in_one_line(
    t33uup_mosaic, onnx_model_path, heads_onnx_model_path, t33uup_cloud_mask, tmp_path
):
    with pytest.raises(ModelError, match=r"model.onnx has no S1-only head .* leave out the cloud mask\.$"):
        predict(_args(t33uup_mosaic, onnx_model_path, tmp_path / "old", cloud_mask=str(t33uup_cloud_mask)))
    bad = tmp_path / "dem.tif"
    with rasterio.open(t33uup_cloud_mask) as src:
        profile = src.profile | {"dtype": "float32"}
        values = src.read(1).astype(np.float32) * 812.5 - 3.0
    with rasterio.open(bad, "w", **profile) as dst:
        dst.write(values, 1)
    with pytest.raises(InputError, match=r"cannot tell what the cloud mask dem\.tif holds .* --cloud-mask-kind scl"):
        predict(_args(t33uup_mosaic, heads_onnx_model_path, tmp_path / "bad", cloud_mask=str(bad)))
    assert not (tmp_path / "old").exists() and not (tmp_path / "bad").exists()


def test_the_six_real_cloudy_bigearthnet_patches_go_to_the_s1_head_under_a_mask(
    ben_v2, heads_onnx_model_path, tmp_path
):
    """The bundled snow / cloud / shadow patches, each with a mask marking it cloudy: one cell, from the S1-only head
    (equal to that head on the patch read alone, 1e-5), source 2."""
    import pandas as pd

    cloudy = pd.read_parquet(ben_v2 / "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
    assert len(cloudy) == 6
    model = load_model(heads_onnx_model_path, threads=2)
    for row in cloudy.itertuples():
        s2 = ben_v2 / "BigEarthNet-S2" / row.patch_id.rsplit("_", 2)[0] / row.patch_id
        s1 = ben_v2 / "BigEarthNet-S1" / row.s1_name.rsplit("_", 3)[0] / row.s1_name
        mask = tmp_path / f"{row.patch_id}_cloud_mask.tif"
        with rasterio.open(next(s2.glob("*_B02.tif"))) as b02:
            with rasterio.open(mask, "w", **(b02.profile | {"dtype": "uint8", "nodata": None})) as dst:
                dst.write(np.ones((b02.height, b02.width), dtype=np.uint8), 1)
        out = tmp_path / row.patch_id
        predict(predict_request([s2], [s1], heads_onnx_model_path, out, threads=2, cloud_mask=str(mask)))
        probs, labels, _ = _read(out)
        assert probs.shape[1:] == (1, 1) and labels[2, 0, 0] == 2, row.patch_id
        with RasterioReader([s2], [s1], model.metadata) as reader:
            alone = model.predict_heads(*(a[None] for a in reader.read(Window(0, 0, P, P))))["s1"][0]
        np.testing.assert_allclose(probs[:, 0, 0], alone, atol=1e-5, err_msg=row.patch_id)

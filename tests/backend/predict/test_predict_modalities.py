"""``mosaic predict --s2`` alone and ``--s1`` alone: every tile from the model's S2-only / S1-only head, equal to that
head where a run of both modalities lacks the other one; the bundled Major-TOM scene (S2, no S1) end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from mosaic.backend.inference import LABEL_NODATA
from mosaic.backend.predict.prediction import predict

from .prediction_requests import predict_request

MOSAIC = str(Path(sys.executable).parent / "mosaic")


def _read(out: Path) -> tuple[np.ndarray, np.ndarray, rasterio.Affine, dict]:
    with rasterio.open(out / "probabilities.tif") as ds:
        probs, transform = ds.read(), ds.transform
    with rasterio.open(out / "labels.tif") as ds:
        return probs, ds.read(), transform, ds.tags()


def _bottom_half_missing(files: list[Path], folder: Path) -> list[Path]:
    """Copies of ``files`` without data in the mosaic's bottom half (rows of tiles 2 and 3): S2 0, S1 NaN."""
    folder.mkdir()
    out = []
    for path in files:
        with rasterio.open(path) as src:
            a, profile = src.read(), src.profile
        a[:, a.shape[1] // 2 :] = src.nodata if src.nodata is not None and not np.isnan(src.nodata) else np.nan
        with rasterio.open(folder / path.name, "w", **profile) as dst:
            dst.write(a)
        out.append(folder / path.name)
    return out


@pytest.fixture(scope="module")
def files(t33uup_mosaic) -> dict[str, list[Path]]:
    return {"s2": sorted(t33uup_mosaic.glob("S2A*.tif")), "s1": sorted(t33uup_mosaic.glob("S1_*.tif"))}


@pytest.mark.parametrize(("alone", "code"), [("s2", 3), ("s1", 2)])
def test_one_modality_is_its_head_everywhere_and_equals_it_where_a_run_of_both_lacks_the_other(
    files, heads_onnx_model_path, tmp_path, alone, code
):
    other = "s1" if alone == "s2" else "s2"
    predict(predict_request(**{alone: files[alone], other: []}, model=heads_onnx_model_path, out=tmp_path / "alone"))
    probs, labels, transform, tags = _read(tmp_path / "alone")
    expected = np.full((4, 2), code, dtype=np.uint32)
    expected[0, 0] = LABEL_NODATA  # the empty patch 37_87
    np.testing.assert_array_equal(labels[2], expected)
    finest = next(p for p in files[alone] if p.stem.endswith(("_B02", "_VV")))
    with rasterio.open(finest) as grid:  # the 10 m grid of the modality given (S1's in a run of S1 alone)
        assert transform == grid.transform * rasterio.Affine.scale(120)
    assert tags["MOSAIC_INPUT_INPUTS"] == f"{alone.upper()} only: every tile from the model's {alone.upper()}-only head"
    # both modalities, the other one missing in the bottom half: those tiles go to the same head, same values
    both = {alone: files[alone], other: _bottom_half_missing(files[other], tmp_path / other)}
    predict(predict_request(**both, model=heads_onnx_model_path, out=tmp_path / "both"))
    both_probs, both_labels, _, _ = _read(tmp_path / "both")
    np.testing.assert_array_equal(both_labels[2, 2:], labels[2, 2:])
    np.testing.assert_array_equal(both_probs[:, 2:], probs[:, 2:])
    assert (both_labels[2, 1:2] == 1).all()  # top half: fused, as ever


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MOSAIC, "predict", *args, "--no-progress"], capture_output=True, text=True, timeout=300)


def test_models_without_the_head_and_runs_without_inputs_are_refused_in_one_line(files, onnx_model_path, tmp_path):
    out = tmp_path / "out"
    proc = _cli("--s1", *map(str, files["s1"]), "--model", onnx_model_path, "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        "mosaic predict: error: model.onnx has no S1-only head (it was exported before per-modality heads, or trained "
        "on other inputs), so it cannot classify Sentinel-1 alone; give the Sentinel-2 bands as well, or use a model "
        "with per-modality heads."
    ]
    assert not out.exists()
    proc = _cli("--model", onnx_model_path, "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        "mosaic predict: error: give the inputs: --s2 and --s1 for one scene (or one of them alone, for the model's "
        "S2-only or S1-only head), or --scenes FILE for many."
    ]


def test_the_major_tom_scene_without_s1_is_classified_end_to_end(shared_data, heads_onnx_model_path, tmp_path):
    """The bundled Major-TOM clip (T48QUE, 1068 px, all 12 bands and a cloud mask in one folder, no S1): 9 × 9 cells
    of 1.2 km in UTM 48N, every one from the S2-only head; its all-clear cloud mask changes nothing."""
    scene = next((shared_data / "major-tom-core-s2l2a" / "199U" / "199U_1099R").iterdir())
    runs = {}
    for name, extra in (("plain", ()), ("cloud", ("--cloud-mask", str(scene / "cloud_mask.tif")))):
        out = tmp_path / name
        proc = _cli("--s2", str(scene), "--model", heads_onnx_model_path, "--out", str(out), "--threads", "2", *extra)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("81 tiles predicted, 0 skipped as nodata")
        assert "mosaic predict: S2 only: every tile from the model's S2-only head" in proc.stderr
        runs[name] = _read(out)
    probs, labels, transform, tags = runs["plain"]
    assert probs.shape == (19, 9, 9) and np.isfinite(probs).all() and (labels[2] == 3).all()
    assert (transform.a, transform.e) == (1200.0, -1200.0)
    assert (transform.c, transform.f) == pytest.approx((362612.197, 1987088.206), abs=1e-3)
    assert tags["MOSAIC_INPUT_S2_GRID"] == "S2 grid used as it is (10 m pixels)"
    np.testing.assert_array_equal(runs["cloud"][0], probs)

"""Bad inputs and interruptions of ``mosaic predict`` on real (or really damaged) rasters, through the real command.

Every refusal is one line ``mosaic predict: error: …`` with exit status 2, and leaves nothing in ``--out``.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from mosaic.backend.errors import InputError
from mosaic.backend.predict.prediction import predict
from mosaic.backend.predict.request import PredictRequest

from .prediction_requests import predict_request

MOSAIC = str(Path(sys.executable).parent / "mosaic")


def _run_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MOSAIC, "predict", *args, "--no-progress"], capture_output=True, text=True, timeout=300, **kw
    )


def _assert_refused(proc: subprocess.CompletedProcess, out: Path, match: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("mosaic predict: error: "), proc.stderr
    assert match in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists() or list(out.iterdir()) == []


def _args(s2, s1, model, out, **kw) -> PredictRequest:
    return predict_request(s2, s1, model, out, **kw)


@pytest.fixture(scope="module")
def s2_files(t33uup_mosaic) -> list[Path]:
    return sorted(t33uup_mosaic.glob("S2A*.tif"))


@pytest.fixture(scope="module")
def s1_files(t33uup_mosaic) -> list[Path]:
    return sorted(t33uup_mosaic.glob("S1_*.tif"))


@pytest.fixture(scope="module")
def reference(s2_files, s1_files, onnx_model_path, tmp_path_factory) -> np.ndarray:
    """Probabilities of the untouched mosaic (19 × 4 × 2 cells)."""
    out = tmp_path_factory.mktemp("reference")
    predict(_args(s2_files, s1_files, onnx_model_path, out))
    with rasterio.open(out / "probabilities.tif") as ds:
        return ds.read()


def _copy_with(path: Path, folder: Path, edit) -> Path:
    """A Float32 copy of a real band file with ``edit(array)`` applied (the file's nodata kept)."""
    with rasterio.open(path) as src:
        a, profile = src.read(1).astype(np.float32), src.profile
    edit(a)
    target = folder / path.name
    with rasterio.open(target, "w", **(profile | {"dtype": "float32"})) as dst:
        dst.write(a, 1)
    return target


# ----------------------------------------------------------------------------------------- S1 units


def test_linear_power_s1_is_detected_and_refused(s2_files, t33uup_s1_linear, onnx_model_path, tmp_path):
    out = tmp_path / "out"
    proc = _run_cli(
        "--s2", *map(str, s2_files), "--s1", *map(str, t33uup_s1_linear), "--model", onnx_model_path, "--out", str(out)
    )
    _assert_refused(proc, out, "S1 band VV (")
    assert ".tif) looks like linear power or amplitude, not dB (median" in proc.stderr
    assert (
        ", 0% negative values); pass --s1-units linear for power (10·log10), pass --s1-units amplitude for "
        "amplitude (20·log10), or pass --s1-units db to use it as it is."
    ) in proc.stderr


def test_linear_power_s1_converted_on_request_equals_the_db_run(
    s2_files, t33uup_s1_linear, onnx_model_path, reference, tmp_path
):
    predict(_args(s2_files, t33uup_s1_linear, onnx_model_path, tmp_path, s1_units="linear"))
    with rasterio.open(tmp_path / "probabilities.tif") as ds:
        converted = ds.read()
    np.testing.assert_array_equal(np.isnan(converted), np.isnan(reference))
    np.testing.assert_allclose(converted, reference, atol=1e-4, rtol=0)


def test_db_s1_passes_the_check_and_db_skips_it(s2_files, t33uup_s1_linear, onnx_model_path, tmp_path):
    """``--s1-units db`` takes the values as they are: linear data then runs (wrongly, on the user's word)."""
    summary, _ = predict(_args(s2_files, t33uup_s1_linear, onnx_model_path, tmp_path, s1_units="db"))
    assert summary.tiles_run == 7


# ------------------------------------------------------------------------------------ bands and names


def test_unrecognisable_band_names_are_named(s2_files, s1_files, onnx_model_path, tmp_path):
    renamed = []
    for i, p in enumerate(s2_files):
        renamed.append(tmp_path / f"layer{i}.tif")
        os.symlink(p, renamed[-1])
    out = tmp_path / "out"
    proc = _run_cli(
        "--s2", *map(str, renamed), "--s1", *map(str, s1_files), "--model", onnx_model_path, "--out", str(out)
    )
    _assert_refused(proc, out, "S2 band(s) B02, B03, B04")
    assert "(no band name recognised in layer0.tif, layer1.tif, layer2.tif, …); name files like ..._B02.tif" in (
        proc.stderr
    )


def test_stacked_raster_with_an_extra_band_is_refused(s2_files, s1_files, onnx_model_path, tmp_path):
    with rasterio.open(s2_files[1]) as ref:  # B02, the 10 m grid
        profile = ref.profile | {"count": 11}
        data = np.repeat(ref.read(), 11, axis=0)
    stack = tmp_path / "s2_stack.tif"
    with rasterio.open(stack, "w", **profile) as dst:
        dst.write(data)
    out = tmp_path / "out"
    proc = _run_cli("--s2", str(stack), "--s1", *map(str, s1_files), "--model", onnx_model_path, "--out", str(out))
    _assert_refused(proc, out, "s2_stack.tif holds 11 bands but the model needs 10 S2 bands")


def test_folder_with_extra_bands_is_accepted(t33uup_mosaic, onnx_model_path, reference, tmp_path):
    """The mosaic folder holds B01, B09, VV and VH beside the model's 10 S2 bands, as BigEarthNet folders do."""
    summary, _ = predict(_args([t33uup_mosaic], [t33uup_mosaic], onnx_model_path, tmp_path))
    assert summary.tiles_run == 7
    with rasterio.open(tmp_path / "probabilities.tif") as ds:
        np.testing.assert_allclose(ds.read(), reference, atol=1e-6)


# ------------------------------------------------------------------------------------- nodata, NaN, inf


def test_aoi_entirely_nodata_is_refused(s2_files, s1_files, onnx_model_path, tmp_path):
    from shapely.geometry import box

    # the mosaic's top-left 1.2 km cell (patch 37_87, 344400..345600 × 5294400..5295600) holds no data
    gpd.GeoDataFrame(geometry=[box(344500, 5294500, 345500, 5295500)], crs=32633).to_file(tmp_path / "aoi.gpkg")
    out = tmp_path / "out"
    proc = _run_cli(
        "--s2",
        *map(str, s2_files),
        "--s1",
        *map(str, s1_files),
        "--model",
        onnx_model_path,
        "--out",
        str(out),
        "--aoi",
        str(tmp_path / "aoi.gpkg"),
    )
    _assert_refused(proc, out, "no tile of the processed extent has enough data: all 1 tiles are more than 50% nodata")


def test_s2_band_all_nodata_is_refused(s2_files, s1_files, onnx_model_path, tmp_path):
    b04 = next(p for p in s2_files if p.name.endswith("_B04.tif"))
    damaged = _copy_with(b04, tmp_path, lambda a: a.fill(0))  # S2 nodata is 0
    s2 = [damaged if p == b04 else p for p in s2_files]
    with pytest.raises(InputError, match="all 8 tiles are more than 50% nodata"):
        predict(_args(s2, s1_files, onnx_model_path, tmp_path / "out"))
    assert not (tmp_path / "out").exists()  # the refused run removed the --out it created


def test_nan_and_inf_are_nodata(s2_files, s1_files, onnx_model_path, reference, tmp_path):
    """NaN over most of cell (1, 0) skips it; ±inf in a corner of cell (2, 1) is filled like NaN would be."""
    b04 = next(p for p in s2_files if p.name.endswith("_B04.tif"))
    (tmp_path / "inf").mkdir()
    (tmp_path / "nan").mkdir()

    def damage(a: np.ndarray, corner: float) -> None:
        a[120:220, 0:120] = np.nan  # 83 % of the tile at rows 120-239, cols 0-119
        a[240:270, 120:150] = corner
        a[270:280, 120:150] = -corner

    with_inf = _copy_with(b04, tmp_path / "inf", lambda a: damage(a, np.inf))
    with_nan = _copy_with(b04, tmp_path / "nan", lambda a: damage(a, np.nan))
    results = {}
    for name, band in (("inf", with_inf), ("nan", with_nan)):
        s2 = [band if p == b04 else p for p in s2_files]
        summary, _ = predict(_args(s2, s1_files, onnx_model_path, tmp_path / name / "out"))
        assert (summary.tiles_run, summary.tiles_skipped) == (6, 2)
        with rasterio.open(tmp_path / name / "out" / "probabilities.tif") as ds:
            results[name] = ds.read()
    np.testing.assert_array_equal(results["inf"], results["nan"])
    assert np.isnan(results["inf"][:, 1, 0]).all() and np.isfinite(results["inf"][:, 2, 1]).all()
    assert np.abs(results["inf"][:, 2, 1] - reference[:, 2, 1]).max() > 0  # the damaged pixels were filled
    untouched = np.ones((4, 2), dtype=bool)
    untouched[[0, 1, 2], [0, 0, 1]] = False
    np.testing.assert_allclose(results["inf"][:, untouched], reference[:, untouched], atol=1e-6)


# ------------------------------------------------------------------------------------------- outputs


def test_output_folder_that_cannot_be_created(s2_files, s1_files, onnx_model_path, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "out"
    proc = _run_cli(
        "--s2", *map(str, s2_files), "--s1", *map(str, s1_files), "--model", onnx_model_path, "--out", str(out)
    )
    _assert_refused(proc, out, f"cannot write to {out} (Not a directory); choose another --out.")
    assert blocker.read_text() == "not a folder"


def test_output_folder_without_write_permission(s2_files, s1_files, onnx_model_path, tmp_path):
    """A read-only parent (0o500); as root, where permissions do not stop writes, sysfs (refused even to root)."""
    parent = tmp_path / "read_only"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        out, reason = parent / "out", "Permission denied"
        if os.access(parent, os.W_OK):  # root
            out, reason = Path("/sys/mosaic-predict-out"), "Operation not permitted"
        proc = _run_cli(
            "--s2", *map(str, s2_files), "--s1", *map(str, s1_files), "--model", onnx_model_path, "--out", str(out)
        )
        _assert_refused(proc, out, f"cannot write to {out} ({reason}); choose another --out.")
    finally:
        parent.chmod(0o700)


def _file_size_limit(limit: int):
    def apply() -> None:  # runs in the child: writes past ``limit`` bytes fail with EFBIG instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_running_out_of_space_keeps_the_previous_outputs(s2_files, s1_files, onnx_model_path, tmp_path):
    """A real write failure (file-size limit: EFBIG, as a full disk gives ENOSPC) with ``--overwrite``."""
    out = tmp_path / "out"
    args = ["--s2", *map(str, s2_files), "--s1", *map(str, s1_files), "--model", onnx_model_path, "--out", str(out)]
    assert _run_cli(*args).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = _run_cli(*args, "--overwrite", preexec_fn=_file_size_limit(40_000))  # the GeoPackage needs ~100 kB
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"mosaic predict: error: writing tiles.gpkg in {out} failed (")
    assert lines[0].endswith("); free some space or choose another --out. Nothing was kept.")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched, no partial folder


# --------------------------------------------------------------------------------------- interruptions


@pytest.mark.parametrize("after_batches", [0, 1, 3])
def test_cancel_at_any_batch_leaves_nothing(s2_files, s1_files, onnx_model_path, tmp_path, after_batches):
    from mosaic.backend.inference import InferenceCancelledError, load_model, run_inference
    from mosaic.backend.predict.reader import RasterioReader
    from mosaic.backend.predict.writer import PredictionOutputs

    model = load_model(onnx_model_path, threads=2)
    polls = []
    with RasterioReader(s2_files, s1_files, model.metadata) as reader:
        outputs = PredictionOutputs(tmp_path, reader, model.metadata, 120)
        with pytest.raises(InferenceCancelledError):
            try:
                run_inference(
                    model,
                    reader,
                    outputs.sinks,
                    batch_size=2,
                    is_cancelled=lambda: polls.append(1) or len(polls) > after_batches,
                )
            except BaseException:
                outputs.abort()
                raise
    assert len(polls) == after_batches + 1
    assert list(tmp_path.iterdir()) == []


def _start_long_run(s2_files, s1_files, model: str, out: Path) -> subprocess.Popen:
    """65 tiles one by one (stride 30, batch 1): several seconds of work to interrupt."""
    args = [
        "--s2",
        *map(str, s2_files),
        "--s1",
        *map(str, s1_files),
        "--model",
        model,
        "--out",
        str(out),
        "--stride",
        "30",
        "--batch-size",
        "1",
        "--threads",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen([MOSAIC, "predict", *args], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob(".mosaic-partial-*/*.qml")):  # outputs are open (styles last): the run is under way
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.05)
    time.sleep(1.0)
    assert proc.poll() is None
    return proc


def test_ctrl_c_stops_prediction_and_removes_partial_outputs(s2_files, s1_files, onnx_model_path, tmp_path):
    out = tmp_path / "out"
    proc = _start_long_run(s2_files, s1_files, onnx_model_path, out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and stderr.strip().splitlines()[-1] == "mosaic predict: interrupted"
    assert not out.exists()  # the interrupted run removed the --out it created


def test_killed_prediction_leaves_no_complete_looking_output(s2_files, s1_files, onnx_model_path, tmp_path):
    out = tmp_path / "out"
    proc = _start_long_run(s2_files, s1_files, onnx_model_path, out)
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate(timeout=60)
    left = list(out.iterdir())
    assert len(left) == 1 and left[0].name.startswith(f".mosaic-partial-{proc.pid}-")  # hidden, never final names
    # the next run in the same folder removes the dead run's work folder and completes
    done = _run_cli(
        "--s2", *map(str, s2_files), "--s1", *map(str, s1_files), "--model", onnx_model_path, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "confidence.qml",
        "confidence.tif",
        "labels.qml",
        "labels.tif",
        "labels_source.qml",
        "probabilities.qml",
        "probabilities.tif",
        "tiles.gpkg",
    ]
    shutil.rmtree(out)

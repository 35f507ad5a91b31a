"""Every input identified: what analysts really export, derived from the real T33UUP mosaic and SSL4EO pair.

Each family either gives the original run's probabilities or a one-line refusal (exit 2, nothing in ``--out``)
that names the option deciding it — never exit 0 with a wrong map.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.warp import Resampling, calculate_default_transform, reproject

from mosaic.backend.predict.prediction import predict
from mosaic.backend.predict.request import PredictRequest

from .prediction_requests import predict_request

MOSAIC = str(Path(sys.executable).parent / "mosaic")
PRODUCT_0509 = "S2B_MSIL2A_20240612T101031_N0509_R022_T33UUP_20240612T140000"
BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")


def _args(s2, s1, model, out, **kw) -> PredictRequest:
    return predict_request(s2, s1, model, out, **kw)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MOSAIC, "predict", *args, "--no-progress"], capture_output=True, text=True, timeout=300)


def _refused(proc: subprocess.CompletedProcess, out: Path, *parts: str) -> str:
    """The one refusal line (exit 2, no traceback, no --out folder); asserts it holds every part."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("mosaic predict: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    assert not out.exists()
    return lines[0]


def _probabilities(out: Path) -> np.ndarray:
    with rasterio.open(out / "probabilities.tif") as ds:
        return ds.read()


def _run(tmp: Path, s2, s1, model: str, **kw) -> tuple[np.ndarray, dict]:
    out = tmp / f"run{len(list(tmp.glob('run*')))}"
    predict(_args(s2, s1, model, out, **kw))
    with rasterio.open(out / "probabilities.tif") as ds:
        return ds.read(), ds.tags()


def _assert_same(a: np.ndarray, b: np.ndarray, atol: float = 1e-4) -> None:
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, atol=atol, rtol=0)


def _read(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as src:
        return src.read(), src.profile


def _write(path: Path, array: np.ndarray, profile: dict, descriptions=None, scales=None, **changes) -> Path:
    array = array if array.ndim == 3 else array[None]
    profile = {k: v for k, v in profile.items() if k not in ("blockxsize", "blockysize", "tiled")}
    with rasterio.open(path, "w", **(profile | {"count": array.shape[0], "dtype": array.dtype.name} | changes)) as dst:
        dst.write(array)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
        if scales is not None:
            dst.scales = scales
    return path


@pytest.fixture(scope="module")
def s2_files(t33uup_mosaic) -> dict[str, Path]:
    return {p.stem.rsplit("_", 1)[-1]: p for p in sorted(t33uup_mosaic.glob("S2A*.tif"))}


@pytest.fixture(scope="module")
def s1_files(t33uup_mosaic) -> dict[str, Path]:
    return {p.stem.rsplit("_", 1)[-1]: p for p in sorted(t33uup_mosaic.glob("S1_*.tif"))}


@pytest.fixture(scope="module")
def reference(s2_files, s1_files, onnx_model_path, tmp_path_factory) -> np.ndarray:
    """Probabilities of the untouched mosaic (19 × 4 × 2 cells)."""
    probs, _ = _run(tmp_path_factory.mktemp("ref"), s2_files.values(), s1_files.values(), onnx_model_path)
    return probs


def _copies(files: dict[str, Path], folder: Path, name: str, edit, bands, **changes) -> list[Path]:
    """Bands ``bands`` of the mosaic written as ``<folder>/<name>_<band>.tif`` with ``edit(values)`` applied."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for band in bands:
        a, profile = _read(files[band])
        paths.append(_write(folder / f"{name}_{band}.tif", edit(a), profile, **changes))
    return paths


def _s2_copies(s2_files: dict[str, Path], folder: Path, name: str, edit, **changes) -> list[Path]:
    return _copies(s2_files, folder, name, edit, BANDS, **changes)


def _s1_copies(s1_files: dict[str, Path], folder: Path, edit, **changes) -> list[Path]:
    return _copies(s1_files, folder, "s1", edit, ("VV", "VH"), **changes)


def _plus_1000(a: np.ndarray) -> np.ndarray:
    return np.where(a == 0, 0, a + 1000).astype(np.uint16)


# ------------------------------------------------------------------------------ Sentinel-2 processing baseline


def test_baseline_05_09_product_names_remove_the_offset(s2_files, s1_files, onnx_model_path, reference, tmp_path):
    s2 = _s2_copies(s2_files, tmp_path / "s2", PRODUCT_0509, _plus_1000)
    probs, tags = _run(tmp_path, s2, s1_files.values(), onnx_model_path)
    _assert_same(probs, reference)
    assert (
        "1000 DN offset removed (processing baseline 05.09 (product name S2B_MSIL2A_20240612T101031_N0509"
        in (tags["MOSAIC_INPUT_S2_RADIOMETRY"])
    )


def test_offset_values_in_neutral_names_are_refused_then_taken_with_the_option(
    s2_files, s1_files, onnx_model_path, reference, tmp_path
):
    s2 = _s2_copies(s2_files, tmp_path / "s2", "scene", _plus_1000)
    out = tmp_path / "out"
    proc = _cli(
        "--s2", *map(str, s2), "--s1", *map(str, s1_files.values()), "--model", onnx_model_path, "--out", str(out)
    )
    _refused(
        proc,
        out,
        "names no processing baseline",
        "as in products of baseline 04.00 or later",
        "pass --s2-offset 1000 to remove it, or pass --s2-offset 0",
    )
    probs, tags = _run(tmp_path, s2, s1_files.values(), onnx_model_path, s2_offset="1000")
    _assert_same(probs, reference)
    assert "1000 DN offset removed (chosen by the user)" in tags["MOSAIC_INPUT_S2_RADIOMETRY"]


def test_a_baseline_name_on_harmonised_values_is_refused(s2_files, s1_files, onnx_model_path, tmp_path):
    s2 = _s2_copies(s2_files, tmp_path / "s2", PRODUCT_0509, lambda a: a)
    out = tmp_path / "out"
    proc = _cli(
        "--s2", *map(str, s2), "--s1", *map(str, s1_files.values()), "--model", onnx_model_path, "--out", str(out)
    )
    _refused(proc, out, "processing baseline 05.09", "look harmonised already; pass --s2-offset 0 if so")


def test_metadata_xml_of_the_safe_folder_gives_the_offset(s2_files, s1_files, onnx_model_path, reference, tmp_path):
    granule = tmp_path / f"{PRODUCT_0509}.SAFE" / "GRANULE" / "L2A_T33UUP" / "IMG_DATA"
    s2 = _s2_copies(s2_files, granule, "T33UUP_20240612T101031", _plus_1000)
    (tmp_path / f"{PRODUCT_0509}.SAFE" / "MTD_MSIL2A.xml").write_text(
        "<Level-2A_User_Product><PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>"
        '<BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>'
        + "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
        + "</Level-2A_User_Product>",
        encoding="utf-8",
    )
    probs, tags = _run(tmp_path, s2, s1_files.values(), onnx_model_path)
    _assert_same(probs, reference)
    assert "1000 DN offset removed (processing baseline 05.09 (MTD_MSIL2A.xml of" in tags["MOSAIC_INPUT_S2_RADIOMETRY"]


def test_level_1c_is_refused_for_an_l2a_model(s2_files, s1_files, onnx_model_path, tmp_path):
    s2 = _s2_copies(s2_files, tmp_path / "s2", PRODUCT_0509.replace("MSIL2A", "MSIL1C"), _plus_1000)
    out = tmp_path / "out"
    proc = _cli(
        "--s2", *map(str, s2), "--s1", *map(str, s1_files.values()), "--model", onnx_model_path, "--out", str(out)
    )
    _refused(proc, out, "the S2 input is Level-1C", "trained on Level-2A; give the L2A product")


def test_ssl4eo_sidecar_names_baseline_02_14_and_a_05_09_copy_gives_the_same(shared_data, onnx_model_path, tmp_path):
    root = shared_data / "ssl4eo-s12-sample"
    s2_dir = sorted((root / "s2a" / "0000200").iterdir())[0]
    s1_dir = sorted((root / "s1" / "0000200").iterdir())[0]
    original, tags = _run(tmp_path, [s2_dir], [s1_dir], onnx_model_path)
    assert "no DN offset (processing baseline 02.14 (metadata.json beside" in tags["MOSAIC_INPUT_S2_RADIOMETRY"]
    copy = tmp_path / "s2_0509"
    copy.mkdir()
    for f in s2_dir.glob("B*.tif"):
        a, profile = _read(f)
        _write(copy / f.name, _plus_1000(a), profile)
    meta = json.loads((s2_dir / "metadata.json").read_text(encoding="utf-8"))
    meta |= {"PROCESSING_BASELINE": "05.09", "PRODUCT_ID": PRODUCT_0509}
    (copy / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    shifted, tags = _run(tmp_path, [copy], [s1_dir], onnx_model_path)
    _assert_same(shifted, original)
    assert "1000 DN offset removed (processing baseline 05.09 (metadata.json" in tags["MOSAIC_INPUT_S2_RADIOMETRY"]


# ------------------------------------------------------------------------------------------ scale and units


def test_float_reflectance_0_to_1_equals_the_original(s2_files, s1_files, onnx_model_path, reference, tmp_path):
    s2 = _s2_copies(s2_files, tmp_path / "s2", "export", lambda a: (a / 10000.0).astype(np.float32))
    probs, tags = _run(tmp_path, s2, s1_files.values(), onnx_model_path)
    _assert_same(probs, reference)
    assert tags["MOSAIC_INPUT_S2_RADIOMETRY"].startswith("reflectance × 1 (float values of 0–1 reflectance)")


def test_s2_values_that_are_no_reflectance_are_refused(s2_files, s1_files, onnx_model_path, tmp_path):
    s2 = _s2_copies(s2_files, tmp_path / "s2", "percent", lambda a: (a // 100).astype(np.uint16))
    out = tmp_path / "out"
    proc = _cli(
        "--s2", *map(str, s2), "--s1", *map(str, s1_files.values()), "--model", onnx_model_path, "--out", str(out)
    )
    _refused(proc, out, "do not look like reflectance × 10000", "pass --s2-scale Q")


def test_s1_db_times_100_with_a_gdal_scale_and_without(s1_files, s2_files, onnx_model_path, tmp_path):
    def scaled(a):
        return np.where(np.isnan(a), -32768, np.round(a * 100)).astype(np.int16)

    rounded = _s1_copies(s1_files, tmp_path / "rounded", lambda a: (np.round(a * 100) / 100).astype(np.float32))
    expected, _ = _run(tmp_path, s2_files.values(), rounded, onnx_model_path)
    tagged = _s1_copies(s1_files, tmp_path / "tagged", scaled, nodata=-32768, scales=(0.01,))
    probs, tags = _run(tmp_path, s2_files.values(), tagged, onnx_model_path)
    _assert_same(probs, expected)
    assert tags["MOSAIC_INPUT_S1_UNITS"] == "dB; scaled by 0.01 (the GDAL scale of the files)"
    untagged = _s1_copies(s1_files, tmp_path / "untagged", scaled, nodata=-32768)
    probs, tags = _run(tmp_path, s2_files.values(), untagged, onnx_model_path)
    _assert_same(probs, expected)
    assert "integers scaled by 0.01 (dB × 100" in tags["MOSAIC_INPUT_S1_UNITS"]


def test_s1_amplitude_is_refused_with_both_hints_then_converted(
    s1_files, s2_files, onnx_model_path, reference, tmp_path
):
    amp = _s1_copies(s1_files, tmp_path / "amp", lambda a: np.sqrt(np.power(10.0, a / 10.0)).astype(np.float32))
    out = tmp_path / "out"
    proc = _cli(
        "--s2", *map(str, s2_files.values()), "--s1", *map(str, amp), "--model", onnx_model_path, "--out", str(out)
    )
    _refused(proc, out, "looks like linear power or amplitude", "--s1-units amplitude for amplitude (20·log10)")
    probs, tags = _run(tmp_path, s2_files.values(), amp, onnx_model_path, s1_units="amplitude")
    _assert_same(probs, reference)
    assert tags["MOSAIC_INPUT_S1_UNITS"] == "amplitude → dB (20·log10)"


# ------------------------------------------------------------------------------------------ band identity


def _stack(files: dict[str, Path], order, path: Path, descriptions=None) -> Path:
    """One raster of the bands ``order``, each brought to the 10 m grid by nearest upsampling (as the model does)."""
    with rasterio.open(files[order[0] if order[0] in ("VV", "VH") else "B02"]) as ref:
        profile, shape = ref.profile, (1, ref.height, ref.width)
    arrays = []
    for band in order:
        with rasterio.open(files[band]) as src:
            arrays.append(src.read(out_shape=shape, resampling=Resampling.nearest))
    return _write(path, np.concatenate(arrays), profile, descriptions)


def test_vh_vv_stack_without_names_is_refused_then_taken_with_s1_order(
    s1_files, s2_files, onnx_model_path, reference, tmp_path
):
    vv_vh = _stack(s1_files, ("VV", "VH"), tmp_path / "s1_vv_vh.tif")
    probs, tags = _run(tmp_path, s2_files.values(), [vv_vh], onnx_model_path)
    _assert_same(probs, reference)
    assert tags["MOSAIC_INPUT_S1_BANDS"] == "VV, VH: a stack without band names, taken in the model's order"
    vh_vv = _stack(s1_files, ("VH", "VV"), tmp_path / "s1_vh_vv.tif")
    out = tmp_path / "out"
    proc = _cli("--s2", *map(str, s2_files.values()), "--s1", str(vh_vv), "--model", onnx_model_path, "--out", str(out))
    _refused(proc, out, "the S1 band read as VV is 5.9 dB weaker than the one read as VH", "--s1-order vh,vv")
    probs, tags = _run(tmp_path, s2_files.values(), [vh_vv], onnx_model_path, s1_order="vh,vv")
    _assert_same(probs, reference)
    assert tags["MOSAIC_INPUT_S1_ORDER"] == "VH, VV (chosen by the user)"


def test_mislabelled_s1_descriptions_are_caught_by_the_backscatter(s1_files, s2_files, onnx_model_path, tmp_path):
    wrong = _stack(s1_files, ("VH", "VV"), tmp_path / "s1.tif", descriptions=("VV", "VH"))
    out = tmp_path / "out"
    proc = _cli("--s2", *map(str, s2_files.values()), "--s1", str(wrong), "--model", onnx_model_path, "--out", str(out))
    _refused(proc, out, "the bands look swapped; pass --s1-order vh,vv")


def test_stack_naming_9_of_10_bands_in_another_order_uses_every_name(
    s2_files, s1_files, onnx_model_path, reference, tmp_path
):
    order = ("B12", "B03", "B02", "B8A", "B05", "B04", "B07", "B06", "B08", "B11")
    names = [b if b != "B07" else "" for b in order]  # one band without a description
    stack = _stack(s2_files, order, tmp_path / "s2.tif", names)
    probs, tags = _run(tmp_path, [stack], s1_files.values(), onnx_model_path)
    _assert_same(probs, reference)
    assert tags["MOSAIC_INPUT_S2_BANDS"].endswith("named in part, the rest placed by the model's order")


def test_stac_common_names_are_understood(s2_files, s1_files, onnx_model_path, reference, tmp_path):
    common = {
        "B02": "blue",
        "B03": "green",
        "B04": "red",
        "B05": "rededge1",
        "B06": "rededge2",
        "B07": "rededge3",
        "B08": "nir",
        "B8A": "nir08",
        "B11": "swir16",
        "B12": "swir22",
    }
    order = tuple(reversed(BANDS))
    stack = _stack(s2_files, order, tmp_path / "s2.tif", [common[b] for b in order])
    probs, _ = _run(tmp_path, [stack], s1_files.values(), onnx_model_path)
    _assert_same(probs, reference)


def test_stack_with_few_names_out_of_order_is_refused_then_taken_with_s2_order(
    s2_files, s1_files, onnx_model_path, reference, tmp_path
):
    order = ("B12", "B03", "B02", "B8A", "B05", "B04", "B07", "B06", "B08", "B11")
    names = [b if b in ("B12", "B03", "B02") else "" for b in order]
    stack = _stack(s2_files, order, tmp_path / "s2.tif", names)
    out = tmp_path / "out"
    proc = _cli("--s2", str(stack), "--s1", *map(str, s1_files.values()), "--model", onnx_model_path, "--out", str(out))
    _refused(proc, out, "s2.tif names 3 of its 10 bands, not in the model's order", "pass --s2-order")
    probs, tags = _run(tmp_path, [stack], s1_files.values(), onnx_model_path, s2_order=",".join(order))
    _assert_same(probs, reference)
    assert tags["MOSAIC_INPUT_S2_BANDS"].endswith(": in the order given")


# ------------------------------------------------------------------------------------------------ fill values


def test_untagged_fill_values_are_nodata(s2_files, s1_files, onnx_model_path, tmp_path):
    def left_fill(value, dtype):
        def edit(a):
            a = a.astype(dtype)
            a[..., : a.shape[-1] // 2] = value
            return a

        return edit

    s2_zero = _s2_copies(s2_files, tmp_path / "s2_zero", "zero", left_fill(0, np.uint16))
    s1_nan = _s1_copies(s1_files, tmp_path / "s1_nan", left_fill(np.nan, np.float32))
    expected, _ = _run(tmp_path, s2_zero, s1_nan, onnx_model_path)
    assert np.isnan(expected[:, :, 0]).all() and np.isfinite(expected[:, 1:, 1]).all()
    s2_fill = _s2_copies(s2_files, tmp_path / "s2_fill", "fill", left_fill(-9999, np.int16), nodata=None)
    s1_zero = _s1_copies(
        s1_files, tmp_path / "s1_zero", lambda a: left_fill(0, np.float32)(np.nan_to_num(a)), nodata=None
    )
    probs, tags = _run(tmp_path, s2_fill, s1_zero, onnx_model_path)
    _assert_same(probs, expected)
    assert tags["MOSAIC_INPUT_S2_FILL"] == "untagged fill value(s) -9999 read as nodata"
    assert tags["MOSAIC_INPUT_S1_FILL"] == "zeros of VV, VH (no nodata declared) read as nodata"


# --------------------------------------------------------------------------------- ground resolution and CRS


def test_s2_resampled_to_20_m_is_brought_back_to_the_10_m_grid(
    s2_files, s1_files, onnx_model_path, reference, tmp_path
):
    folder = tmp_path / "s2_20m"
    folder.mkdir()
    s2 = []
    for band in BANDS:
        with rasterio.open(s2_files[band]) as src:
            a = src.read(out_shape=(1, 240, 120), resampling=Resampling.average)
            profile = src.profile | {
                "width": 120,
                "height": 240,
                "transform": src.transform * src.transform.scale(src.width / 120, src.height / 240),
            }
        s2.append(_write(folder / f"scene_{band}.tif", a, profile))
    out = tmp_path / "out"
    predict(_args(s2, s1_files.values(), onnx_model_path, out))
    with rasterio.open(out / "probabilities.tif") as got, rasterio.open(s2_files["B02"]) as b02:
        probs, tags = got.read(), got.tags()
        assert got.transform == b02.transform * rasterio.Affine.scale(120) and got.crs == b02.crs
    assert probs.shape == reference.shape  # 120 px tiles of 10 m, not of 20 m (which would give 2 × 1 cells)
    assert np.isfinite(probs).sum() == np.isfinite(reference).sum()
    assert tags["MOSAIC_INPUT_S2_GRID"] == "S2 resampled from 20 m pixels to 10 m in its CRS"


def test_s2_in_square_degree_pixels_is_reprojected_to_its_utm_zone(s2_files, s1_files, onnx_model_path, tmp_path):
    folder = tmp_path / "s2_4326"
    folder.mkdir()
    s2 = []
    for band in BANDS:
        with rasterio.open(s2_files[band]) as src:
            transform, width, height = calculate_default_transform(
                src.crs, "EPSG:4326", src.width, src.height, *src.bounds, resolution=0.0001
            )
            a = np.zeros((1, height, width), dtype=np.uint16)
            reproject(
                rasterio.band(src, 1), a, dst_transform=transform, dst_crs="EPSG:4326", resampling=Resampling.nearest
            )
            profile = src.profile | {
                "crs": CRS.from_epsg(4326),
                "transform": transform,
                "width": width,
                "height": height,
            }
        s2.append(_write(folder / f"scene_{band}.tif", a, profile))
    out = tmp_path / "out"
    predict(_args(s2, s1_files.values(), onnx_model_path, out))
    with rasterio.open(out / "probabilities.tif") as ds:
        assert ds.crs.to_epsg() == 32633 and ds.res == (1200.0, 1200.0)  # 120 px of 10 m, in UTM 33N
        grid = ds.tags()["MOSAIC_INPUT_S2_GRID"]
        assert grid.startswith("S2 resampled from 7.") and grid.endswith(" × 11.1 m pixels to 10 m in EPSG:32633")
        assert np.isfinite(ds.read()).any()


def _warped(s2_files: dict[str, Path], folder: Path, crs: str, resolution: float) -> list[Path]:
    """The mosaic's 10 S2 bands warped to ``crs`` at ``resolution`` CRS units (× 2 and × 6 for the 20 and 60 m
    bands), averaging."""
    folder.mkdir()
    s2 = []
    for band in BANDS:
        with rasterio.open(s2_files[band]) as src:
            res = resolution * src.res[0] / 10.0
            transform, width, height = calculate_default_transform(
                src.crs, crs, src.width, src.height, *src.bounds, resolution=res
            )
            a = np.zeros((1, height, width), dtype=np.uint16)
            reproject(rasterio.band(src, 1), a, dst_transform=transform, dst_crs=crs, resampling=Resampling.average)
            profile = src.profile | {"crs": CRS.from_user_input(crs), "transform": transform, "width": width}
        s2.append(_write(folder / f"scene_{band}.tif", a, profile | {"height": height}))
    return s2


def _ground_cell_m(path: Path) -> tuple[float, float]:
    """Ground size (m, WGS 84 geodesics) of the output cell at the centre of ``path``'s grid."""
    from pyproj import Geod, Transformer

    with rasterio.open(path) as ds:
        to_wgs84 = Transformer.from_crs(ds.crs, "EPSG:4326", always_xy=True)
        r, c = ds.height // 2, ds.width // 2
        corners = [to_wgs84.transform(*(ds.transform * (c + dc, r + dr))) for dc, dr in ((0, 0), (1, 0), (0, 1))]
    geod = Geod(ellps="WGS84")
    return tuple(geod.inv(*corners[0], *corner)[2] for corner in corners[1:])


@pytest.mark.parametrize(
    ("crs", "resolution", "epsg", "grid"),
    [
        # Web Mercator at 10 "m": 6.73 m on the ground at 48° N (scale factor 1.49): resampled in the UTM zone
        (
            "EPSG:3857",
            10.0,
            32633,
            "S2 resampled from 6.73 m pixels to 10 m in EPSG:32633 (its CRS's scale factor "
            "at the scene is 1.49: its metres are not ground metres)",
        ),
        # plate carrée in metres: parallel scale 1.49, meridional 1 (6.73 × 9.99 m pixels)
        (
            "EPSG:4087",
            10.0,
            32633,
            "S2 resampled from 6.73 × 9.99 m pixels to 10 m in EPSG:32633 (its CRS's scale "
            "factor at the scene is 1.49 × 1: its metres are not ground metres)",
        ),
        # Arctic polar stereographic (true scale at 71° N): 1.12 at 48° N
        (
            "EPSG:3995",
            10.0,
            32633,
            "S2 resampled from 8.95 m pixels to 10 m in EPSG:32633 (its CRS's scale factor "
            "at the scene is 1.12: its metres are not ground metres)",
        ),
        # Equal Earth (equal-area, but 1.07 × 0.93 along the grid's axes here, which are sheared): resampled too
        (
            "EPSG:8857",
            10.0,
            32633,
            "S2 resampled from 9.31 × 10.8 m pixels to 10 m in EPSG:32633 (its CRS's scale "
            "factor at the scene is 1.07 × 0.929: its metres are not ground metres)",
        ),
        # Web Mercator at 15 "m" is 10.1 m on the ground: used as it is (1,800 "m" cells, 1.2 km on the ground)
        ("EPSG:3857", 15.0, 3857, "S2 grid used as it is (10.1 m pixels)"),
        # equal-area LAEA Europe and conformal Austria Lambert, scale within 0.1 % of 1 here: run as they are
        ("EPSG:3035", 10.0, 3035, "S2 grid used as it is (10 m pixels)"),
        ("EPSG:31287", 10.0, 31287, "S2 grid used as it is (10 m pixels)"),
    ],
)
def test_s2_grids_whose_metres_are_not_ground_metres_predict_on_1200_m_ground_cells(
    s2_files, s1_files, onnx_model_path, tmp_path, crs, resolution, epsg, grid
):
    """Issue 24: the ground resolution comes from the CRS's scale at the scene, not its unit. Each 120 px tile, and
    each output cell at stride 120, covers 1,200 m of ground (±5 %), whatever the projection."""
    s2 = _warped(s2_files, tmp_path / "s2", crs, resolution)
    out = tmp_path / "out"
    predict(_args(s2, s1_files.values(), onnx_model_path, out))
    with rasterio.open(out / "probabilities.tif") as ds:
        assert ds.crs.to_epsg() == epsg and ds.tags()["MOSAIC_INPUT_S2_GRID"] == grid
        assert ds.res == (1200.0, 1200.0) if epsg == 32633 else ds.res == (120 * resolution, 120 * resolution)
        assert np.isfinite(ds.read()).any()
    x, y = _ground_cell_m(out / "probabilities.tif")
    assert x == pytest.approx(1200.0, rel=0.05) and y == pytest.approx(1200.0, rel=0.05)


def test_aoi_in_metres_without_a_crs_member_is_refused(s2_files, s1_files, onnx_model_path, tmp_path):
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [[344500, 5291000], [346000, 5291000], [346000, 5294000], [344500, 5291000]]
                            ],
                        },
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    proc = _cli(
        "--s2",
        *map(str, s2_files.values()),
        "--s1",
        *map(str, s1_files.values()),
        "--model",
        onnx_model_path,
        "--out",
        str(out),
        "--aoi",
        str(aoi),
    )
    _refused(proc, out, "look like metres (a GeoJSON without a 'crs' member is read as WGS 84)")


def test_s2_in_an_engineering_crs_is_refused(s2_files, s1_files, onnx_model_path, tmp_path):
    local = CRS.from_wkt('LOCAL_CS["site grid",LOCAL_DATUM["site",0],UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]')
    s2 = _s2_copies(s2_files, tmp_path / "s2", "local", lambda a: a, crs=local)
    out = tmp_path / "out"
    proc = _cli(
        "--s2", *map(str, s2), "--s1", *map(str, s1_files.values()), "--model", onnx_model_path, "--out", str(out)
    )
    _refused(proc, out, "no known relation to the Earth", "assign the raster's real CRS first")


def test_a_refusal_after_reading_started_leaves_no_out_folder(s2_files, s1_files, onnx_model_path, tmp_path):
    s1 = _s1_copies(s1_files, tmp_path / "s1", lambda a: np.full_like(a, np.nan))
    out = tmp_path / "new" / "out"
    proc = _cli(
        "--s2", *map(str, s2_files.values()), "--s1", *map(str, s1), "--model", onnx_model_path, "--out", str(out)
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "new").exists()


# ------------------------------------------------------------------------------------------- .SAFE products


def _safe(s2_files: dict[str, Path], root: Path) -> Path:
    """A Level-2A ``.SAFE`` of baseline 05.09 (+1000 DN) in ESA's layout, lossless JPEG 2000: each band at its native
    resolution and at the coarser ones (as L2A products hold them), an SCL layer, and ``MTD_MSIL2A.xml``."""
    safe = root / f"{PRODUCT_0509}.SAFE"
    img = safe / "GRANULE" / "L2A_T33UUP_A037800_20240612T101031" / "IMG_DATA"
    for band, path in s2_files.items():
        with rasterio.open(path) as src:
            native = int(src.res[0])
            for res in (r for r in (10, 20, 60) if r >= native):
                shape = (src.height * native // res, src.width * native // res)
                a = src.read(1, out_shape=shape, resampling=Resampling.average)
                profile = {
                    "driver": "JP2OpenJPEG",
                    "width": shape[1],
                    "height": shape[0],
                    "count": 1,
                    "dtype": "uint16",
                    "crs": src.crs,
                    "transform": src.transform * src.transform.scale(res / native),
                    "QUALITY": 100,
                    "REVERSIBLE": "YES",
                }
                (img / f"R{res}m").mkdir(parents=True, exist_ok=True)
                with rasterio.open(img / f"R{res}m" / f"T33UUP_20240612T101031_{band}_{res}m.jp2", "w", **profile) as d:
                    d.write(_plus_1000(a), 1)
                if band == "B05" and res == 20:
                    with rasterio.open(img / "R20m" / "T33UUP_20240612T101031_SCL_20m.jp2", "w", **profile) as d:
                        d.write(np.full(shape, 4, dtype=np.uint16), 1)
    (safe / "MTD_MSIL2A.xml").write_text(
        "<Level-2A_User_Product><PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>"
        + "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
        + "</Level-2A_User_Product>",
        encoding="utf-8",
    )
    return safe


def test_a_safe_folder_and_its_zip_are_read_at_native_resolution(
    s2_files, s1_files, onnx_model_path, reference, tmp_path
):
    safe = _safe(s2_files, tmp_path / "product")
    probs, tags = _run(tmp_path, [safe], s1_files.values(), onnx_model_path)
    _assert_same(probs, reference)
    assert "1000 DN offset removed (processing baseline 05.09 (MTD_MSIL2A.xml of" in tags["MOSAIC_INPUT_S2_RADIOMETRY"]
    archive = tmp_path / f"{safe.name}.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(safe.rglob("*")):
            z.write(f, f.relative_to(safe.parent).as_posix())
    probs, tags = _run(tmp_path, [archive], s1_files.values(), onnx_model_path)
    _assert_same(probs, reference)
    assert f"(MTD_MSIL2A.xml in {archive.name})" in tags["MOSAIC_INPUT_S2_RADIOMETRY"]


def test_a_safe_without_band_files_is_refused(s1_files, onnx_model_path, tmp_path):
    (tmp_path / f"{PRODUCT_0509}.SAFE" / "GRANULE").mkdir(parents=True)
    out = tmp_path / "out"
    proc = _cli(
        "--s2",
        str(tmp_path / f"{PRODUCT_0509}.SAFE"),
        "--s1",
        *map(str, s1_files.values()),
        "--model",
        onnx_model_path,
        "--out",
        str(out),
    )
    _refused(proc, out, "holds no Sentinel-2 band files (GRANULE/*/IMG_DATA/…_B02….jp2)")

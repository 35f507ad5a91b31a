"""``mosaic prepare`` identifies its inputs with the engine's inspector and harmonises what it writes to the training
convention (real T33UUP mosaic: S2 with the +1000 DN offset of baseline ≥ 04.00, S1 as scaled integers, S2 grids
that are not 10 m, band order of a stack without names)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio

from mosaic.backend.cli import main
from mosaic.backend.data.prepare import PrepareOptions, dataset_target, prepare_dataset, training_dn
from mosaic.backend.errors import InputError
from mosaic.backend.inference.inspector import InputOptions

BASELINE_0509 = "S2B_MSIL2A_20240612T101031_N0509_R022_T33UUP_20240612T140000"
S2_10 = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")


def _labels(t33uup_mosaic: Path) -> Path:
    return t33uup_mosaic / "mosaic_patch_labels_EPSG32633.geojson"


def _options(t33uup_mosaic: Path, s2: list[Path], s1: list[Path], output: Path, **kw) -> PrepareOptions:
    return PrepareOptions(
        s2=s2,
        s1=s1,
        labels=_labels(t33uup_mosaic),
        class_field="labels",
        label_separator="; ",
        output=output,
        block_size=1,
        **kw,
    )


def _s2(t33uup_mosaic: Path) -> list[Path]:
    return sorted(t33uup_mosaic.glob("S2A_*.tif"))


def _s1(t33uup_mosaic: Path) -> list[Path]:
    return sorted(t33uup_mosaic.glob("S1_*.tif"))


def _band(path: Path) -> str:
    return path.stem.rsplit("_", 1)[1]


def _rewrite(src_path: Path, dst_path: Path, edit: Callable[[np.ndarray], np.ndarray], **profile) -> Path:
    """A copy of ``src_path`` with its pixels passed through ``edit`` (profile items overridden by ``profile``)."""
    with rasterio.open(src_path) as src:
        data, base = src.read(), src.profile
    scales = profile.pop("scales", None)
    with rasterio.open(dst_path, "w", **(base | profile)) as dst:
        dst.write(edit(data))
        if scales is not None:
            dst.scales = scales
    return dst_path


def _plus_1000(a: np.ndarray) -> np.ndarray:
    """Baseline ≥ 04.00 DN: the original reflectance × 10000 + 1000 (nodata 0 stays 0)."""
    return np.where(a == 0, 0, a.astype(np.int32) + 1000).astype(np.uint16)


def _patches(root: Path, modality: str) -> dict[tuple[str, str], np.ndarray]:
    """``(cell "col_row", band)`` → pixels of every patch file of ``modality`` (``S2`` or ``S1``) under ``root``."""
    out = {}
    for path in sorted((root / f"BigEarthNet-{modality}").rglob("*.tif")):
        cell = "_".join(path.parent.name.rsplit("_", 2)[1:])
        with rasterio.open(path) as src:
            out[(cell, _band(path))] = (src.read(1), src.dtypes[0], src.nodata, src.transform)
    return out


@pytest.fixture(scope="module")
def original(t33uup_mosaic, tmp_path_factory) -> Path:
    """The dataset prepared from the mosaic's original files."""
    out = tmp_path_factory.mktemp("original") / "ds"
    report = prepare_dataset(_options(t33uup_mosaic, _s2(t33uup_mosaic), _s1(t33uup_mosaic), out))
    assert report.kept == 7
    return out


def _assert_same_s2(mine: Path, original: Path) -> None:
    got, want = _patches(mine, "S2"), _patches(original, "S2")
    assert got.keys() == want.keys() and len(got) == 7 * 12
    for key, (a, dtype, nodata, transform) in got.items():
        b, dtype_b, nodata_b, transform_b = want[key]
        assert (dtype, nodata, transform) == (dtype_b, nodata_b, transform_b) == (dtype, 0.0, transform), key
        assert np.array_equal(a, b), key


def test_dataset_target_is_the_training_convention():
    target = dataset_target("s2_12")
    assert target.s2.bands[0] == "B01" and len(target.s2.bands) == 12 and target.gsd_m == 10.0
    assert (target.s2.level, target.s2.quantification_value, target.s2.add_offset, target.s2.nodata) == (
        "L2A",
        10000.0,
        0.0,
        0.0,
    )
    assert dataset_target().s2.bands == S2_10 and target.s1.bands == ("VV", "VH") and target.s1.units == "dB"


def test_training_dn_rounds_clips_and_marks_nodata():
    model = np.array([[np.nan, -3.0, 0.2, 1234.4], [1234.6, 9999.5, 65535.4, 70000.0]], dtype=np.float32)
    assert training_dn(model).tolist() == [[0, 1, 1, 1234], [1235, 10000, 65535, 65535]]
    assert training_dn(model).dtype == np.uint16


def test_baseline_0509_offset_is_removed_and_recorded(t33uup_mosaic, original, tmp_path, capsys):
    """+1000 DN in files named as a baseline-05.09 product: the same patches as the original, no option needed."""
    folder = tmp_path / "s2_2024"
    folder.mkdir()
    s2 = [_rewrite(p, folder / f"{BASELINE_0509}_{_band(p)}.tif", _plus_1000) for p in _s2(t33uup_mosaic)]
    out = tmp_path / "ds"
    report = prepare_dataset(_options(t33uup_mosaic, s2, _s1(t33uup_mosaic), out))
    _assert_same_s2(out, original)
    radiometry = (
        "reflectance × 10000 (integer reflectance × 10000); 1000 DN offset removed (processing baseline 05.09 "
        "(product name S2B_MSIL2A_20240612T101031_N0509))"
    )
    assert report.inputs["S2 radiometry"] == radiometry
    assert json.loads((out / "prepare_report.json").read_text())["inputs"]["S2 radiometry"] == radiometry
    assert f"mosaic prepare: {radiometry}" in capsys.readouterr().err.splitlines()
    assert [p.name for p in (out / "BigEarthNet-S2").iterdir()] == [BASELINE_0509]  # patch ids from the file names


def test_neutrally_named_offset_is_refused_before_writing_then_removed_on_request(
    t33uup_mosaic, original, tmp_path, capsys
):
    folder = tmp_path / "s2"
    folder.mkdir()
    for p in _s2(t33uup_mosaic):
        _rewrite(p, folder / f"scene_{_band(p)}.tif", _plus_1000)
    out = tmp_path / "ds"
    argv = [
        "prepare",
        "--s2",
        str(folder),
        "--s1",
        *map(str, _s1(t33uup_mosaic)),
        "--labels",
        str(_labels(t33uup_mosaic)),
        "--class-field",
        "labels",
        "--label-separator",
        "; ",
        "--block-size",
        "1",
        "-o",
        str(out),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mosaic prepare: error: the S2 input names no processing baseline")
    assert "pass --s2-offset 1000 to remove it, or pass --s2-offset 0 if the values have no offset." in err[0]
    assert not out.exists() and not (tmp_path / ".ds.partial").exists()

    assert main([*argv, "--s2-offset", "1000"]) == 0
    _assert_same_s2(out, original)
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["inputs"]["S2 radiometry"].endswith("1000 DN offset removed (chosen by the user)")


@pytest.mark.parametrize(
    "declared, units",
    [
        (True, "dB; scaled by 0.01 (the GDAL scale of the files)"),
        (False, "dB; integers scaled by 0.01 (dB × 100, median -1301)"),
    ],
    ids=["gdal-scale", "no-scale"],
)
def test_s1_int16_db_x100_gives_the_db_patches(t33uup_mosaic, original, tmp_path, declared, units):
    """S1 stored as Int16 dB × 100 (nodata −32768): with a GDAL scale of 0.01 declared, or recognised as such."""
    folder = tmp_path / "s1"
    folder.mkdir()

    def to_int(a: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(a), np.round(a * 100.0), -32768).astype(np.int16)

    scaled = {"scales": (0.01,)} if declared else {}
    s1 = [_rewrite(p, folder / p.name, to_int, dtype="int16", nodata=-32768, **scaled) for p in _s1(t33uup_mosaic)]
    out = tmp_path / "ds"
    report = prepare_dataset(_options(t33uup_mosaic, _s2(t33uup_mosaic), s1, out))
    assert report.kept == 7
    assert report.inputs["S1 units"] == units
    got, want = _patches(out, "S1"), _patches(original, "S1")
    assert got.keys() == want.keys() and len(got) == 14
    for key, (a, dtype, _, transform) in got.items():
        b, _, _, transform_b = want[key]
        assert dtype == "float32" and transform == transform_b
        assert np.array_equal(np.isnan(a), np.isnan(b)), key
        np.testing.assert_allclose(a, b, atol=0.005 + 1e-5, rtol=0)  # rounded to 0.01 dB (+ float32 rounding)


def test_s2_stack_band_order_with_s2_order(t33uup_mosaic, original, tmp_path):
    """A 10-band stack without band names, in reverse order: ``--s2-order`` places each band."""
    files = {_band(p): p for p in _s2(t33uup_mosaic)}
    with rasterio.open(files["B02"]) as ref:
        profile, shape = ref.profile, ref.shape
    order = tuple(reversed(S2_10))
    stack = np.zeros((len(order), *shape), dtype=np.uint16)
    for k, band in enumerate(order):
        with rasterio.open(files[band]) as src:
            f = shape[0] // src.height
            stack[k] = src.read(1).repeat(f, axis=0).repeat(f, axis=1)
    path = tmp_path / "stack.tif"
    with rasterio.open(path, "w", **(profile | {"count": len(order)})) as dst:
        dst.write(stack)
    out = tmp_path / "ds"
    report = prepare_dataset(
        _options(t33uup_mosaic, [path], _s1(t33uup_mosaic), out, inputs=InputOptions(s2_order=",".join(order)))
    )
    assert report.inputs["S2 bands"] == ", ".join(S2_10) + ": in the order given"
    got, want = _patches(out, "S2"), _patches(original, "S2")
    assert {b for _, b in got} == set(S2_10)  # B01 and B09 are not in the stack
    for (cell, band), (a, *_) in got.items():
        b = want[(cell, band)][0]
        f = a.shape[0] // b.shape[0]
        assert np.array_equal(a, b.repeat(f, axis=0).repeat(f, axis=1)), (cell, band)


def test_s2_not_on_a_10m_grid_is_refused_with_the_gdalwarp_hint(t33uup_mosaic, tmp_path):
    """Every band at 20 m (a common download option): prepare cuts on the input grid, so it says how to resample."""
    files = {_band(p): p for p in _s2(t33uup_mosaic)}
    with rasterio.open(files["B05"]) as ref:
        profile, shape = ref.profile, ref.shape
    stack = np.zeros((len(S2_10), *shape), dtype=np.uint16)
    for k, band in enumerate(S2_10):
        with rasterio.open(files[band]) as src:
            f = src.height // shape[0]
            stack[k] = src.read(1)[::f, ::f]
    path = tmp_path / "s2_20m.tif"
    with rasterio.open(path, "w", **(profile | {"count": len(S2_10)})) as dst:
        dst.write(stack)
        dst.descriptions = S2_10
    out = tmp_path / "ds"
    with pytest.raises(InputError) as refused:
        prepare_dataset(_options(t33uup_mosaic, [path], _s1(t33uup_mosaic), out))
    assert str(refused.value) == (
        "the S2 pixels are 20 × 20 m on the ground, not 10 m squares, and mosaic prepare cuts patches on the input's "
        "own grid; resample the S2 input first, e.g. gdalwarp -tr 10 10 -r bilinear IN.tif OUT.tif"
    )
    assert not out.exists() and not (tmp_path / ".ds.partial").exists()

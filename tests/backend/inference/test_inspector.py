"""The inspector's decisions on small synthetic samples (the real-data families are in tests/backend/
test_predict_inputs.py): what it records, and the corners real files rarely show."""

from __future__ import annotations

import numpy as np
import pytest

from mosaic.backend.data.bands import s2_bands
from mosaic.backend.data.prepare import dataset_target
from mosaic.backend.errors import InputError
from mosaic.backend.inference.inspector import InputOptions, Target, inspect_inputs
from mosaic.backend.inference.rasters import BandInfo, RasterInfo

S2 = s2_bands()
RNG = np.random.default_rng(0)


def _target() -> Target:
    return dataset_target("s2_10")


def _files(names, dtype: str, nodata=None) -> list[RasterInfo]:
    return [
        RasterInfo(f"/x/scene_{n}.tif", f"scene_{n}.tif", (BandInfo(nodata=nodata),), dtype, "EPSG:32633", (10.0, 10.0))
        for n in names
    ]


def _stack(dtype: str, descriptions=("", "")) -> list[RasterInfo]:
    bands = tuple(BandInfo(d) for d in descriptions)
    return [RasterInfo("/x/s1.tif", "s1.tif", bands, dtype, "EPSG:32633", (10.0, 10.0))]


def _s2_sample(values: dict[int, np.ndarray] | None = None):
    base = RNG.uniform(150, 3000, (64, 64))
    return lambda raster, band: (values or {}).get(raster, base)


def _s1_sample(vv: float, vh: float, scale: float = 1.0):
    layers = {1: RNG.normal(vv, 2, (64, 64)) * scale, 2: RNG.normal(vh, 2, (64, 64)) * scale}
    return lambda raster, band: layers[band if raster == 0 and band in layers else raster + 1]


def test_a_fill_value_is_found_among_more_zeros():
    a = RNG.uniform(150, 3000, (64, 64))
    a[:, :40] = 0  # model nodata, more frequent than the fill
    a[:, 40:48] = -9999
    plan = inspect_inputs(
        _files(S2, "int16"),
        _files(("VV", "VH"), "float32", np.nan),
        _target(),
        InputOptions(),
        _s2_sample({0: a}),
        _s1_sample(-10, -16),
    )
    assert plan.applied["S2 fill"] == "untagged fill value(s) -9999 read as nodata"
    assert plan.s2[0].fill == (0.0, -9999.0) and plan.s2[1].fill == (0.0,)


def test_db_times_10_integers_and_the_tags():
    plan = inspect_inputs(
        _files(S2, "uint16"), _stack("int16"), _target(), InputOptions(), _s2_sample(), _s1_sample(-10, -16, scale=10)
    )
    assert plan.applied["S1 units"].startswith("dB; integers scaled by 0.1 (dB × 10, median -")
    assert plan.s1[0].gain == 0.1
    assert plan.tags()["MOSAIC_INPUT_S1_ORDER"].endswith(" dB above VH") and "VV, VH; VV " in plan.applied["S1 order"]
    topics = ("S2_BANDS", "S1_BANDS", "S2_GRID", "S2_RADIOMETRY", "S1_UNITS", "S1_ORDER")
    assert set(plan.tags()) == {f"MOSAIC_INPUT_{t}" for t in topics}


def test_an_unnamed_s1_stack_with_bands_too_close_is_refused_and_an_order_decides():
    args = (_files(S2, "uint16"), _stack("float32"), _target())
    with pytest.raises(InputError, match=r"names no bands and its two bands are 0\.\d dB apart.*pass --s1-order vv,vh"):
        inspect_inputs(*args, InputOptions(), _s2_sample(), _s1_sample(-12, -12.5))
    plan = inspect_inputs(*args, InputOptions(s1_order="vv,vh"), _s2_sample(), _s1_sample(-12, -12.5))
    assert plan.applied["S1 order"] == "VV, VH (chosen by the user)"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"s2_offset": "500"}, "the S2 offset must be one of auto, 0, 1000"),
        ({"s1_units": "power"}, "S1 units must"),
        ({"s2_scale": 0.0}, "the s2 scale must be a positive number"),
        ({"s1_scale": float("nan")}, "the s1 scale"),
    ],
)
def test_bad_options_are_refused(options, match):
    with pytest.raises(InputError, match=match):
        InputOptions(**options)


def test_all_nodata_s2_is_refused_before_reading():
    empty = _s2_sample({i: np.full((8, 8), np.nan) for i in range(len(S2))})
    with pytest.raises(InputError, match="the S2 input holds no valid pixels"):
        inspect_inputs(_files(S2, "uint16"), _stack("float32"), _target(), InputOptions(), empty, _s1_sample(-10, -16))

"""The one band resolver: names, partial names, stacks in the model's order, explicit orders, refusals."""

from __future__ import annotations

import pytest

from mosaic.backend.errors import InputError
from mosaic.backend.inference.band_resolver import parse_order, resolve_bands
from mosaic.backend.inference.rasters import BandInfo, RasterInfo

S2 = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")


def _raster(name: str, descriptions=("",), path: str | None = None) -> RasterInfo:
    bands = tuple(BandInfo(d) for d in descriptions)
    return RasterInfo(path if path is not None else f"/data/{name}", name, bands, "uint16", "EPSG:32633", (10.0, 10.0))


def _placed(picks) -> dict[str, tuple[int, int, str]]:
    return {p.band: (p.raster, p.index, p.how) for p in picks}


def test_single_band_files_are_named_by_file_name_and_extra_bands_ignored():
    files = [_raster(f"T33UUP_{b}.jp2") for b in ("B01", *reversed(S2), "B09")]
    placed = _placed(resolve_bands(files, S2, "S2"))
    assert placed["B02"] == (10, 1, "name") and placed["B12"] == (1, 1, "name")


def test_descriptions_win_and_stac_common_names_count():
    stack = _raster(
        "s2.tif", ["swir22", "nir08", "B2 (blue)", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "swir16"]
    )
    placed = _placed(resolve_bands([stack], S2, "S2"))
    assert [placed[b][1] for b in S2] == [3, 4, 5, 6, 7, 8, 9, 2, 10, 1]
    assert {h for _, _, h in placed.values()} == {"name"}


def test_stack_without_names_is_taken_in_the_model_order():
    placed = _placed(resolve_bands([_raster("s1.tif", ["", ""])], ("VV", "VH"), "S1"))
    assert placed == {"VV": (0, 1, "position"), "VH": (0, 2, "position")}


def test_partial_names_in_the_model_order_place_the_rest():
    names = ["B02", "", "B04", "", "", "", "B08", "", "", "B12"]
    placed = _placed(resolve_bands([_raster("s2.tif", names)], S2, "S2"))
    assert [placed[b][1] for b in S2] == list(range(1, 11))
    assert placed["B03"][2] == "inferred" and placed["B02"][2] == "name"


def test_one_unnamed_band_takes_the_one_missing_name():
    order = ["B12", "B03", "B02", "B8A", "B05", "B04", "", "B06", "B08", "B11"]
    placed = _placed(resolve_bands([_raster("s2.tif", order)], S2, "S2"))
    assert placed["B07"] == (0, 7, "inferred") and placed["B12"] == (0, 1, "name")


def test_ambiguous_partial_names_are_refused_with_the_order_option():
    order = ["B12", "B03", "", "", "", "", "", "", "", ""]
    with pytest.raises(InputError) as exc:
        resolve_bands([_raster("s2.tif", order)], S2, "S2")
    assert str(exc.value) == (
        "s2.tif names 2 of its 10 bands, not in the model's order, so the bands B02, B04, B05, B06, B07, B08, B8A, "
        "B11 cannot be placed; name every band in the descriptions or pass --s2-order "
        "b02,b03,b04,b05,b06,b07,b08,b8a,b11,b12 with the stack's real order."
    )


def test_explicit_order_wins_over_names():
    stack = _raster("s1.tif", ["VV", "VH"])
    placed = _placed(resolve_bands([stack], ("VV", "VH"), "S1", parse_order("vh,vv", "S1")))
    assert placed == {"VV": (0, 2, "order"), "VH": (0, 1, "order")}


@pytest.mark.parametrize(
    ("order", "match"),
    [
        ("vv", "names 1 bands but the S1 input holds 2"),
        ("vv,vv", "names a band twice"),
        ("vv,hh", "lacks VH, which the model needs"),
    ],
)
def test_bad_explicit_orders_are_refused(order, match):
    with pytest.raises(InputError, match=match):
        resolve_bands([_raster("s1.tif", ["", ""])], ("VV", "VH"), "S1", parse_order(order, "S1"))


def test_unknown_names_in_an_order_are_refused():
    with pytest.raises(
        InputError, match=r"the S1 band order names 'xx', which is no S1 band; use names such as VV,VH\."
    ):
        parse_order("vv,xx", "S1")


def test_a_band_given_twice_and_missing_bands_are_named():
    with pytest.raises(InputError, match=r"S1 band VV is given twice \(a_VV.tif, b_VV.tif\)"):
        resolve_bands([_raster("a_VV.tif"), _raster("b_VV.tif")], ("VV", "VH"), "S1")
    with pytest.raises(InputError, match=r"S1 band\(s\) VH not found \(no band name recognised in scene.tif\)"):
        resolve_bands([_raster("a_VV.tif"), _raster("scene.tif")], ("VV", "VH"), "S1")
    with pytest.raises(InputError, match=r"s2.tif holds 12 bands but the model needs 10 S2 bands"):
        resolve_bands([_raster("s2.tif", [""] * 12)], S2, "S2")


def test_plugin_wording_comes_from_the_hint():
    with pytest.raises(InputError, match=r'set "S2 band order" to b02,b03'):
        resolve_bands([_raster("s2.tif", ["B12", "B03"] + [""] * 8)], S2, "S2", hint=_dock_hint)


def _dock_hint(option: str, value: str) -> str:
    return f'set "{option.replace("s2_order", "S2 band order")}" to {value}'

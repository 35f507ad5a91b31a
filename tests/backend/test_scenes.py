"""The scene file of ``mosaic predict --scenes``: CSV cells (``;``, relative paths, URLs) and STAC asset mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mosaic.backend.errors import InputError
from mosaic.backend.scenes import Scene, read_scenes


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lists" / "scenes.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_cells_split_at_semicolons_relative_to_the_csv(tmp_path):
    path = _csv(tmp_path, "\ufeffname,s2,s1,cloud_mask\n"
                          "north, a/B02.tif ; a/B03.tif;,../s1/VV.tif;/data/VH.tif,a/SCL.tif\n"
                          "remote,https://example.org/x/B02.tif,/vsis3/bucket/VV.tif;/vsis3/bucket/VH.tif,\n"
                          ",,,\n")  # fmt: skip
    base = path.parent
    assert read_scenes(path) == [
        Scene("north", (str(base / "a/B02.tif"), str(base / "a/B03.tif")), (str(base / "../s1/VV.tif"), "/data/VH.tif"),
              (str(base / "a/SCL.tif"),)),
        Scene("remote", ("/vsicurl/https://example.org/x/B02.tif",), ("/vsis3/bucket/VV.tif", "/vsis3/bucket/VH.tif")),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,s2\nx,a.tif\n", "lacks the column(s) s1"),
        ("name,s2,s1,clouds\nx,a,b,c\n", "unknown column(s) clouds"),
        ("name,s2,s1\nx,a,b\nX,c,d\n", "'X' is used twice"),
        ("name,s2,s1\n.hidden,a,b\n", "must be a folder name"),
        ("name,s2,s1\nmosaic,a,b\n", "must be a folder name"),
        ("name,s2,s1\nx/y,a,b\n", "must be a folder name"),
        ("name,s2,s1\nx,a, ; \n", "scene x: give both S2 and S1"),
        ("name,s2,s1\n", "lists no scenes"),
    ],
)
def test_bad_csv_tables_are_refused_in_one_sentence(tmp_path, text, message):
    with pytest.raises(InputError, match="^.*" + message.replace("(", r"\(").replace(")", r"\)")):
        read_scenes(_csv(tmp_path, text))


def _asset(href: str, **extra) -> dict:
    return {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized", **extra}


def _stac(tmp_path: Path, features: list[dict]) -> Path:
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def test_stac_assets_map_to_modalities_by_key_or_eo_bands_and_pair_by_bbox(tmp_path):
    """Earth Search style S2 keys (common names, a JP2 twin, SCL, thumbnail), eo:bands for an opaque key, and S1 from
    the S1 item overlapping most."""
    s2_assets = {
        "blue": _asset("https://s3.example/T33UUP/B02.tif"),
        "blue-jp2": {"href": "https://s3.example/T33UUP/B02.jp2", "type": "image/jp2",
                     "eo:bands": [{"name": "B02", "common_name": "blue"}]},
        "nir08": _asset("./bands/B8A.tif"),
        "band-12": _asset("/data/T33UUP/B12.tif", **{"eo:bands": [{"name": "B12", "common_name": "swir22"}]}),
        "scl": _asset("https://s3.example/T33UUP/SCL.tif"),
        "thumbnail": {"href": "https://s3.example/T33UUP/thumb.jpg", "type": "image/jpeg"},
        "granule_metadata": {"href": "https://s3.example/T33UUP/metadata.xml"},
    }  # fmt: skip
    features = [
        {"type": "Feature", "id": "S2A_33UUP_20230601", "bbox": [13.0, 47.0, 14.0, 48.0], "assets": s2_assets},
        {"type": "Feature", "id": "S1_far", "bbox": [73.0, 30.0, 74.0, 31.0],
         "assets": {"vv": _asset("far/VV.tif"), "vh": _asset("far/VH.tif")}},
        {"type": "Feature", "id": "S1_near", "bbox": [12.5, 47.5, 14.5, 48.5],
         "assets": {"vh": _asset("file:///data/s1/VH.tif"), "vv": _asset("/vsicurl/https://x.example/VV.tif"),
                    "rendered_preview": {"href": "preview.png"}}},
    ]  # fmt: skip
    path = _stac(tmp_path, features)
    (scene,) = read_scenes(path)
    assert scene == Scene(
        "S2A_33UUP_20230601",
        ("/vsicurl/https://s3.example/T33UUP/B02.tif", "/data/T33UUP/B12.tif", str(tmp_path / "bands/B8A.tif")),
        ("/data/s1/VH.tif", "/vsicurl/https://x.example/VV.tif"),  # in band-name order
        ("/vsicurl/https://s3.example/T33UUP/SCL.tif",),
    )


def test_a_stac_item_with_both_modalities_is_one_scene_and_unpaired_s2_is_refused(tmp_path):
    both = {"type": "Feature", "id": "pair", "assets": {"B03": _asset("B03.tif"), "VV": _asset("VV.tif"),
                                                        "VH": _asset("VH.tif")}}  # fmt: skip
    (scene,) = read_scenes(_stac(tmp_path, [both]))
    assert (scene.s2, scene.s1) == ((str(tmp_path / "B03.tif"),), (str(tmp_path / "VH.tif"), str(tmp_path / "VV.tif")))
    lonely = {"type": "Feature", "id": "lonely", "bbox": [0, 0, 1, 1], "assets": {"red": _asset("B04.tif")}}
    with pytest.raises(InputError, match="STAC item lonely has S2 but no S1"):
        read_scenes(_stac(tmp_path, [lonely]))
    with pytest.raises(InputError, match="holds no STAC item with Sentinel-2 band assets"):
        read_scenes(_stac(tmp_path, [{"type": "Feature", "id": "radar", "assets": {"vv": _asset("VV.tif")}}]))
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"cannot read the STAC file broken\.json"):
        read_scenes(tmp_path / "broken.json")
    with pytest.raises(InputError, match=r"give a \.csv table"):
        read_scenes(_csv(tmp_path, "x").with_suffix(".csv").rename(tmp_path / "scenes.txt"))

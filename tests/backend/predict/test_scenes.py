"""The scene file of ``mosaic predict --scenes``: CSV cells (``;``, relative paths, URLs) and STAC asset mapping."""

from __future__ import annotations

import http.server
import io
import json
import re
import threading
from functools import partial
from pathlib import Path

import pytest

from mosaic.backend.errors import InputError
from mosaic.backend.predict.scenes import Scene, read_scenes


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lists" / "scenes.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_cells_split_at_semicolons_relative_to_the_csv(tmp_path):
    path = _csv(
        tmp_path,
        "\ufeffname,s2,s1,cloud_mask\n"
        "north, a/B02.tif ; a/B03.tif;,../s1/VV.tif;/data/VH.tif,a/SCL.tif\n"
        "remote,https://example.org/x/B02.tif,/vsis3/bucket/VV.tif;/vsis3/bucket/VH.tif,\n"
        ",,,\n",
    )
    base = path.parent
    assert read_scenes(path) == [
        Scene(
            "north",
            (str(base / "a/B02.tif"), str(base / "a/B03.tif")),
            (str(base / "../s1/VV.tif"), "/data/VH.tif"),
            (str(base / "a/SCL.tif"),),
        ),
        Scene("remote", ("/vsicurl/https://example.org/x/B02.tif",), ("/vsis3/bucket/VV.tif", "/vsis3/bucket/VH.tif")),
    ]


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
        "blue-jp2": {
            "href": "https://s3.example/T33UUP/B02.jp2",
            "type": "image/jp2",
            "eo:bands": [{"name": "B02", "common_name": "blue"}],
        },
        "nir08": _asset("./bands/B8A.tif"),
        "band-12": _asset("/data/T33UUP/B12.tif", **{"eo:bands": [{"name": "B12", "common_name": "swir22"}]}),
        "scl": _asset("https://s3.example/T33UUP/SCL.tif"),
        "thumbnail": {"href": "https://s3.example/T33UUP/thumb.jpg", "type": "image/jpeg"},
        "granule_metadata": {"href": "https://s3.example/T33UUP/metadata.xml"},
    }
    features = [
        {"type": "Feature", "id": "S2A_33UUP_20230601", "bbox": [13.0, 47.0, 14.0, 48.0], "assets": s2_assets},
        {
            "type": "Feature",
            "id": "S1_far",
            "bbox": [73.0, 30.0, 74.0, 31.0],
            "assets": {"vv": _asset("far/VV.tif"), "vh": _asset("far/VH.tif")},
        },
        {
            "type": "Feature",
            "id": "S1_near",
            "bbox": [12.5, 47.5, 14.5, 48.5],
            "assets": {
                "vh": _asset("file:///data/s1/VH.tif"),
                "vv": _asset("/vsicurl/https://x.example/VV.tif"),
                "rendered_preview": {"href": "preview.png"},
            },
        },
    ]
    path = _stac(tmp_path, features)
    (scene,) = read_scenes(path)
    assert scene == Scene(
        "S2A_33UUP_20230601",
        ("/vsicurl/https://s3.example/T33UUP/B02.tif", "/data/T33UUP/B12.tif", str(tmp_path / "bands/B8A.tif")),
        ("/data/s1/VH.tif", "/vsicurl/https://x.example/VV.tif"),  # in band-name order
        ("/vsicurl/https://s3.example/T33UUP/SCL.tif",),
    )


def test_a_stac_item_with_both_modalities_is_one_scene_and_unpaired_s2_is_refused(tmp_path):
    both = {
        "type": "Feature",
        "id": "pair",
        "assets": {"B03": _asset("B03.tif"), "VV": _asset("VV.tif"), "VH": _asset("VH.tif")},
    }
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


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP range requests (what GDAL's /vsicurl/ asks for), quiet."""

    def send_head(self):
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            return super().send_head()
        data = path.read_bytes()
        start, end = int(match.group(1)), int(match.group(2) or len(data) - 1)
        body = data[start : end + 1]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, *args) -> None:
        pass


def test_stac_item_served_over_http_predicts_like_its_local_files(t33uup_mosaic, onnx_model_path, tmp_path):
    """A STAC item whose hrefs are http URLs (a local server with range requests): read through /vsicurl/, the
    prediction equals the one of the same files on disk."""
    import numpy as np
    import rasterio

    from mosaic.backend.predict.prediction import predict

    from .prediction_requests import predict_request
    from .scene_data import PARTS, cut_part

    part = cut_part(t33uup_mosaic, PARTS["t33uup_north"], tmp_path / "served")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(part)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assets = {
            re.search(r"_(B\w\w|VV|VH)\.tif$", f.name).group(1): _asset(f"{url}/{f.name}")
            for f in sorted(part.glob("*.tif"))
        }
        (scene,) = read_scenes(_stac(tmp_path, [{"type": "Feature", "id": "north", "assets": assets}]))
        assert all(p.startswith(f"/vsicurl/{url}/") for p in scene.s2 + scene.s1) and len(scene.s2) == 12
        predict(predict_request(scene.s2, scene.s1, onnx_model_path, tmp_path / "remote", threads=1))
    finally:
        server.shutdown()
        server.server_close()
    local = sorted(part.glob("*.tif"))
    predict(
        predict_request(
            [f for f in local if "S2A" in f.name],
            [f for f in local if "S1_" in f.name],
            onnx_model_path,
            tmp_path / "local",
            threads=1,
        )
    )
    with (
        rasterio.open(tmp_path / "remote/probabilities.tif") as a,
        rasterio.open(tmp_path / "local/probabilities.tif") as b,
    ):
        assert np.isfinite(a.read()).sum() == 3 * 19  # the north part's three patches (37_87 is not in the data)
        np.testing.assert_array_equal(a.read(), b.read())

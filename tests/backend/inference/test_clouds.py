"""Cloud layers: identification (SCL, binary mask, probability) and which pixels each marks cloudy."""

from __future__ import annotations

import numpy as np
import pytest

from mosaic.backend.errors import InputError, ModelError
from mosaic.backend.inference.clouds import CloudOptions, inspect_cloud, parse_scl_classes, require_s1_head
from mosaic.backend.inference.rasters import BandInfo, RasterInfo


def _info(name: str, dtype: str, descriptions=("",), nodata=None) -> RasterInfo:
    bands = tuple(BandInfo(d, nodata) for d in descriptions)
    return RasterInfo(name, name, bands, dtype, "EPSG:32633", (20.0, 20.0))


def _sampler(*bands: np.ndarray):
    return lambda band: np.asarray(bands[band - 1], dtype=np.float64)


SCL = np.array([[0, 3, 4, 5], [8, 9, 10, 11]])


def test_an_scl_layer_is_recognised_by_its_name_and_classes():
    plan = inspect_cloud(_info("T33UUP_20240612_SCL_20m.tif", "uint8"), _sampler(SCL), CloudOptions())
    assert plan.kind == "scl" and plan.scl_classes == (3, 8, 9, 10)
    assert plan.cloudy(SCL).tolist() == [[False, True, False, False], [True, True, True, False]]
    snow = inspect_cloud(_info("SCL.tif", "uint8"), _sampler(SCL), CloudOptions(scl_classes=(3, 8, 9, 10, 11)))
    assert snow.cloudy(SCL)[1, 3]
    assert "cloud high probability (9)" in plan.describe()


def test_the_scl_band_of_a_stack_is_found_by_its_description():
    info = _info("stack.tif", "uint16", ("B02", "B03", "SCL"))
    plan = inspect_cloud(info, _sampler(SCL * 100, SCL * 100, SCL), CloudOptions())
    assert (plan.band, plan.kind) == (3, "scl")
    with pytest.raises(InputError, match="has 2 bands and none is described as SCL"):
        inspect_cloud(_info("stack.tif", "uint16", ("B02", "B03")), _sampler(SCL, SCL), CloudOptions())


def test_binary_masks_and_probabilities():
    mask = inspect_cloud(_info("clouds.tif", "uint8"), _sampler(np.array([[0, 255], [0, 0]])), CloudOptions())
    assert mask.kind == "mask" and mask.cloudy(np.array([0.0, 255.0, np.nan])).tolist() == [False, True, False]
    percent = inspect_cloud(_info("MSK_CLDPRB.tif", "uint8"), _sampler(np.array([0, 39, 40, 100])), CloudOptions())
    assert percent.kind == "probability" and percent.cloudy(np.array([39, 40, np.nan])).tolist() == [False, True, False]
    fraction = inspect_cloud(
        _info("prob.tif", "float32"), _sampler(np.array([0.0, 0.3, 0.9])), CloudOptions(threshold=0.5)
    )
    assert fraction.kind == "probability" and fraction.threshold == 0.5


def test_what_cannot_be_told_apart_is_refused_naming_the_option():
    """Small integer classes without an SCL name could be SCL or a probability: --cloud-mask-kind decides."""
    with pytest.raises(InputError, match=r"cannot tell .* pass --cloud-mask-kind scl, pass --cloud-mask-kind mask"):
        inspect_cloud(_info("classes.tif", "uint8"), _sampler(np.array([0, 3, 8, 9])), CloudOptions())
    plan = inspect_cloud(_info("classes.tif", "uint8"), _sampler(np.array([0, 3, 8, 9])), CloudOptions(kind="scl"))
    assert plan.kind == "scl"
    with pytest.raises(InputError, match="no Sentinel-2 scene classification"):
        inspect_cloud(_info("x.tif", "uint8"), _sampler(np.array([0, 200])), CloudOptions(kind="scl"))
    with pytest.raises(InputError, match="not binary"):
        inspect_cloud(_info("x.tif", "uint8"), _sampler(np.array([0, 1, 2])), CloudOptions(kind="mask"))
    with pytest.raises(InputError, match="holds no valid pixels"):
        inspect_cloud(_info("x.tif", "uint8"), _sampler(np.array([np.nan])), CloudOptions())
    with pytest.raises(InputError, match="cannot tell"):
        inspect_cloud(_info("dem.tif", "float32"), _sampler(np.array([-3.0, 812.5])), CloudOptions())


def test_options_are_checked():
    assert parse_scl_classes("8, 9,3,10") == (3, 8, 9, 10)
    with pytest.raises(InputError, match="comma-separated integers"):
        parse_scl_classes("8,cirrus")
    with pytest.raises(InputError, match="among 0–11"):
        CloudOptions(scl_classes=(12,))
    with pytest.raises(InputError, match=r"threshold must be in \(0, 1\]"):
        CloudOptions(threshold=40)
    with pytest.raises(ModelError, match=r"model.onnx has no S1-only head .* leave out the cloud mask"):
        require_s1_head(("fused",), "model.onnx")
    require_s1_head(("fused", "s1", "s2"), "model.onnx")


def test_the_real_major_tom_cloud_mask_is_a_binary_mask(shared_data):
    """Major-TOM's cloud_mask.tif (uint8, no nodata, all clear over this scene) is identified as a mask."""
    import rasterio

    from mosaic.backend.inputs.files import raster_info, sampler

    path = next((shared_data / "major-tom-core-s2l2a").rglob("cloud_mask.tif"))
    with rasterio.open(path) as ds:
        info = raster_info(ds)
        plan = inspect_cloud(info, lambda band: sampler([ds], [info])(0, band), CloudOptions())
        assert (plan.kind, plan.band) == ("mask", 1)
        assert not plan.cloudy(ds.read(1)).any()

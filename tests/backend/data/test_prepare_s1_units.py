"""``mosaic prepare`` with S1 in linear power: refused by default, converted on request (real T33UUP mosaic)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from mosaic.backend.data.prepare import PrepareOptions, prepare_dataset
from mosaic.backend.errors import InputError
from mosaic.backend.inference.inspector import InputOptions


def _options(t33uup_mosaic, s1, output, **kw) -> PrepareOptions:
    return PrepareOptions(
        s2=sorted(t33uup_mosaic.glob("S2A_*.tif")),
        s1=s1,
        labels=t33uup_mosaic / "mosaic_patch_labels_EPSG32633.geojson",
        class_field="labels",
        label_separator="; ",
        output=output,
        block_size=1,
        **kw,
    )


def test_linear_s1_is_refused_then_converted_on_request(t33uup_mosaic, t33uup_s1_linear, tmp_path):
    with pytest.raises(InputError) as refused:
        prepare_dataset(_options(t33uup_mosaic, t33uup_s1_linear, tmp_path / "auto"))
    message = str(refused.value)
    assert message.startswith("S1 band VV (")
    assert ".tif) looks like linear power or amplitude, not dB (median" in message
    assert ", 0% negative values); pass --s1-units linear for power (10·log10), pass --s1-units amplitude" in message
    assert not (tmp_path / "auto").exists() and not (tmp_path / ".auto.partial").exists()

    linear_run = prepare_dataset(
        _options(t33uup_mosaic, t33uup_s1_linear, tmp_path / "linear", inputs=InputOptions(s1_units="linear"))
    )
    assert linear_run.inputs["S1 units"] == "linear power → dB (10·log10)"
    prepare_dataset(_options(t33uup_mosaic, sorted(t33uup_mosaic.glob("S1_*.tif")), tmp_path / "db"))
    linear = sorted((tmp_path / "linear").rglob("*_VV.tif"))
    db = sorted((tmp_path / "db").rglob("*_VV.tif"))
    assert len(linear) == len(db) == 7
    for a, b in zip(linear, db):
        with rasterio.open(a) as x, rasterio.open(b) as y:
            np.testing.assert_allclose(x.read(1), y.read(1), atol=1e-4)  # 10·log10(10^(dB/10)) = dB

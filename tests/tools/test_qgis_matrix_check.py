"""The judgement of `make qgis-matrix` (tools/qgis_matrix_check.py), on the host: the 1e-5 comparison with
`mosaic predict` and the reading of qgis_process.bin's JSON. The roots themselves run in `make qgis-matrix`."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from mosaic.tests.plugin.processing_case import band_files
from mosaic.tools.qgis_matrix_check import (
    TOLERANCE,
    CheckError,
    _major_minor,
    check_onnxruntime_install,
    compare,
    qgis_process_json,
)


def variant(source: Path, path: Path, change) -> Path:
    """A GeoTIFF copy of ``source`` at ``path`` with ``change`` applied in place to its values."""
    gdal.Translate(str(path), str(source))
    ds = gdal.Open(str(path), gdal.GA_Update)
    values = ds.ReadAsArray()
    change(values)
    ds.GetRasterBand(1).WriteArray(values)
    ds = None
    return path


@pytest.fixture()
def reference(t33uup_mosaic, tmp_path) -> Path:
    """The real S1 VV band (Float32 dB, 240 × 480 px) with its top-left 120 px cell set to nodata (NaN)."""

    def blank(values):
        values[:120, :120] = np.nan

    return variant(band_files(t33uup_mosaic)["VV"], tmp_path / "reference.tif", blank)


def test_compare_returns_the_largest_difference_within_tolerance(reference, tmp_path):
    def shift(values):
        values[200, 100] += 0.5 * TOLERANCE

    delta = compare(variant(reference, tmp_path / "plugin.tif", shift), reference, "run")
    assert delta == pytest.approx(0.5 * TOLERANCE, abs=1e-6)  # Float32 rounding of a dB value
    assert compare(reference, reference, "run") == 0.0


def test_compare_refuses_a_difference_beyond_tolerance(reference, tmp_path):
    def shift(values):
        values[300, 50] -= 4 * TOLERANCE

    with pytest.raises(CheckError, match=r"^run: probabilities differ from mosaic predict by \d\.\d\de-05 > 1e-05$"):
        compare(variant(reference, tmp_path / "plugin.tif", shift), reference, "run")


def test_compare_refuses_other_nodata_cells(reference, tmp_path):
    def fill(values):
        values[:120, :120] = 0.0

    with pytest.raises(CheckError, match=r"^run: nodata cells differ from mosaic predict$"):
        compare(variant(reference, tmp_path / "plugin.tif", fill), reference, "run")


def test_qgis_process_json_skips_log_lines_before_the_document():
    stdout = 'QGIS log line\nanother\n{"results": {"N_CLASSES": 19}}\n'
    assert qgis_process_json(stdout, "run")["results"] == {"N_CLASSES": 19}
    with pytest.raises(CheckError, match="no JSON"):
        qgis_process_json("Schema error: ...\n", "run")


def test_versions_compare_by_major_and_minor():
    assert _major_minor("3.44.15-Solothurn") == (3, 44) and _major_minor("3.40") == (3, 40)
    assert _major_minor("3.46.0-Basel") >= _major_minor("3.44") > _major_minor("3.40.6-Bratislava")


def test_the_install_check_refuses_a_python_that_has_onnxruntime(tmp_path):
    """Check 7 needs a root without onnxruntime; this host's Python has it, so the check fails before QGIS starts."""
    args = argparse.Namespace(plugins=str(tmp_path), work=tmp_path)
    with pytest.raises(CheckError, match="has onnxruntime already"):
        check_onnxruntime_install(args)

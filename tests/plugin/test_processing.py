"""The ``mosaic`` Processing algorithms through processing.run and the real qgis_process.bin."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr
from qgis.core import QgsApplication, QgsProcessingException

from mosaic.backend.data.bands import S2_BAND_SETS
from mosaic.backend.data.classes import BEN19_CLASSES

from .headless import predict
from .processing_case import ALGORITHMS, band_files, classify_parameters
from .qgis_env import qgis_env


def test_every_algorithm_registered_with_help(processing_ready):
    for algorithm_id in ALGORITHMS:
        algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
        assert algorithm is not None, algorithm_id
        assert len(algorithm.shortHelpString()) > 200
        assert algorithm.group() == "Land cover"
    classify = QgsApplication.processingRegistry().algorithmById("mosaic:classify")
    names = {p.name() for p in classify.parameterDefinitions()}
    assert {"S2", "S1", "MODEL", "OUTPUT_PROBABILITIES", "OUTPUT_LABELS", "OUTPUT_CONFIDENCE", "OUTPUT_TILES"} <= names
    assert {"S2_OFFSET", "S2_SCALE", "S2_ORDER", "S1_UNITS", "S1_SCALE", "S1_ORDER"} <= names
    units = classify.parameterDefinition("S1_UNITS").options()
    assert [u.split(" ")[0] for u in units] == ["dB", "dB", "linear", "amplitude"]  # indices kept, amplitude last


def test_inspect_model(processing_ready, test_model):
    import processing

    result = processing.run("mosaic:inspect_model", {"MODEL": str(test_model)})
    assert result["N_CLASSES"] == 19 and result["PATCH_SIZE_PX"] == 120
    assert result["CLASSES"].splitlines() == list(BEN19_CLASSES)
    assert json.loads(result["METADATA"])["inputs"]["s1"]["bands"] == ["VV", "VH"]


def test_inspect_model_refuses_a_file_without_metadata(processing_ready, tmp_path):
    import processing

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(QgsProcessingException, match="not a readable ONNX model"):
        processing.run("mosaic:inspect_model", {"MODEL": str(broken)})


def test_classify_via_processing_run(processing_ready, test_model, t33uup_mosaic, tmp_path):
    import processing

    result = processing.run("mosaic:classify", classify_parameters(t33uup_mosaic, test_model, tmp_path))
    probabilities = gdal.Open(result["OUTPUT_PROBABILITIES"]).ReadAsArray()
    assert probabilities.shape == (19, 4, 2)  # 480 × 240 px at stride 120
    # the top-left 1.2 km cell (patch 37_87) is not in the mosaic: nodata
    assert np.isnan(probabilities[:, 0, 0]).all() and np.isfinite(probabilities[:, 1:, :]).all()
    labels = gdal.Open(result["OUTPUT_LABELS"]).ReadAsArray()
    np.testing.assert_array_equal(labels[0][1:], np.argmax(probabilities[:, 1:], axis=0))
    confidence = gdal.Open(result["OUTPUT_CONFIDENCE"]).ReadAsArray()
    np.testing.assert_allclose(confidence[1:], probabilities[:, 1:].max(axis=0))
    tiles = ogr.Open(result["OUTPUT_TILES"])
    assert tiles.GetLayer(0).GetFeatureCount() == 7  # 8 tiles, the nodata one skipped
    assert (tmp_path / "l.qml").is_file() and (tmp_path / "t.qml").is_file()


def test_classify_reports_missing_bands(processing_ready, test_model, t33uup_mosaic, tmp_path):
    import processing

    parameters = classify_parameters(t33uup_mosaic, test_model, tmp_path)
    parameters["S1"] = parameters["S1"][:1]  # VH only
    with pytest.raises(QgsProcessingException) as refusal:
        processing.run("mosaic:classify", parameters)
    assert str(refusal.value).startswith("S1 band(s) VV not found; name files like ..._VV.tif")
    assert list(tmp_path.iterdir()) == []


def test_classify_via_qgis_process_bin(test_model, t33uup_mosaic, tmp_path):
    """Headless: the real qgis_process.bin runs mosaic:classify with the plugin enabled."""
    exe = shutil.which("qgis_process.bin")
    assert exe is not None
    env = qgis_env(tmp_path)
    for shared in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH"):  # set by pytest-qgis: keep this profile private
        env.pop(shared, None)
    enabled = subprocess.run([exe, "plugins", "enable", "mosaic"], env=env, capture_output=True, text=True, timeout=120)
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    out = tmp_path / "out"
    out.mkdir()
    parameters = classify_parameters(t33uup_mosaic, test_model, out)
    args = [exe, "run", "mosaic:classify", "--"]
    for key, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            args.append(f"{key}={item}")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    probabilities = gdal.Open(str(out / "p.tif")).ReadAsArray()
    assert probabilities.shape == (19, 4, 2)
    assert np.isfinite(probabilities[:, 1:, :]).all()


def test_classify_with_s1_in_another_crs_matches_headless_predict(
    processing_ready, test_model, t33uup_mosaic, tmp_path
):
    """S1 in EPSG:3857 (as users often get it) is warped onto the S2 grid, as `mosaic predict` does."""

    import processing

    files = band_files(t33uup_mosaic)
    s1 = []
    for band in ("VV", "VH"):
        target = tmp_path / f"S1_webmercator_{band}.tif"
        gdal.Warp(str(target), str(files[band]), dstSRS="EPSG:3857", xRes=10, yRes=10, resampleAlg="near")
        s1.append(str(target))
    out = tmp_path / "plugin"
    out.mkdir()
    parameters = classify_parameters(t33uup_mosaic, test_model, out)
    parameters["S1"] = s1
    parameters["STRIDE"] = 60
    result = processing.run("mosaic:classify", parameters)
    plugin_p = gdal.Open(result["OUTPUT_PROBABILITIES"]).ReadAsArray()
    assert np.isfinite(plugin_p).sum() > 19 * 20

    s2 = [str(files[b]) for b in S2_BAND_SETS["s2_10"]]
    headless = predict(s2, s1, test_model, tmp_path / "headless")
    np.testing.assert_array_equal(np.isnan(headless), np.isnan(plugin_p))
    np.testing.assert_allclose(plugin_p, headless, rtol=0, atol=1e-5)


def test_classify_inside_aoi_polygons_matches_headless_predict(processing_ready, test_model, t33uup_mosaic, tmp_path):
    """Two diagonal patches as AOI (in EPSG:4326): their 2 × 2-cell box is run, the two cells outside are nodata,
    and the result equals `mosaic predict --aoi`."""

    import geopandas as gpd
    import processing

    footprints = gpd.read_file(t33uup_mosaic / "mosaic_patch_labels_EPSG32633.geojson")
    aoi = tmp_path / "aoi.gpkg"
    footprints[footprints.patch_id.str.endswith(("37_88", "38_89"))].to_crs(4326).to_file(aoi)
    out = tmp_path / "plugin"
    out.mkdir()
    parameters = classify_parameters(t33uup_mosaic, test_model, out) | {"AOI": str(aoi)}
    result = processing.run("mosaic:classify", parameters)
    plugin_p = gdal.Open(result["OUTPUT_PROBABILITIES"]).ReadAsArray()
    assert plugin_p.shape == (19, 2, 2)
    assert np.isfinite(plugin_p[:, [0, 1], [0, 1]]).all() and np.isnan(plugin_p[:, [0, 1], [1, 0]]).all()
    assert ogr.Open(result["OUTPUT_TILES"]).GetLayer(0).GetFeatureCount() == 2

    files = band_files(t33uup_mosaic)
    s2 = [str(files[b]) for b in S2_BAND_SETS["s2_10"]]
    s1 = [str(files["VV"]), str(files["VH"])]
    headless = predict(s2, s1, test_model, tmp_path / "headless", "--aoi", str(aoi), stride=120)
    np.testing.assert_array_equal(np.isnan(headless), np.isnan(plugin_p))
    np.testing.assert_allclose(plugin_p, headless, rtol=0, atol=1e-5)


def test_classify_linear_s1_is_refused_then_converted_by_s1_units(
    processing_ready, test_model, t33uup_mosaic, t33uup_s1_linear, tmp_path
):
    import processing

    reference = tmp_path / "db"
    linear = tmp_path / "linear"
    reference.mkdir()
    linear.mkdir()
    parameters = classify_parameters(t33uup_mosaic, test_model, linear) | {"S1": [str(p) for p in t33uup_s1_linear]}
    with pytest.raises(
        QgsProcessingException,
        match=r'looks like linear power or amplitude, not dB .*; set "S1 '
        r'units" to linear power for power',
    ):
        processing.run("mosaic:classify", parameters)
    assert list(linear.iterdir()) == []
    converted = processing.run("mosaic:classify", parameters | {"S1_UNITS": 2})  # linear power (convert to dB)
    db = processing.run("mosaic:classify", classify_parameters(t33uup_mosaic, test_model, reference))
    a = gdal.Open(converted["OUTPUT_PROBABILITIES"]).ReadAsArray()
    b = gdal.Open(db["OUTPUT_PROBABILITIES"]).ReadAsArray()
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)


def test_classify_one_stacked_s2_layer_equals_band_files(processing_ready, test_model, t33uup_mosaic, tmp_path):
    """S2 as one stacked VRT (bands out of order, named by description) gives the same result as the band files."""
    import processing

    files = band_files(t33uup_mosaic)
    order = list(reversed(S2_BAND_SETS["s2_10"]))
    stack = tmp_path / "s2_stack.vrt"
    vrt = gdal.BuildVRT(str(stack), [str(files[b]) for b in order], separate=True, resolution="highest")
    for i, band in enumerate(order, start=1):
        vrt.GetRasterBand(i).SetDescription(band)
    vrt = None
    reference = tmp_path / "files"
    stacked = tmp_path / "stacked"
    reference.mkdir()
    stacked.mkdir()
    by_files = processing.run("mosaic:classify", classify_parameters(t33uup_mosaic, test_model, reference))
    parameters = classify_parameters(t33uup_mosaic, test_model, stacked)
    parameters["S2"] = [str(stack)]
    by_stack = processing.run("mosaic:classify", parameters)
    a = gdal.Open(by_files["OUTPUT_PROBABILITIES"]).ReadAsArray()
    b = gdal.Open(by_stack["OUTPUT_PROBABILITIES"]).ReadAsArray()
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_prepare_runs_the_backend_and_labels_the_patch(processing_ready, ben_v2, shared_data, tmp_path):
    """mosaic:prepare on patch 26_57 with its real CLC2018 polygons: one patch, its four reBEN labels."""
    import sys

    import pandas as pd
    import processing

    s2_dir = next((ben_v2 / "BigEarthNet-S2").glob("*/*_26_57"))
    s1_dir = next((ben_v2 / "BigEarthNet-S1").glob("*/*_26_57"))
    polygons = next((shared_data / "bigearthnet-v2-rico-hdl" / "derived").glob("*26_57*polygons.geojson"))
    result = processing.run(
        "mosaic:prepare",
        {
            "S2": [str(p) for p in sorted(s2_dir.glob("*.tif"))],
            "S1": [str(p) for p in sorted(s1_dir.glob("*.tif"))],
            "LABELS": str(polygons),
            "CLASS_FIELD": "name_19",
            "BACKEND_PYTHON": sys.executable,
            "OUTPUT": str(tmp_path / "dataset"),
        },
    )
    dataset = tmp_path / "dataset"
    assert result["OUTPUT"] == str(dataset)
    metadata = pd.read_parquet(dataset / "metadata.parquet")
    assert len(metadata) == 1
    assert sorted(metadata.iloc[0]["labels"]) == sorted(
        ["Arable land", "Pastures", "Broad-leaved forest", "Mixed forest"]
    )
    assert len(list((dataset / "BigEarthNet-S2").rglob("*.tif"))) == 12


def test_prepare_without_backend_python_says_what_to_do(processing_ready, ben_v2, tmp_path):
    import processing

    from mosaic.plugin import settings

    settings.set_value("backend_python", "")
    s2 = next((ben_v2 / "BigEarthNet-S2").glob("*/*_26_57/*_B02.tif"))
    with pytest.raises(QgsProcessingException, match="backend Python"):
        processing.run(
            "mosaic:prepare",
            {
                "S2": [str(s2)],
                "S1": [str(s2)],
                "LABELS": str(next(ben_v2.glob("*EPSG32633.geojson"))),
                "CLASS_FIELD": "labels",
                "OUTPUT": str(tmp_path / "d"),
            },
        )


@pytest.mark.slow
def test_train_algorithm_trains_evaluates_and_exports(processing_ready, ben_v2, tmp_path):
    """mosaic:train: the training dialog's strategies in plain words (MoSAiC-1 first), a real one-epoch ResNet-18
    MoSAiC-1 run in the backend Python, evaluated on the test split before the export, so the model carries its
    tuned thresholds and test metrics; the training dialog's file names."""
    import re
    import sys

    import processing

    from mosaic.backend.inference import read_metadata
    from mosaic.plugin.backend_env import strategies_for_analysts, strategy_text

    algorithm = processing_ready.algorithm("train")
    options = algorithm.parameterDefinition("STRATEGY").options()
    assert options == [strategy_text(n) for n in strategies_for_analysts()]
    assert options[0].startswith("MoSAiC-1: ") and options[0].endswith("(mosaic1)")
    assert algorithm.parameterDefinition("LABEL_FRACTION").defaultValue() == 1.0  # all labels, as the dialog
    result = processing.run(
        "mosaic:train",
        {
            "DATASET": str(ben_v2),
            "STRATEGY": 0,
            "EPOCHS": 1,
            "BATCH_SIZE": 4,
            "DEVICE": 1,
            "BACKBONE": "resnet18",
            "WORKERS": 0,
            "BACKEND_PYTHON": sys.executable,
            "OUTPUT": str(tmp_path / "run"),
        },
    )
    model = Path(result["MODEL"])
    assert model.parent == tmp_path / "run" and re.fullmatch(r"mosaic1_\d{4}-\d{2}-\d{2}_\d{4}\.onnx", model.name)
    assert Path(result["METRICS"]) == model.with_name(f"{model.stem}_evaluation") / "metrics.json"
    meta = read_metadata(model)
    assert meta.strategy == "mosaic1" and meta.thresholds_tuned
    assert 0 < meta.metrics["test/ap_macro"] <= 1 and "test/ap_macro" in meta.metrics_for("s1")

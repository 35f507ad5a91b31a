"""Inputs identified by the engine's inspector through ``mosaic:classify`` and the dock, as ``mosaic predict`` does
(issues 16 and 18), on files derived from the real T33UUP mosaic: description-less stacks, the +1000 DN offset of
processing baseline 05.09 products, a VH,VV stack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsProject, QgsRasterLayer

from mosaic.backend.data.bands import S2_BAND_SETS

from .headless import assert_same, predict, stack
from .processing_case import band_files

BANDS = S2_BAND_SETS["s2_10"]
PRODUCT_0509 = "S2B_MSIL2A_20240612T101031_N0509_R022_T33UUP_20240612T140000"


class Feedback(QgsProcessingFeedback):
    """Keeps the algorithm's info lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def pushInfo(self, info: str) -> None:
        self.lines.append(info)
        super().pushInfo(info)


def offset_copies(folder: Path, out: Path, name: str) -> list[Path]:
    """The model's S2 bands as ``<out>/<name>_<band>.tif`` with +1000 DN on every valid pixel (nodata 0 kept)."""
    out.mkdir(parents=True, exist_ok=True)
    files, paths = band_files(folder), []
    for band in BANDS:
        with rasterio.open(files[band]) as src:
            a, profile = src.read(1), src.profile
        path = out / f"{name}_{band}.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.where(a == 0, 0, a + 1000).astype(np.uint16), 1)
        paths.append(path)
    return paths


def parameters_of(s2: list[Path], s1: list[Path], model: Path, out: Path) -> dict:
    return {
        "S2": [str(p) for p in s2],
        "S1": [str(p) for p in s1],
        "MODEL": str(model),
        "STRIDE": 60,
        "OUTPUT_PROBABILITIES": str(out / "p.tif"),
        "OUTPUT_LABELS": str(out / "l.tif"),
    }


def classify(s2: list[Path], s1: list[Path], model: Path, out: Path, **options) -> tuple[np.ndarray, dict, list]:
    """``mosaic:classify`` → (probabilities, their GDAL metadata, the info lines)."""
    import processing

    out.mkdir(parents=True)
    feedback = Feedback()
    parameters = parameters_of(s2, s1, model, out) | options
    result = processing.run("mosaic:classify", parameters, feedback=feedback)
    ds = gdal.Open(result["OUTPUT_PROBABILITIES"])
    return ds.ReadAsArray(), ds.GetMetadata(), feedback.lines


def refused(s2: list[Path], s1: list[Path], model: Path, out: Path, **options) -> str:
    """The refusal of ``mosaic:classify``; nothing written."""
    import processing

    out.mkdir(parents=True)
    parameters = parameters_of(s2, s1, model, out) | options
    with pytest.raises(QgsProcessingException) as refusal:
        processing.run("mosaic:classify", parameters)
    assert list(out.iterdir()) == []
    return str(refusal.value)


@pytest.fixture(scope="module")
def stacks(t33uup_mosaic, tmp_path_factory) -> dict[str, Path]:
    """The description-less stacks: S2 (10 bands, model order), S1 VV,VH and S1 VH,VV."""
    files, folder = band_files(t33uup_mosaic), tmp_path_factory.mktemp("stacks")
    return {
        "s2": stack([files[b] for b in BANDS], folder / "s2.vrt"),
        "s1": stack([files["VV"], files["VH"]], folder / "s1.vrt"),
        "s1_swapped": stack([files["VH"], files["VV"]], folder / "s1_swapped.vrt"),
    }


@pytest.fixture(scope="module")
def original(processing_ready, test_model, t33uup_mosaic, tmp_path_factory) -> np.ndarray:
    """``mosaic:classify`` on the untouched band files."""
    files = band_files(t33uup_mosaic)
    out = tmp_path_factory.mktemp("original") / "out"
    probabilities, tags, lines = classify([files[b] for b in BANDS], [files["VV"], files["VH"]], test_model, out)
    assert tags["MOSAIC_INPUT_S2_RADIOMETRY"].startswith(
        "reflectance × 10000 (integer reflectance × 10000); no DN offset (no processing baseline found;"
    )
    assert any(
        line.startswith("S2 bands: B02, B03") and "named by band descriptions or file names" in line for line in lines
    ), lines
    return probabilities


def test_description_less_stacks_equal_mosaic_predict(processing_ready, test_model, stacks, original, tmp_path):
    """Issue 16: a 10-band S2 stack and a VV,VH stack without band descriptions, in the model's order."""
    plugin, tags, lines = classify([stacks["s2"]], [stacks["s1"]], test_model, tmp_path / "plugin")
    assert tags["MOSAIC_INPUT_S2_BANDS"] == (
        "B02, B03, B04, B05, B06, B07, B08, B8A, B11, B12: a stack without band names, taken in the model's order"
    )
    assert "S1 order: VV, VH; VV 5.9 dB above VH" in lines
    headless = predict([stacks["s2"]], [stacks["s1"]], test_model, tmp_path / "headless")
    assert_same(plugin, headless, 1e-5)
    assert_same(plugin, original, 1e-4)  # the VRT's nearest 20 m → 10 m is the reader's nearest upsampling


def test_explicit_s2_order_of_a_stack(processing_ready, test_model, t33uup_mosaic, original, tmp_path):
    """S2_ORDER names the bands of a stack in another order; a wrong count is refused with the parameter's name."""
    files = band_files(t33uup_mosaic)
    order = list(reversed(BANDS))
    s2 = stack([files[b] for b in order], tmp_path / "reversed.vrt")
    s1 = [files["VV"], files["VH"]]
    plugin, tags, _ = classify([s2], s1, test_model, tmp_path / "ordered", S2_ORDER=",".join(order))
    assert tags["MOSAIC_INPUT_S2_BANDS"].endswith(": in the order given")
    assert_same(plugin, original, 1e-4)
    text = refused([s2], s1, test_model, tmp_path / "short", S2_ORDER="B12,B11")
    assert "the S2 band order B12,B11 names 2 bands but the S2 input holds 10" in text


def test_baseline_05_09_names_remove_the_offset(processing_ready, test_model, t33uup_mosaic, original, tmp_path):
    """Issue 18: +1000 DN in files named as a baseline 05.09 product give the original run, with no option."""
    files = band_files(t33uup_mosaic)
    s2 = offset_copies(t33uup_mosaic, tmp_path / "product", PRODUCT_0509)
    plugin, tags, lines = classify(s2, [files["VV"], files["VH"]], test_model, tmp_path / "out")
    assert_same(plugin, original, 1e-4)
    radiometry = "1000 DN offset removed (processing baseline 05.09 (product name S2B_MSIL2A_20240612T101031_N0509"
    assert radiometry in tags["MOSAIC_INPUT_S2_RADIOMETRY"]
    assert any(line.startswith("S2 radiometry: ") and radiometry in line for line in lines), lines


def test_offset_in_neutral_names_is_refused_then_taken_with_s2_offset(
    processing_ready, test_model, t33uup_mosaic, original, tmp_path
):
    files = band_files(t33uup_mosaic)
    s2, s1 = offset_copies(t33uup_mosaic, tmp_path / "neutral", "scene"), [files["VV"], files["VH"]]
    text = refused(s2, s1, test_model, tmp_path / "refused")
    assert "the S2 input names no processing baseline and the darkest pixels of" in text
    assert 'set "S2 DN offset" to 1000 to remove it, or set "S2 DN offset" to 0 if the values have no offset.' in text
    plugin, tags, _ = classify(s2, s1, test_model, tmp_path / "out", S2_OFFSET=2)  # 1000
    assert_same(plugin, original, 1e-4)
    assert "1000 DN offset removed (chosen by the user)" in tags["MOSAIC_INPUT_S2_RADIOMETRY"]


def test_vh_vv_stack_is_refused_then_read_with_s1_order(
    processing_ready, test_model, t33uup_mosaic, stacks, original, tmp_path
):
    files = band_files(t33uup_mosaic)
    s2 = [files[b] for b in BANDS]
    text = refused(s2, [stacks["s1_swapped"]], test_model, tmp_path / "refused")
    assert "the S1 band read as VV is 5.9 dB weaker than the one read as VH" in text
    assert 'the bands look swapped; set "S1 band order" to VH,VV' in text
    plugin, tags, _ = classify(s2, [stacks["s1_swapped"]], test_model, tmp_path / "out", S1_ORDER=2)  # vh,vv
    assert tags["MOSAIC_INPUT_S1_ORDER"] == "VH, VV (chosen by the user)"  # the stack's own order
    assert_same(plugin, original, 1e-4)


def test_dock_reads_the_stacks_and_the_s1_order(qgis_iface, qtbot, clean_settings, test_model, stacks, tmp_path):
    """The dock detects the description-less stacks by position, equals `mosaic predict` on them, refuses the
    VH,VV stack in its own words and reads it with its "S1 band order" choice."""
    from .plugin_actions import open_dock, start_plugin

    project = QgsProject.instance()
    project.clear()
    layers = {}
    for key, path in stacks.items():
        layers[key] = QgsRasterLayer(str(path), path.stem, "gdal")
        project.addMapLayer(layers[key])
    plugin = start_plugin(qgis_iface)
    try:
        dock = open_dock(qgis_iface)
        dock.s2_combo.setLayer(layers["s2"])
        dock.s1_combo.setLayer(layers["s1"])
        dock.set_model_path(str(test_model))
        dock.output_dir.setFilePath(str(tmp_path / "dock"))
        dock.stride.setValue(60)
        mapping = dock.mapping()
        assert [(mapping[("S2", b)].layer.id(), mapping[("S2", b)].band) for b in BANDS] == [
            (layers["s2"].id(), i + 1) for i in range(10)
        ]
        assert dock.run() is not None
        qtbot.waitUntil(lambda: dock.task is None, timeout=120_000)
        assert dock.last_error == "", dock.last_error
        assert "a stack without band names, taken in the model's order" in dock.status.text()
        in_qgis = gdal.Open(str(dock.last_result.outputs["probabilities"])).ReadAsArray()
        headless = predict([stacks["s2"]], [stacks["s1"]], test_model, tmp_path / "headless")
        assert_same(in_qgis, headless, 1e-5)

        dock.s1_combo.setLayer(layers["s1_swapped"])
        qgis_iface.messageBar().clear_messages()
        assert dock.run() is None
        critical = qgis_iface.messageBar().get_messages(2)  # Qgis.MessageLevel.Critical
        assert len(critical) == 1 and 'set "S1 band order" to VH,VV in the dock' in critical[0], critical
        choice = dock.input_choices["s1_order"]
        choice.setCurrentIndex(choice.findData("vh,vv"))
        assert dock.run() is not None
        qtbot.waitUntil(lambda: dock.task is None, timeout=120_000)
        assert dock.last_error == "", dock.last_error
        assert "S1 order: VH, VV (chosen by the user)" in dock.status.text()
        swapped = gdal.Open(str(dock.last_result.outputs["probabilities"])).ReadAsArray()
        assert_same(swapped, in_qgis, 1e-4)
    finally:
        plugin.unload()
        project.clear()


@pytest.mark.parametrize(
    ("crs", "resolution", "grid"),
    [
        ("EPSG:32633", 20.0, "S2 resampled from 20 m pixels to 10 m in its CRS"),
        ("EPSG:4326", 1.5e-4, "S2 resampled from 11.2 × 16.6 m pixels to 10 m in EPSG:32633"),
        # issue 24: Web Mercator's 10 "m" are 6.73 m on the ground here; Austria Lambert's are ground metres
        (
            "EPSG:3857",
            10.0,
            "S2 resampled from 6.73 m pixels to 10 m in EPSG:32633 (its CRS's scale factor at the scene is 1.49: its "
            "metres are not ground metres)",
        ),
        ("EPSG:31287", 10.0, "S2 grid used as it is (10 m pixels)"),
    ],
)
def test_s2_off_the_10_m_grid_is_resampled_as_mosaic_predict_does(
    processing_ready, test_model, t33uup_mosaic, tmp_path, crs, resolution, grid
):
    """Issue 18: S2 at 20 m, or in degrees, is read on the square 10 m grid the inspector plans (in its CRS, or in
    the UTM zone): the same grid and probabilities as `mosaic predict` on the same files. Issue 24: so is S2 in a CRS
    whose metres are not ground metres at the scene (Web Mercator); a conformal CRS of scale ~1 runs as it is."""
    files = band_files(t33uup_mosaic)
    s2 = []
    for band in BANDS:
        s2.append(tmp_path / files[band].name)
        gdal.Warp(str(s2[-1]), str(files[band]), dstSRS=crs, xRes=resolution, yRes=resolution, resampleAlg="average")
    s1 = [files["VV"], files["VH"]]
    plugin, tags, _ = classify(s2, s1, test_model, tmp_path / "plugin")
    assert tags["MOSAIC_INPUT_S2_GRID"] == grid
    headless = predict(s2, s1, test_model, tmp_path / "headless")
    assert plugin.shape == headless.shape and np.isfinite(plugin).any()
    np.testing.assert_array_equal(np.isnan(plugin), np.isnan(headless))
    np.testing.assert_allclose(plugin, headless, rtol=0, atol=1e-5)


def test_s1_amplitude_is_refused_then_converted_with_s1_units(
    processing_ready, test_model, t33uup_mosaic, original, tmp_path
):
    """S1 as amplitude (√ linear power): refused with both conversions named, then S1_UNITS=amplitude (20·log10)
    gives the dB run."""
    files = band_files(t33uup_mosaic)
    s1 = []
    for band in ("VV", "VH"):
        with rasterio.open(files[band]) as src:
            db, profile = src.read(1), src.profile
        s1.append(tmp_path / f"amplitude_{band}.tif")
        with rasterio.open(s1[-1], "w", **profile) as dst:
            dst.write(np.power(10.0, db / 20.0).astype(np.float32), 1)
    s2 = [files[b] for b in BANDS]
    text = refused(s2, s1, test_model, tmp_path / "refused")
    assert 'set "S1 units" to linear power for power (10·log10), set "S1 units" to amplitude for amplitude' in text
    plugin, tags, _ = classify(s2, s1, test_model, tmp_path / "out", S1_UNITS=3)  # amplitude
    assert tags["MOSAIC_INPUT_S1_UNITS"] == "amplitude → dB (20·log10)"
    assert_same(plugin, original, 1e-4)


def test_cloud_masks_are_refused_for_old_models_and_when_unidentifiable(
    processing_ready, test_model, heads_test_model, t33uup_mosaic, t33uup_cloud_mask, tmp_path
):
    """A model without an S1-only head refuses a cloud mask; classes that are neither named SCL nor binary ask for
    "Cloud mask kind", and with it set to scl they are read as SCL; a mask beside the scene is refused."""
    files = band_files(t33uup_mosaic)
    s2, s1 = [files[b] for b in BANDS], [files["VV"], files["VH"]]
    text = refused(s2, s1, test_model, tmp_path / "old", CLOUD_MASK=str(t33uup_cloud_mask))
    assert "resnet18_test.onnx has no S1-only head" in text and "leave out the cloud mask" in text
    classes = tmp_path / "classes.tif"
    with rasterio.open(t33uup_cloud_mask) as src:
        profile, mask = src.profile, src.read(1)
    with rasterio.open(classes, "w", **profile) as dst:
        dst.write((mask * 5 + 4).astype(np.uint8), 1)  # 4 vegetation, 9 cloud high probability
    text = refused(s2, s1, heads_test_model, tmp_path / "unknown", CLOUD_MASK=str(classes))
    assert 'cannot tell what the cloud mask classes holds (values 4–9, uint8); set "Cloud mask kind" to scl' in text
    far = tmp_path / "far_SCL.tif"  # 100 km east of the scene
    with rasterio.open(
        far, "w", **(profile | {"transform": profile["transform"] * rasterio.Affine.translation(10_000, 0)})
    ) as dst:
        dst.write((mask * 5 + 4).astype(np.uint8), 1)
    text = refused(s2, s1, heads_test_model, tmp_path / "far", CLOUD_MASK=str(far))
    assert text == "cloud mask far_SCL does not overlap the S2 extent; check the inputs."
    _, tags, lines = classify(s2, s1, heads_test_model, tmp_path / "scl", CLOUD_MASK=str(classes), CLOUD_MASK_KIND=1)
    assert tags["MOSAIC_INPUT_CLOUD_MASK"].startswith("band 1: Sentinel-2 scene classification")
    assert any(line.startswith("cloud mask: band 1") for line in lines)

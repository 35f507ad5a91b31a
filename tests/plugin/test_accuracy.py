"""Accuracy and area in real QGIS: ``mosaic:classify`` → ``mosaic:sample`` → the sample labelled in an edit session
from the T33UUP per-patch label squares → ``mosaic:assess``, against ``mosaic sample`` / ``mosaic assess`` on the same
run; the layers QGIS adds (form, styles), the refusals, *Assess this map…*, and the whole chain in a Python without
rasterio, pandas, shapely, torch, onnxruntime or matplotlib (QGIS alone)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from osgeo import gdal, ogr
from qgis.core import QgsFeatureRequest, QgsProcessingException, QgsProject, QgsVectorLayer

from .processing_case import classify_parameters

SQUARES = "mosaic_patch_labels_EPSG32633.geojson"
SAMPLE_OPTIONS = {"TARGET_SE": 0.05, "MINIMUM": 5, "SEED": 3}


def cli(*args: str) -> None:
    """``mosaic …`` in the backend (rasterio) in its own process, as the other plugin tests run it."""
    done = subprocess.run(
        [sys.executable, "-m", "mosaic.backend.cli", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def run_folder(processing_ready, test_model, t33uup_mosaic, tmp_path_factory):
    """``mosaic:classify`` over the T33UUP mosaic at stride 30, outputs named as a run's."""
    import processing

    out = tmp_path_factory.mktemp("run")
    parameters = classify_parameters(t33uup_mosaic, test_model, out) | {"STRIDE": 30}
    for key, name in (
        ("PROBABILITIES", "probabilities.tif"),
        ("LABELS", "labels.tif"),
        ("CONFIDENCE", "confidence.tif"),
    ):
        parameters[f"OUTPUT_{key}"] = str(out / name)
    parameters["OUTPUT_TILES"] = str(out / "tiles.gpkg")
    processing.run("mosaic:classify", parameters)
    return out


@pytest.fixture()
def project():
    QgsProject.instance().clear()
    yield QgsProject.instance()
    QgsProject.instance().clear()


def records(path, layer="sample") -> list[dict]:
    dataset = ogr.Open(str(path))
    found = dataset.GetLayerByName(layer)
    return [{**feature.items(), "geometry": feature.GetGeometryRef().ExportToWkt()} for feature in found]


def label_from_squares(layer: QgsVectorLayer, squares_path) -> None:
    """What an analyst does in the form, in an edit session: tick the classes of the patch holding each unit."""
    squares = QgsVectorLayer(str(squares_path), "squares", "ogr")
    assert layer.startEditing()
    for feature in layer.getFeatures():
        centre = feature.geometry().centroid()
        square = next(s for s in squares.getFeatures(QgsFeatureRequest()) if s.geometry().contains(centre))
        for name in square["labels"].split("; "):
            assert layer.changeAttributeValue(feature.id(), layer.fields().indexOf(f"ref: {name}"), 1)


def test_sample_label_and_assess_in_qgis(run_folder, t33uup_mosaic, project, tmp_path):
    import processing

    sample = tmp_path / "sample.gpkg"
    parameters = {"LABELS": str(run_folder / "labels.tif"), "PROBABILITIES": str(run_folder / "probabilities.tif")}
    processing.runAndLoadResults("mosaic:sample", parameters | SAMPLE_OPTIONS | {"OUTPUT": str(sample)})
    (layer,) = project.mapLayersByName("Sample to label")
    assert layer.featureCount() == 28
    # the form: a value map of the class names, one checkbox per class, probabilities hidden; outlines by state
    fields = layer.fields()
    reference = layer.editorWidgetSetup(fields.indexOf("reference"))
    assert reference.type() == "ValueMap" and {"Arable land": "Arable land"} in reference.config()["map"]
    checkbox = layer.editorWidgetSetup(fields.indexOf("ref: Arable land"))
    assert checkbox.type() == "CheckBox" and checkbox.config()["CheckedState"] == "1"
    assert layer.attributeAlias(fields.indexOf("ref: Arable land")) == "Arable land"
    assert layer.editorWidgetSetup(fields.indexOf("p: Arable land")).type() == "Hidden"
    assert [tab.name() for tab in layer.editFormConfig().tabs()] == ["Reference (your labels)", "Map (read only)"]
    assert layer.renderer().type() == "categorizedSymbol"
    assert [c.value() for c in layer.renderer().categories()] == ["to label", "labelled"]
    # the same sample as `mosaic sample`
    command_line = tmp_path / "cli.gpkg"
    cli(
        "sample",
        "--map",
        str(run_folder),
        "-o",
        str(command_line),
        "--target-se",
        "0.05",
        "--minimum",
        "5",
        "--seed",
        "3",
    )
    assert records(sample) == records(command_line)
    for table in ("strata", "design"):
        assert records_without_geometry(sample, table) == records_without_geometry(command_line, table)

    label_from_squares(layer, t33uup_mosaic / SQUARES)
    out = tmp_path / "assessment"
    with pytest.raises(QgsProcessingException, match=r"^Save the edits of the layer Sample to label first"):
        processing.run("mosaic:assess", {"SAMPLE": str(sample), "OUTPUT_FOLDER": str(out)})
    assert layer.commitChanges()
    result = processing.runAndLoadResults("mosaic:assess", {"SAMPLE": str(sample), "OUTPUT_FOLDER": str(out)})
    assert result["ASSESSMENT"] is None and result["OVERALL_ACCURACY"] is None  # no top-class reference given
    (disagreement,) = project.mapLayersByName("Disagreement (map ≠ reference)")
    assert disagreement.renderer().type() == "singleSymbol"
    assert disagreement.renderer().symbol().symbolLayer(0).strokeColor().name() == "#e31a1c"
    # the same numbers as `mosaic assess` labelling the command line's sample from the squares
    expected = tmp_path / "cli_assessment"
    cli(
        "assess",
        "--sample",
        str(command_line),
        "--reference",
        str(t33uup_mosaic / SQUARES),
        "--reference-labels-field",
        "labels",
        "-o",
        str(expected),
    )
    for name in ("assessment_multilabel.json", "multilabel.csv"):
        assert (out / name).read_text() == (expected / name).read_text(), name
    report = (expected / "report.md").read_text().replace("from cli.gpkg.", "from sample.gpkg.")
    assert (out / "report.md").read_text() == report
    assert records(out / "disagreement.gpkg", "disagreement") == records(expected / "disagreement.gpkg", "disagreement")
    assert disagreement.featureCount() == len(records(expected / "disagreement.gpkg", "disagreement")) > 0
    pastures = json.loads((out / "assessment_multilabel.json").read_text())["classes"]["Pastures"]["area"]
    assert pastures == {"estimate": 1008.0, "se": 0.0, "ci95": 0.0, "unit": "ha"}


def records_without_geometry(path, layer) -> list[dict]:
    dataset = ogr.Open(str(path))  # kept while its layer is read (GDAL frees the layer with the dataset)
    return [feature.items() for feature in dataset.GetLayerByName(layer)]


def test_refusals_through_processing(run_folder, t33uup_mosaic, tmp_path):
    import processing

    sample = tmp_path / "sample.gpkg"
    parameters = {"LABELS": str(run_folder / "labels.tif"), "PROBABILITIES": str(run_folder / "probabilities.tif")}
    processing.run("mosaic:sample", parameters | SAMPLE_OPTIONS | {"OUTPUT": str(sample)})
    squares_4326 = tmp_path / "squares_4326.geojson"
    gdal.VectorTranslate(str(squares_4326), str(t33uup_mosaic / SQUARES), dstSRS="EPSG:4326")
    out = tmp_path / "out"
    reference = str(squares_4326)  # a path: a Python-owned layer kept alive by the traceback crashes QGIS's exit
    with pytest.raises(QgsProcessingException) as refusal:
        processing.run(
            "mosaic:assess",
            {
                "SAMPLE": str(sample),
                "REFERENCE": reference,
                "REFERENCE_LABELS_FIELD": "labels",
                "OUTPUT_FOLDER": str(out),
            },
        )
    assert str(refusal.value) == (
        "the reference squares_4326.geojson is in EPSG:4326 but the map is in EPSG:32633: reproject it to the map's "
        "CRS first (QGIS: Reproject Layer or Warp; GDAL: ogr2ogr -t_srs or gdalwarp -t_srs)."
    )
    with pytest.raises(QgsProcessingException, match=r"^A vector reference needs REFERENCE_FIELD"):
        processing.run("mosaic:assess", {"SAMPLE": str(sample), "REFERENCE": reference, "OUTPUT_FOLDER": str(out)})
    assert not out.exists() or list(out.iterdir()) == []
    # a stratum with a single unit, through the plain tables
    rows = "map,reference\nforest,forest\nforest,forest\nwater,water\n"
    (tmp_path / "s.csv").write_text(rows)
    (tmp_path / "a.csv").write_text("stratum,area\nforest,90\nwater,10\n")
    with pytest.raises(QgsProcessingException) as refusal:
        processing.run(
            "mosaic:assess",
            {"SAMPLE": str(tmp_path / "s.csv"), "AREAS": str(tmp_path / "a.csv"), "OUTPUT_FOLDER": str(out)},
        )
    assert str(refusal.value).startswith("stratum 'water' has 1 sample unit but an area in a.csv;")


def test_assess_this_map_opens_the_next_step(run_folder, qgis_iface, monkeypatch, tmp_path):
    import shutil

    from qgis.gui import QgsBrowserGuiModel

    from mosaic.plugin.accuracy_entry import assess_this_map, next_step

    browser = QgsBrowserGuiModel()  # QGIS's own; pytest-qgis's stand-in interface has none for Processing's dialog
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser)

    run = tmp_path / "run"
    run.mkdir()
    for name in ("labels.tif", "probabilities.tif"):
        shutil.copy(run_folder / name, run / name)
    assert next_step(run) == (
        "mosaic:sample",
        {
            "LABELS": str(run / "labels.tif"),
            "PROBABILITIES": str(run / "probabilities.tif"),
            "OUTPUT": str(run / "sample.gpkg"),
        },
    )
    dialog = assess_this_map(run, qgis_iface.mainWindow())
    assert dialog.algorithm().id() == "mosaic:sample" and dialog.isVisible()
    assert dialog.createProcessingParameters()["OUTPUT"] == str(run / "sample.gpkg")
    dialog.close()
    cli("sample", "--map", str(run), "-o", str(run / "sample.gpkg"), "--total", "20")
    algorithm, parameters = next_step(run)
    assert algorithm == "mosaic:assess" and parameters["SAMPLE"] == str(run / "sample.gpkg")
    assert parameters["OUTPUT_FOLDER"] == str(run / "assessment")


SCRIPT = """
import sys
for name in ("rasterio", "pyogrio", "geopandas", "pandas", "shapely", "torch", "onnxruntime", "sklearn", "matplotlib"):
    sys.modules[name] = None  # importing them fails: QGIS with nothing but numpy and its own GDAL
from mosaic.backend.accuracy.assessment import assess
from mosaic.backend.accuracy.request import AssessRequest, SampleRequest
from mosaic.backend.accuracy.sampling import draw_sample
from mosaic.plugin.accuracy_io import GdalIO
run, out, squares = sys.argv[1:]
draw_sample(SampleRequest(run + "/labels.tif", run + "/probabilities.tif", out + "/s.gpkg", total=30), GdalIO())
assess(AssessRequest(out + "/a", out + "/s.gpkg", reference=squares, reference_labels_field="labels"), GdalIO())
"""


def test_the_chain_needs_only_numpy_and_gdal(run_folder, t33uup_mosaic, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(run_folder), str(tmp_path), str(t33uup_mosaic / SQUARES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "a" / "report.md").read_text()
    assert "(No chart: matplotlib is not installed in this Python; the areas are in the table above.)" in report
    assert not (tmp_path / "a" / "areas_multilabel.png").exists()
    assert len(records(tmp_path / "s.gpkg")) == 30


def test_gdal_and_rasterio_read_and_write_alike(run_folder, t33uup_mosaic, shared_data, tmp_path):
    """The two GeoIO implementations on the same files: map, windows, feature order, rasterisation, overlaps,
    GeoPackage layers."""
    import numpy as np

    from mosaic.backend.accuracy.rasterio_io import RasterioIO
    from mosaic.plugin.accuracy_io import GdalIO

    ours, theirs = GdalIO(), RasterioIO()
    labels, probabilities = str(run_folder / "labels.tif"), str(run_folder / "probabilities.tif")
    a, b = ours.read_map(labels, probabilities), theirs.read_map(labels, probabilities)
    assert (a.grid.transform, a.grid.width, a.grid.height, a.grid.metres_per_unit) == (
        b.grid.transform,
        b.grid.width,
        b.grid.height,
        b.grid.metres_per_unit,
    )
    assert ours.same_crs(a.grid.crs_wkt, b.grid.crs_wkt) and theirs.same_crs(a.grid.crs_wkt, b.grid.crs_wkt)
    assert ours.crs_name(a.grid.crs_wkt) == theirs.crs_name(b.grid.crs_wkt) == "EPSG:32633"
    assert a.class_names == b.class_names
    for name in ("top", "bits", "valid", "probabilities"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    corine = next((shared_data / "bigearthnet-v2-rico-hdl" / "Reference_Maps").rglob("*_reference_map.tif"))
    window = ours.raster_grid(str(corine)).window((350_000.0, 5_000_000.0, 350_555.0, 5_000_555.0))
    grid = theirs.raster_grid(str(corine))
    assert window == grid.window((350_000.0, 5_000_000.0, 350_555.0, 5_000_555.0))
    x0, y0 = grid.transform[0], grid.transform[3]
    window = grid.window((x0 + 15, y0 - 1000, x0 + 333, y0 - 15))
    assert window == (1, 1, 33, 99)
    r, s = ours.read_raster(str(corine), window), theirs.read_raster(str(corine), window)
    np.testing.assert_array_equal(r.values, s.values)
    np.testing.assert_array_equal(r.valid, s.valid)
    assert r.grid.transform == s.grid.transform
    from mosaic.backend.accuracy.geo_io import Grid

    cells_100m = Grid((x0, 100.0, 0.0, y0, 0.0, -100.0), 12, 12, grid.crs_wkt, 1.0)  # over the CORINE patch
    polygons = next(corine.parents[3].glob("derived/*.geojson"))
    mx, _, _, my, _, _ = a.grid.transform
    straddling = Grid((mx + 150.0, 300.0, 0.0, my - 150.0, 0.0, -300.0), 7, 15, a.grid.crs_wkt, 1.0)  # half a cell off
    for path, cells in ((t33uup_mosaic / SQUARES, straddling), (polygons, cells_100m)):
        assert ours.read_vector(str(path)).records == theirs.read_vector(str(path)).records
        index = ours.feature_index(str(path), None, cells)
        np.testing.assert_array_equal(index, theirs.feature_index(str(path), None, cells))
        assert len(np.unique(index)) > 3
        rows, cols = np.indices((cells.height, cells.width))
        boxes = cells.boxes(rows.ravel(), cols.ravel())
        found = ours.overlaps(str(path), None, boxes)
        assert sum(len(x) > 1 for x in found) > 3  # cells across borders
        for x, y in zip(found, theirs.overlaps(str(path), None, boxes)):
            assert [i for i, _ in x] == [i for i, _ in y]
            assert [w for _, w in x] == pytest.approx([w for _, w in y], rel=1e-9)
    from mosaic.backend.accuracy.geo_io import LayerData

    layer = LayerData("t", (("n", "int"), ("name", "str"), ("v", "float")), [{"n": 1, "name": None, "v": 0.5}])
    polygons = LayerData("p", (("n", "int"),), [{"n": 7}], np.array([[1.0, 2.0, 3.0, 4.0]]), a.grid.crs_wkt)
    ours.write_geopackage(str(tmp_path / "ours.gpkg"), [polygons, layer])
    theirs.write_geopackage(str(tmp_path / "theirs.gpkg"), [polygons, layer])
    for name in ("p", "t"):
        assert records_without_geometry(tmp_path / "ours.gpkg", name) == records_without_geometry(
            tmp_path / "theirs.gpkg", name
        )
        read = [io.read_layer(str(tmp_path / f"{who}.gpkg"), name) for io, who in ((ours, "ours"), (theirs, "theirs"))]
        assert read[0].records == read[1].records
    assert records(tmp_path / "ours.gpkg", "p") == records(tmp_path / "theirs.gpkg", "p")

"""The output catalogue: files, dtypes, nodata, band descriptions, values from engine blocks, styles, tile records,
tags, COG and GeoPackage creation options."""

from __future__ import annotations

import math
from pathlib import PurePath

import numpy as np
import pytest

from mosaic.backend.data.classes import BEN19_CLASSES
from mosaic.backend.export.metadata import build_metadata
from mosaic.backend.inference import LABEL_NODATA, OutputBlock, TileResult, Window, parse_metadata
from mosaic.backend.inference.outputs import (
    FILE_NAMES,
    GEOPACKAGE_OPTIONS,
    output_catalogue,
    output_tags,
    probability_fields,
)
from mosaic.backend.inference.styles import confidence_qml, labels_qml, probabilities_qml, source_qml

TRAINING = {"dataset": "BigEarthNet v2.0", "licence": "CDLA-Permissive-1.0"}


def _meta(names, thresholds):
    parts = {
        "class_names": list(names),
        "class_colors": ["#112233", "#445566", "#778899"][: len(names)],
        "thresholds": thresholds,
        "strategy": "supervised",
        "training": TRAINING,
    }
    return parse_metadata(build_metadata(parts))


META = _meta(("Water", "Forest", "Urban"), [0.5, 0.6, 0.7])
#: the same classes with an S1-only head (thresholds 0.2 each) and an S2-only head (0.95 each)
HEADS_META = parse_metadata(
    build_metadata(
        {
            "class_names": ["Water", "Forest", "Urban"],
            "class_colors": ["#112233", "#445566", "#778899"],
            "thresholds": [0.5, 0.6, 0.7],
            "strategy": "supervised",
            "training": TRAINING,
            "heads": {"s1": {"thresholds": [0.2] * 3}, "s2": {"thresholds": [0.95] * 3}},
        }
    )
)


def _block(source=(1, 1, 0)) -> OutputBlock:
    """3 classes on 1 × 3 cells; the last cell is nodata; ``source`` per cell."""
    p = np.array([[0.9, 0.2, np.nan], [0.6, 0.7, np.nan], [0.1, 0.75, np.nan]], dtype=np.float32)
    return OutputBlock(row_off=4, col_off=0, probabilities=p[:, None, :], source=np.array([source], dtype=np.uint8))


def test_rasters_files_dtypes_nodata_and_band_descriptions():
    catalogue = output_catalogue(META)
    described = [(r.key, r.file_name, r.dtype, r.band_descriptions) for r in catalogue.rasters]
    assert described == [
        ("probabilities", "probabilities.tif", "float32", ("Water", "Forest", "Urban")),
        (
            "labels",
            "labels.tif",
            "uint32",
            (
                "top class index",
                "multi-label bitmask (bit c set: class c at or above its threshold)",
                "source (head that decided the cell: 1 fused, 2 s1, 3 s2, 4 mixed)",
            ),
        ),
        ("confidence", "confidence.tif", "float32", ("max class probability",)),
    ]
    nodata = [r.nodata for r in catalogue.rasters]
    assert math.isnan(nodata[0]) and nodata[1] == 2**32 - 1 == LABEL_NODATA and math.isnan(nodata[2])
    assert list(FILE_NAMES) == ["probabilities", "labels", "confidence", "tiles"]
    assert (catalogue.tiles.file_name, catalogue.tiles.layer) == ("tiles.gpkg", "tiles")
    assert catalogue.product("tiles") is catalogue.tiles and catalogue.product("labels") is catalogue.rasters[1]


def test_raster_values_from_an_engine_block():
    probabilities, labels, confidence = (r.values(_block()) for r in output_catalogue(META).rasters)
    assert probabilities.dtype == np.float32 and probabilities.shape == (3, 1, 3)
    np.testing.assert_array_equal(probabilities, _block().probabilities)
    assert labels.dtype == np.uint32 and labels.shape == (3, 1, 3)
    # cell 0: top class 0; 0.9 >= 0.5 and 0.6 >= 0.6 -> bits 0, 1 = 3. cell 1: top class 2; 0.7 >= 0.6, 0.75 >= 0.7 -> 6
    assert labels.tolist() == [[[0, 2, 2**32 - 1]], [[3, 6, 2**32 - 1]], [[1, 1, 2**32 - 1]]]
    assert confidence.dtype == np.float32 and confidence.shape == (1, 1, 3)
    np.testing.assert_array_equal(confidence[0, 0, :2], np.array([0.9, 0.75], dtype=np.float32))
    assert np.isnan(confidence[0, 0, 2])


def test_bitmask_uses_the_thresholds_of_the_head_that_decided_each_cell():
    """S1-only cells (2) take the S1 head's thresholds (0.2), S2-only cells (3) the S2 head's (0.95), fused and
    mixed (4) cells the fused ones."""
    labels = output_catalogue(HEADS_META).product("labels")
    p = np.array([[0.9, 0.9, 0.9, 0.9], [0.6, 0.6, 0.6, 0.6], [0.3, 0.3, 0.3, 0.3]], dtype=np.float32)[:, None, :]
    values = labels.values(OutputBlock(0, 0, p, np.array([[1, 2, 3, 4]], dtype=np.uint8)))
    assert values[1].tolist() == [[0b011, 0b111, 0b000, 0b011]]
    assert values[2].tolist() == [[1, 2, 3, 4]]
    record = output_catalogue(HEADS_META).tiles.record(TileResult(0, 0, Window(0, 0, 120, 120), p[:, 0, 0], "s1"))
    assert (record["labels"], record["source"]) == ("Water; Forest; Urban", "s1")


def test_rasters_are_cogs_with_overviews_resampled_as_their_data_allow():
    """Class indices and bitmasks are nominal: MODE (never a mean of classes); probabilities average."""
    options = {r.key: r.cog_options() for r in output_catalogue(META).rasters}
    assert {k: o["OVERVIEW_RESAMPLING"] for k, o in options.items()} == {
        "probabilities": "AVERAGE",
        "labels": "MODE",
        "confidence": "AVERAGE",
    }
    for o in options.values():
        assert (o["COMPRESS"], o["BLOCKSIZE"], o["OVERVIEWS"], o["BIGTIFF"]) == ("DEFLATE", "512", "AUTO", "IF_SAFER")
    assert GEOPACKAGE_OPTIONS == {"VERSION": "1.2"}


def test_styles_are_the_shared_qml_texts():
    styles = [r.style_qml for r in output_catalogue(META).rasters]
    assert styles == [
        probabilities_qml(META.class_names),
        labels_qml(META.class_names, META.class_colors),
        confidence_qml(),
    ]
    assert 'label="Forest"' in styles[1] and 'color="#445566"' in styles[1]
    labels = output_catalogue(META).product("labels")
    out = PurePath("out")
    assert labels.styles(out / "labels.tif") == [
        (out / "labels.qml", styles[1]),
        (out / "labels_source.qml", source_qml(3)),
    ]
    assert 'band="3"' in source_qml(3) and 'label="S1 only (radar)"' in source_qml(3)


def test_tile_fields_and_record():
    tiles = output_catalogue(META).tiles
    assert tiles.fields == (
        ("row", "int"),
        ("col", "int"),
        ("top_class", "str"),
        ("labels", "str"),
        ("confidence", "float"),
        ("source", "str"),
        ("Water", "float"),
        ("Forest", "float"),
        ("Urban", "float"),
    )
    p = np.array([0.2, 0.7, 0.75], dtype=np.float32)
    record = tiles.record(TileResult(row=3, col=5, window=Window(360, 600, 120, 120), probabilities=p, head="fused"))
    assert list(record) == [name for name, _ in tiles.fields]
    assert record == {
        "row": 3,
        "col": 5,
        "top_class": "Urban",
        "labels": "Forest; Urban",
        "confidence": float(np.float32(0.75)),
        "source": "fused",
        "Water": float(np.float32(0.2)),
        "Forest": float(np.float32(0.7)),
        "Urban": float(np.float32(0.75)),
    }
    assert all(type(record[n]) is {"int": int, "str": str, "float": float}[k] for n, k in tiles.fields)
    below = tiles.record(TileResult(0, 0, Window(0, 0, 120, 120), np.array([0.4, 0.5, 0.1], dtype=np.float32), "fused"))
    assert below["labels"] == "" and below["top_class"] == "Forest"


def test_ben19_tile_fields_are_the_class_names():
    meta = parse_metadata(build_metadata({"class_names": list(BEN19_CLASSES), "strategy": "x", "training": TRAINING}))
    assert [name for name, _ in output_catalogue(meta).tiles.fields[6:]] == list(BEN19_CLASSES)


def test_probability_fields_never_clash_with_other_columns_ignoring_case():
    assert probability_fields(["Forest", "Labels", "forest", "geom", "FID", "Forest #2"]) == (
        "Forest",
        "Labels #1",
        "forest #2",
        "geom #3",
        "FID #4",
        "Forest #2 #5",
    )


def test_tags_name_the_model_then_the_callers_tags():
    tags = {"MOSAIC_S2_OFFSET": "1000 DN subtracted (product name N0509)"}
    assert output_catalogue(META, "/runs/models/resnet18.onnx", tags).tags == {
        "MOSAIC_MODEL": "resnet18.onnx",
        "MOSAIC_S2_OFFSET": "1000 DN subtracted (product name N0509)",
    }
    assert output_tags() == {} and output_tags(tags=tags) == tags


@pytest.mark.parametrize(
    "tags", [{"MOSAIC_MODEL": "x"}, {"A=B": "x"}, {"": "x"}, {"1ST": "x"}, {"A B": "x"}, {"OK": 1}]
)
def test_invalid_tags_are_refused(tags):
    with pytest.raises(ValueError, match="tag"):
        output_tags("m.onnx", tags)

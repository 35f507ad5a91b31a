"""What S2 inputs say about their product: names, MTD xml (folder and zip), STAC / Earth Engine sidecars, GDAL tags."""

from __future__ import annotations

import json
import zipfile

from mosaic.backend.inference.rasters import BandInfo, RasterInfo
from mosaic.backend.inference.s2_product import from_name, from_tags, product_facts

NAME = "S2B_MSIL2A_20240612T101031_N0510_R022_T33UUP_20240612T140000"


def _raster(path: str, tags=None) -> RasterInfo:
    return RasterInfo(
        path, path.rsplit("/", 1)[-1], (BandInfo(),), "uint16", "EPSG:32633", (10.0, 10.0), tags=tags or {}
    )


def test_product_names_give_baseline_and_level():
    facts = from_name(f"/data/{NAME}.SAFE/GRANULE/x/IMG_DATA/R10m/T33UUP_B02_10m.jp2")
    assert (facts.baseline, facts.level, facts.offset) == ((5, 10), "L2A", -1000.0)
    old = from_name("S2A_MSIL2A_20170613T101031_N0205_R022_T33UUP_20170613T101608_B02.tif")
    assert (old.baseline, old.offset) == ((2, 5), 0.0)
    assert from_name("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_B02.tif").offset is None  # BigEarthNet's N9999
    assert from_name("S2A_MSIL1C_20240101T101031_N0510_R022_T33UUP").level == "L1C"
    assert from_name("scene_B02.tif") is None


def test_gdal_tags_give_offset_and_quantification():
    facts = from_tags(
        {
            "BOA_ADD_OFFSET_B2": "-1000",
            "BOA_ADD_OFFSET_B3": "-1000",
            "BOA_QUANTIFICATION_VALUE": "10000",
            "PROCESSING_BASELINE": "05.09",
        },
        "x.tif",
    )
    assert (facts.add_offset, facts.quantification, facts.baseline, facts.offset) == (-1000.0, 10000.0, (5, 9), -1000.0)
    assert from_tags({"AREA_OR_POINT": "Area"}, "x.tif") is None


def test_metadata_xml_in_a_safe_zip(tmp_path):
    archive = tmp_path / f"{NAME}.SAFE.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(
            f"{NAME}.SAFE/MTD_MSIL2A.xml",
            '<x><PROCESSING_BASELINE>05.10</PROCESSING_BASELINE><BOA_ADD_OFFSET band_id="1">-1000</BOA_ADD_OFFSET></x>',
        )
    path = f"/vsizip/{archive}/{NAME}.SAFE/GRANULE/L2A/IMG_DATA/R10m/T33UUP_B02_10m.jp2"
    facts = product_facts([_raster(path)])
    assert facts[0].source == f"MTD_MSIL2A.xml in {NAME}.SAFE.zip" and facts[0].offset == -1000.0


def test_stac_item_beside_the_file_counts_only_when_it_lists_the_file(tmp_path):
    props = {"s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": True}
    item = {"type": "Feature", "properties": props, "assets": {"blue": {"href": "https://example.invalid/B02.tif"}}}
    (tmp_path / "item.json").write_text(json.dumps(item), encoding="utf-8")
    (tmp_path / "B02.tif").write_bytes(b"")
    facts = product_facts([_raster(str(tmp_path / "B02.tif"))])
    assert facts[0].baseline == (5, 9) and facts[0].offset == 0.0  # the offset was applied to these files
    (tmp_path / "B03.tif").write_bytes(b"")
    assert product_facts([_raster(str(tmp_path / "B03.tif"))]) == []


def test_earth_engine_property_dump_of_ssl4eo(shared_data):
    folder = sorted((shared_data / "ssl4eo-s12-sample" / "s2a" / "0000200").iterdir())[0]
    facts = product_facts([_raster(str(folder / "B2.tif"))])
    assert facts[0].baseline == (2, 14) and facts[0].offset == 0.0 and facts[0].level == "L2A"

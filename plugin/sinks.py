"""Output sinks of the inference engine that write files with GDAL/OGR (as QGIS itself does).

What is written (band values, dtypes, nodata, band descriptions, styles, tile fields, tags) comes from the
engine's output catalogue (:mod:`mosaic.backend.inference.outputs`), as in ``mosaic predict``; these sinks only
write it. Each sink writes to ``.<stem>.part<suffix>`` beside its final path, :meth:`finish` completes it (a
raster's work GeoTIFF, written row block by row block, is copied to a Cloud-Optimised GeoTIFF with GDAL's COG driver)
and :meth:`commit` renames it, so a cancelled or failed run leaves no file that looks valid (:meth:`discard` removes
what was written).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from osgeo import gdal, gdal_array, ogr, osr

from ..backend.errors import OutputError
from ..backend.inference import tile_polygon
from ..backend.inference.outputs import GEOPACKAGE_OPTIONS, GEOTIFF_OPTIONS, RasterProduct, TilesProduct

gdal.UseExceptions()
ogr.UseExceptions()

#: OGR field type of each tile field kind of the catalogue
FIELD_TYPES = {"int": ogr.OFTInteger, "str": ogr.OFTString, "float": ogr.OFTReal}


def partial_path(path: Path) -> Path:
    """The temporary name a file is written under until it is complete."""
    return path.with_name(f".{path.stem}.part{path.suffix}")


def _options(options: Mapping[str, str]) -> list[str]:
    """GDAL's ``KEY=VALUE`` spelling of creation options."""
    return [f"{k}={v}" for k, v in options.items()]


class RasterFileSink:
    """A GeoTIFF on the output grid holding one raster product of the catalogue (``product.values(block)``)."""

    def __init__(
        self,
        path: Path,
        product: RasterProduct,
        geotransform: Sequence[float],
        crs_wkt: str,
        width: int,
        height: int,
        tags: Mapping[str, str],
    ) -> None:
        """``tags``: the run's dataset-level metadata (GDAL default domain), ``OutputCatalogue.tags``."""
        self.path, self.product = Path(path), product
        self.tmp = partial_path(self.path)
        self.blocks = self.path.with_name(f".{self.path.stem}.blocks{self.path.suffix}")  #: the work file
        self.path.parent.mkdir(parents=True, exist_ok=True)
        gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(np.dtype(product.dtype))
        try:
            driver = gdal.GetDriverByName("GTiff")
            bands = len(product.band_descriptions)
            self.dataset = driver.Create(str(self.blocks), width, height, bands, gdal_type, _options(GEOTIFF_OPTIONS))
        except RuntimeError as exc:
            raise OutputError(f"cannot write {self.path} ({exc}); choose a writable output folder.") from None
        self.dataset.SetGeoTransform(tuple(geotransform))
        self.dataset.SetProjection(crs_wkt)
        self.dataset.SetMetadata(dict(tags))
        for i, name in enumerate(product.band_descriptions, start=1):
            band = self.dataset.GetRasterBand(i)
            band.SetDescription(name)
            band.SetNoDataValue(product.nodata)

    def write_block(self, block) -> None:
        values = self.product.values(block)
        for i in range(values.shape[0]):
            self.dataset.GetRasterBand(i + 1).WriteArray(values[i], xoff=block.col_off, yoff=block.row_off)

    def write_tiles(self, tiles) -> None:
        """Raster sinks ignore per-tile results."""

    def finish(self) -> None:
        """Close the work file and copy it to the partial file as a Cloud-Optimised GeoTIFF (overviews included);
        raises :class:`OutputError` (one line) when GDAL cannot."""
        self.dataset.FlushCache()
        self.dataset = None
        try:
            gdal.Translate(
                str(self.tmp), str(self.blocks), format="COG", creationOptions=_options(self.product.cog_options())
            )
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "GDAL gave no reason"
            raise OutputError(f"cannot write {self.path} as a Cloud-Optimised GeoTIFF ({reason}).") from None
        self.blocks.unlink()

    def commit(self) -> Path:
        """Rename the finished file to the final name and write the ``.qml`` style (and further styles) beside it."""
        os.replace(self.tmp, self.path)
        for style, qml in self.product.styles(self.path):
            style.write_text(qml, encoding="utf-8")
        return self.path

    def discard(self) -> None:
        self.dataset = None
        self.blocks.unlink(missing_ok=True)
        self.tmp.unlink(missing_ok=True)


class TileVectorSink:
    """A GeoPackage of tile squares holding the catalogue's tile records (``product.fields``, ``product.record``)."""

    def __init__(self, path: Path, product: TilesProduct, geotransform: Sequence[float], crs_wkt: str) -> None:
        self.path, self.product = Path(path), product
        self.tmp = partial_path(self.path)
        self.geotransform = tuple(geotransform)
        self.tmp.unlink(missing_ok=True)
        try:
            self.dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(self.tmp), _options(GEOPACKAGE_OPTIONS))
        except RuntimeError as exc:
            raise OutputError(f"cannot write {self.path} ({exc}); choose a writable output folder.") from None
        srs = osr.SpatialReference()
        srs.ImportFromWkt(crs_wkt)
        self.layer = self.dataset.CreateLayer(product.layer, srs, ogr.wkbPolygon)
        for name, kind in product.fields:
            self.layer.CreateField(ogr.FieldDefn(name, FIELD_TYPES[kind]))
        self.layer.StartTransaction()

    def write_block(self, block) -> None:
        """Vector sinks ignore raster blocks."""

    def write_tiles(self, tiles) -> None:
        for tile in tiles:
            feature = ogr.Feature(self.layer.GetLayerDefn())
            for name, value in self.product.record(tile).items():
                feature.SetField(name, value)
            ring = ogr.Geometry(ogr.wkbLinearRing)
            for x, y in tile_polygon(tile.window, self.geotransform):
                ring.AddPoint_2D(x, y)
            polygon = ogr.Geometry(ogr.wkbPolygon)
            polygon.AddGeometry(ring)
            feature.SetGeometry(polygon)
            self.layer.CreateFeature(feature)

    def finish(self) -> None:
        """Commit the features and close the GeoPackage."""
        self.layer.CommitTransaction()
        self.layer = None
        self.dataset = None

    def commit(self) -> Path:
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        self.layer = None
        self.dataset = None
        self.tmp.unlink(missing_ok=True)

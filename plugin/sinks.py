"""Output sinks of the inference engine that write files with GDAL/OGR (as QGIS itself does).

Each sink writes to ``.<stem>.part<suffix>`` beside its final path and renames it only in :meth:`commit`, so a
cancelled or failed run leaves no file that looks valid (:meth:`discard` removes the partial file). Derived
products come from the engine's shared helpers (``top_class``, ``confidence``) — never recomputed here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from ..backend.errors import OutputError

gdal.UseExceptions()
ogr.UseExceptions()


def partial_path(path: Path) -> Path:
    """The temporary name a file is written under until it is complete."""
    return path.with_name(f".{path.stem}.part{path.suffix}")


class RasterFileSink:
    """A GeoTIFF on the output grid holding ``product(probabilities)`` (``[bands, h, w]`` per block)."""

    def __init__(
        self,
        path: Path,
        product: Callable[[np.ndarray], np.ndarray],
        band_names: Sequence[str],
        gdal_type: int,
        nodata: float,
        geotransform: Sequence[float],
        crs_wkt: str,
        width: int,
        height: int,
        style_qml: str,
    ) -> None:
        self.path, self.product, self.style_qml = Path(path), product, style_qml
        self.tmp = partial_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = ["COMPRESS=DEFLATE", "TILED=YES", "BIGTIFF=IF_SAFER"]
        try:
            driver = gdal.GetDriverByName("GTiff")
            self.dataset = driver.Create(str(self.tmp), width, height, len(band_names), gdal_type, options)
        except RuntimeError as exc:
            raise OutputError(f"cannot write {self.path} ({exc}); choose a writable output folder.") from None
        self.dataset.SetGeoTransform(tuple(geotransform))
        self.dataset.SetProjection(crs_wkt)
        for i, name in enumerate(band_names, start=1):
            band = self.dataset.GetRasterBand(i)
            band.SetDescription(name)
            band.SetNoDataValue(nodata)

    def write_block(self, block) -> None:
        values = self.product(block.probabilities)
        values = values[None] if values.ndim == 2 else values
        for i in range(values.shape[0]):
            self.dataset.GetRasterBand(i + 1).WriteArray(values[i], xoff=block.col_off, yoff=block.row_off)

    def write_tiles(self, tiles) -> None:
        """Raster sinks ignore per-tile results."""

    def commit(self) -> Path:
        """Close, rename to the final name and write the ``.qml`` style beside it."""
        self.dataset.FlushCache()
        self.dataset = None
        os.replace(self.tmp, self.path)
        self.path.with_suffix(".qml").write_text(self.style_qml, encoding="utf-8")
        return self.path

    def discard(self) -> None:
        self.dataset = None
        self.tmp.unlink(missing_ok=True)


class TileVectorSink:
    """A GeoPackage of tile squares: row, col, top class (index and name), confidence, one probability per class."""

    LAYER = "tiles"

    def __init__(
        self,
        path: Path,
        class_names: Sequence[str],
        geotransform: Sequence[float],
        crs_wkt: str,
        top_class: Callable[[np.ndarray], np.ndarray],
        confidence: Callable[[np.ndarray], np.ndarray],
        polygon: Callable,
    ) -> None:
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.class_names = list(class_names)
        self.geotransform = tuple(geotransform)
        self.top_class, self.confidence, self.polygon = top_class, confidence, polygon
        self.tmp.unlink(missing_ok=True)
        try:
            self.dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(self.tmp))
        except RuntimeError as exc:
            raise OutputError(f"cannot write {self.path} ({exc}); choose a writable output folder.") from None
        srs = osr.SpatialReference()
        srs.ImportFromWkt(crs_wkt)
        self.layer = self.dataset.CreateLayer(self.LAYER, srs, ogr.wkbPolygon)
        for name, kind in (("row", ogr.OFTInteger), ("col", ogr.OFTInteger), ("class_index", ogr.OFTInteger),
                           ("class_name", ogr.OFTString), ("confidence", ogr.OFTReal)):  # fmt: skip
            self.layer.CreateField(ogr.FieldDefn(name, kind))
        for i in range(len(self.class_names)):
            self.layer.CreateField(ogr.FieldDefn(f"p{i:02d}", ogr.OFTReal))
        self.layer.StartTransaction()

    def write_block(self, block) -> None:
        """Vector sinks ignore raster blocks."""

    def write_tiles(self, tiles) -> None:
        for tile in tiles:
            p = np.asarray(tile.probabilities, dtype=np.float32)[:, None, None]
            index = int(self.top_class(p)[0, 0])
            feature = ogr.Feature(self.layer.GetLayerDefn())
            feature.SetField("row", int(tile.row))
            feature.SetField("col", int(tile.col))
            feature.SetField("class_index", index)
            feature.SetField("class_name", self.class_names[index])
            feature.SetField("confidence", float(self.confidence(p)[0, 0]))
            for i, value in enumerate(p[:, 0, 0]):
                feature.SetField(f"p{i:02d}", float(value))
            ring = ogr.Geometry(ogr.wkbLinearRing)
            for x, y in self.polygon(tile.window, self.geotransform):
                ring.AddPoint_2D(x, y)
            polygon = ogr.Geometry(ogr.wkbPolygon)
            polygon.AddGeometry(ring)
            feature.SetGeometry(polygon)
            self.layer.CreateFeature(feature)

    def commit(self) -> Path:
        self.layer.CommitTransaction()
        self.layer = None
        self.dataset = None
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        self.layer = None
        self.dataset = None
        self.tmp.unlink(missing_ok=True)

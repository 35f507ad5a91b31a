"""The accuracy code's :class:`~mosaic.backend.accuracy.geo_io.GeoIO` inside QGIS: GDAL and OGR (QGIS's own).

Reads and writes what :class:`mosaic.backend.accuracy.rasterio_io.RasterioIO` does for the command line, with the
same results: the same windows, feature order, rasterisation (cell centres) and GeoPackage 1.2 layers, so
``mosaic:sample`` and ``mosaic sample`` draw the same sample and ``mosaic:assess`` computes the same numbers as
``mosaic assess``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from ..backend.accuracy.geo_io import GEOPACKAGE_OPTIONS, Grid, LayerData, MapRaster, RasterData, VectorTable
from ..backend.errors import InputError, OutputError

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()

_FIELD_TYPES = {"int": ogr.OFTInteger, "float": ogr.OFTReal, "str": ogr.OFTString}


def _open_raster(path: str):
    try:
        return gdal.Open(str(path))
    except RuntimeError as exc:
        raise InputError(f"cannot read the raster {path}: {exc}") from None


def _open_vector(path: str, update: bool = False):
    try:
        return ogr.Open(str(path), 1 if update else 0)
    except RuntimeError as exc:
        raise InputError(f"cannot read the vector file {path}: {exc}") from None


def _srs(wkt: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _grid(dataset, path) -> Grid:
    wkt = dataset.GetProjection()
    if not wkt:
        raise InputError(f"{Path(path).name} has no CRS; assign one (QGIS: Assign Projection; GDAL: gdal_edit -a_srs).")
    transform = tuple(float(v) for v in dataset.GetGeoTransform())
    if transform[2] or transform[4]:
        raise InputError(f"{Path(path).name} is rotated; warp it to a north-up grid first (gdalwarp).")
    srs = _srs(wkt)
    metres = srs.GetLinearUnits() if srs.IsProjected() else None
    return Grid(transform, dataset.RasterXSize, dataset.RasterYSize, srs.ExportToWkt(), metres)


def _layer(dataset, path: str, layer: str | None):
    found = dataset.GetLayerByName(layer) if layer else dataset.GetLayer(0)
    if found is None:
        raise InputError(f"{path} has no layer {layer!r}.")
    return found


def _geometry_of_box(bounds) -> ogr.Geometry:
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((xmax, ymin), (xmax, ymax), (xmin, ymax), (xmin, ymin), (xmax, ymin)):
        ring.AddPoint_2D(x, y)
    polygon = ogr.Geometry(ogr.wkbPolygon)
    polygon.AddGeometry(ring)
    return polygon


_POINTS = (ogr.wkbPoint, ogr.wkbMultiPoint)
_NO_AREA = (*_POINTS, ogr.wkbLineString, ogr.wkbMultiLineString)


def _flat_type(geometry) -> int:
    return ogr.GT_Flatten(geometry.GetGeometryType())


def _area(geometry) -> float:
    """The area of an intersection; 0 where it is only a shared edge or corner (OGR warns on their area)."""
    return 0.0 if geometry is None or geometry.IsEmpty() or _flat_type(geometry) in _NO_AREA else geometry.GetArea()


class GdalIO:
    """Rasters and vectors through QGIS's GDAL/OGR."""

    def read_map(self, labels: str, probabilities: str) -> MapRaster:
        source = _open_raster(labels)
        if source.RasterCount < 2:
            raise InputError(
                f"{Path(labels).name} is not a run's labels.tif (it needs band 1 top class, band 2 multi-label "
                "bitmask)."
            )
        grid = _grid(source, labels)
        band = source.GetRasterBand(1)
        top, bits, nodata = band.ReadAsArray(), source.GetRasterBand(2).ReadAsArray(), band.GetNoDataValue()
        valid = top != nodata if nodata is not None else np.ones(top.shape, dtype=bool)
        source = _open_raster(probabilities)
        names = tuple(source.GetRasterBand(b).GetDescription() for b in range(1, source.RasterCount + 1))
        if (source.RasterXSize, source.RasterYSize) != (grid.width, grid.height) or tuple(
            source.GetGeoTransform()
        ) != grid.transform:
            raise InputError(
                f"{Path(probabilities).name} is not on the grid of {Path(labels).name}: give the labels and "
                "probabilities of the same run."
            )
        if not all(names):
            raise InputError(
                f"{Path(probabilities).name} has bands without a class name; give a run's probabilities.tif (band "
                "descriptions = class names)."
            )
        return MapRaster(
            grid,
            names,
            top,
            bits,
            valid,
            source.ReadAsArray().astype(np.float32).reshape(len(names), grid.height, grid.width),
        )

    def raster_grid(self, path: str) -> Grid:
        return _grid(_open_raster(path), path)

    def read_raster(self, path: str, window: tuple[int, int, int, int]) -> RasterData:
        dataset = _open_raster(path)
        band = dataset.GetRasterBand(1)
        values = band.ReadAsArray(*window)
        valid = band.GetMaskBand().ReadAsArray(*window) != 0
        return RasterData(values, valid, _grid(dataset, path).sub_grid(*window))

    def read_vector(self, path: str, layer: str | None = None) -> VectorTable:
        dataset = _open_vector(path)
        found = _layer(dataset, path, layer)
        definition = found.GetLayerDefn()
        fields = tuple(definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount()))
        records = [{name: feature.GetField(name) for name in fields} for feature in found]
        srs = found.GetSpatialRef()
        return VectorTable(fields, records, srs.ExportToWkt() if srs is not None else "")

    def feature_index(self, path: str, layer: str | None, grid: Grid) -> np.ndarray:
        dataset = _open_vector(path)
        found = _layer(dataset, path, layer)
        # "Memory" until GDAL 3.10, "MEM" (raster and vector) from 3.11 on
        memory = (ogr.GetDriverByName("Memory") or ogr.GetDriverByName("MEM")).CreateDataSource("")
        indexed = memory.CreateLayer("indexed", found.GetSpatialRef(), found.GetGeomType())
        indexed.CreateField(ogr.FieldDefn("index", ogr.OFTInteger))
        for i, feature in enumerate(found):
            geometry = feature.GetGeometryRef()
            if geometry is None or geometry.IsEmpty():
                continue
            copy = ogr.Feature(indexed.GetLayerDefn())
            copy.SetField("index", i)
            copy.SetGeometry(geometry.Clone())
            indexed.CreateFeature(copy)
        raster = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, gdal.GDT_Int32)
        raster.SetGeoTransform(grid.transform)
        raster.SetProjection(grid.crs_wkt)
        raster.GetRasterBand(1).Fill(-1)
        gdal.RasterizeLayer(raster, [1], indexed, options=["ATTRIBUTE=index"])
        return raster.GetRasterBand(1).ReadAsArray().astype(np.int32)

    def overlaps(self, path: str, layer: str | None, boxes: np.ndarray) -> list[list[tuple[int, float]]]:
        dataset = _open_vector(path)
        found = _layer(dataset, path, layer)
        order = {feature.GetFID(): i for i, feature in enumerate(found)}
        out = []
        for bounds in boxes:
            cell = _geometry_of_box(bounds)
            found.SetSpatialFilter(cell)
            hits = []
            for feature in found:
                geometry = feature.GetGeometryRef()
                if geometry is None or not geometry.Intersects(cell):
                    continue
                weight = 1.0 if _flat_type(geometry) in _POINTS else _area(geometry.Intersection(cell))
                if weight > 0:
                    hits.append((order[feature.GetFID()], float(weight)))
            out.append(sorted(hits))
        found.SetSpatialFilter(None)
        return out

    def write_geopackage(self, path: str, layers: Sequence[LayerData]) -> None:
        try:
            driver = ogr.GetDriverByName("GPKG")
            options = [f"{k}={v}" for k, v in GEOPACKAGE_OPTIONS.items()]
            dataset = driver.CreateDataSource(str(path), options=options)
            for data in layers:
                _write_layer(dataset, data)
            dataset = None
        except RuntimeError as exc:
            raise OutputError(f"cannot write {path}: {exc}") from None

    def read_layer(self, path: str, layer: str) -> LayerData:
        dataset = _open_vector(path)
        found = _layer(dataset, path, layer)
        definition = found.GetLayerDefn()
        names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
        records, boxes = [], []
        spatial = found.GetGeomType() != ogr.wkbNone
        for feature in found:
            records.append({name: feature.GetField(name) for name in names})
            if spatial:
                xmin, xmax, ymin, ymax = feature.GetGeometryRef().GetEnvelope()
                boxes.append((xmin, ymin, xmax, ymax))
        srs = found.GetSpatialRef() if spatial else None
        return LayerData(
            layer,
            tuple((n, "str") for n in names),
            records,
            np.array(boxes, dtype=float).reshape(-1, 4) if spatial else None,
            srs.ExportToWkt() if srs is not None else None,
        )

    def layer_names(self, path: str) -> list[str]:
        dataset = _open_vector(path)
        return [dataset.GetLayer(i).GetName() for i in range(dataset.GetLayerCount())]

    def same_crs(self, a: str, b: str) -> bool:
        try:
            return bool(_srs(a).IsSame(_srs(b)))
        except RuntimeError:
            return False

    def crs_name(self, wkt: str) -> str:
        try:
            srs = _srs(wkt)
        except RuntimeError:
            return "an unknown CRS"
        if srs.GetAuthorityCode(None) is None:
            with contextlib.suppress(RuntimeError):  # no EPSG code: the CRS's name below
                srs.AutoIdentifyEPSG()
        code, name = srs.GetAuthorityCode(None), srs.GetAuthorityName(None)
        return f"{name}:{code}" if code and name else srs.GetName()


def _write_layer(dataset, data: LayerData) -> None:
    spatial = data.boxes is not None
    srs = _srs(data.crs_wkt) if spatial else None
    layer = dataset.CreateLayer(data.name, srs, ogr.wkbPolygon if spatial else ogr.wkbNone)
    for name, kind in data.fields:
        layer.CreateField(ogr.FieldDefn(name, _FIELD_TYPES[kind]))
    definition = layer.GetLayerDefn()
    layer.StartTransaction()
    for i, record in enumerate(data.records):
        feature = ogr.Feature(definition)
        for name, _ in data.fields:
            value = record.get(name)
            if value is None:
                feature.SetFieldNull(name)
            else:
                feature.SetField(name, value)
        if spatial:
            feature.SetGeometry(_geometry_of_box(data.boxes[i]))
        layer.CreateFeature(feature)
    layer.CommitTransaction()

"""The :class:`~.geo_io.GeoIO` of the command line: rasterio for rasters, pyogrio/geopandas and shapely for vectors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import rasterio
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.features import rasterize
from rasterio.windows import Window

from ..errors import InputError, OutputError
from ..inputs.files import open_raster
from .geo_io import GEOPACKAGE_OPTIONS, Grid, LayerData, MapRaster, RasterData, VectorTable

_DTYPES = {"int": "int32", "float": "float64", "str": "object"}


def _grid(transform, width: int, height: int, crs: CRS | None, path) -> Grid:
    if crs is None:
        raise InputError(f"{Path(path).name} has no CRS; assign one (QGIS: Assign Projection; GDAL: gdal_edit -a_srs).")
    gdal_transform = tuple(float(v) for v in transform.to_gdal())
    if gdal_transform[2] or gdal_transform[4]:
        raise InputError(f"{Path(path).name} is rotated; warp it to a north-up grid first (gdalwarp).")
    metres = crs.linear_units_factor[1] if crs.is_projected else None
    return Grid(gdal_transform, int(width), int(height), crs.to_wkt(), metres)


def _vector_error(path, exc: Exception) -> InputError:
    return InputError(f"cannot read the vector file {path}: {exc}")


class RasterioIO:
    """Rasters with rasterio, vectors with pyogrio (GeoPackage 1.2 written) and shapely."""

    def read_map(self, labels: str, probabilities: str) -> MapRaster:
        with open_raster(labels) as src:
            if src.count < 2:
                raise InputError(
                    f"{Path(labels).name} is not a run's labels.tif (it needs band 1 top class, band 2 "
                    "multi-label bitmask)."
                )
            grid = _grid(src.transform, src.width, src.height, src.crs, labels)
            top, bits = src.read(1), src.read(2)
            valid = top != src.nodata if src.nodata is not None else np.ones(top.shape, dtype=bool)
        with open_raster(probabilities) as src:
            names = tuple(d or "" for d in src.descriptions)
            if (src.width, src.height) != (grid.width, grid.height) or tuple(src.transform.to_gdal()) != grid.transform:
                raise InputError(
                    f"{Path(probabilities).name} is not on the grid of {Path(labels).name}: give the "
                    "labels and probabilities of the same run."
                )
            p = src.read().astype(np.float32)
        if not all(names):
            raise InputError(
                f"{Path(probabilities).name} has bands without a class name; give a run's "
                "probabilities.tif (band descriptions = class names)."
            )
        return MapRaster(grid, names, top, bits, valid, p)

    def raster_grid(self, path: str) -> Grid:
        with open_raster(path) as src:
            return _grid(src.transform, src.width, src.height, src.crs, path)

    def read_raster(self, path: str, window: tuple[int, int, int, int]) -> RasterData:
        with open_raster(path) as src:
            grid = _grid(src.transform, src.width, src.height, src.crs, path).sub_grid(*window)
            values = src.read(1, window=Window(*window), masked=True)
        return RasterData(values.data, ~np.ma.getmaskarray(values), grid)

    def _frame(self, path: str, layer: str | None, geometry: bool = True):
        try:
            return pyogrio.read_dataframe(path, layer=layer, read_geometry=geometry)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
            raise _vector_error(path, exc) from None

    def read_vector(self, path: str, layer: str | None = None) -> VectorTable:
        frame = self._frame(path, layer)
        fields = tuple(c for c in frame.columns if c != "geometry")
        crs = frame.crs.to_wkt() if frame.crs is not None else ""
        return VectorTable(fields, _records(frame[list(fields)]), crs)

    def feature_index(self, path: str, layer: str | None, grid: Grid) -> np.ndarray:
        frame = self._frame(path, layer)
        shapes = [(geom, i) for i, geom in enumerate(frame.geometry) if geom is not None and not geom.is_empty]
        transform = rasterio.Affine.from_gdal(*grid.transform)
        if not shapes:
            return np.full((grid.height, grid.width), -1, dtype=np.int32)
        return rasterize(shapes, (grid.height, grid.width), fill=-1, transform=transform, dtype="int32")

    def overlaps(self, path: str, layer: str | None, boxes: np.ndarray) -> list[list[tuple[int, float]]]:
        from shapely import STRtree, box

        geometries = self._frame(path, layer).geometry.values
        tree = STRtree(geometries)
        out = []
        for bounds in boxes:
            cell = box(*bounds)
            found = []
            for i in sorted(tree.query(cell, predicate="intersects").tolist()):
                geometry = geometries[i]
                weight = 1.0 if geometry.geom_type in ("Point", "MultiPoint") else geometry.intersection(cell).area
                if weight > 0:
                    found.append((i, float(weight)))
            out.append(found)
        return out

    def write_geopackage(self, path: str, layers: Sequence[LayerData]) -> None:
        import geopandas as gpd
        from shapely import box

        for layer in layers:
            frame = pd.DataFrame(
                {
                    name: pd.Series([r.get(name) for r in layer.records], dtype=_DTYPES[kind])
                    for name, kind in layer.fields
                }
            )
            if layer.boxes is not None:
                frame = gpd.GeoDataFrame(
                    frame, geometry=[box(*b) for b in layer.boxes], crs=CRS.from_wkt(layer.crs_wkt)
                )
            try:
                pyogrio.write_dataframe(
                    frame,
                    path,
                    layer=layer.name,
                    driver="GPKG",
                    append=Path(path).exists(),
                    dataset_options=GEOPACKAGE_OPTIONS,
                    **({"geometry_type": "Polygon"} if layer.boxes is not None else {}),
                )
            except (pyogrio.errors.DataSourceError, pyogrio.errors.FieldError, OSError) as exc:
                raise OutputError(f"cannot write {path}: {exc}") from None

    def read_layer(self, path: str, layer: str) -> LayerData:
        frame = self._frame(path, layer)
        columns = [c for c in frame.columns if c != "geometry"]
        spatial = "geometry" in frame.columns
        boxes = np.asarray(frame.geometry.bounds.to_numpy(), dtype=float) if spatial else None
        crs = frame.crs.to_wkt() if spatial and frame.crs is not None else None
        return LayerData(layer, tuple((c, "str") for c in columns), _records(frame[columns]), boxes, crs)

    def layer_names(self, path: str) -> list[str]:
        try:
            return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
        except (pyogrio.errors.DataSourceError, OSError) as exc:
            raise _vector_error(path, exc) from None

    def same_crs(self, a: str, b: str) -> bool:
        try:
            return CRS.from_wkt(a) == CRS.from_wkt(b)
        except CRSError:
            return False

    def crs_name(self, wkt: str) -> str:
        try:
            crs = CRS.from_wkt(wkt)
        except CRSError:
            return "an unknown CRS"
        epsg = crs.to_epsg()
        return f"EPSG:{epsg}" if epsg else crs.name


def _records(frame) -> list[dict]:
    """Rows as dicts, NaN and NA as None, numpy scalars as Python numbers."""
    out = []
    for row in frame.to_dict("records"):
        out.append({k: _plain(v) for k, v in row.items()})
    return out


def _plain(value):
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value

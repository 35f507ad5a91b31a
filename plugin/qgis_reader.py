"""The QGIS window reader of the inference engine: reads through QGIS raster data providers.

Every model band is read from its own ``(layer, band)`` (one S2 stack, or one layer per band at 10/20/60 m)
and presented on ONE target grid, the 10 m S2 grid of the processed extent — or, when the engine's input
inspector plans it (:func:`planned_grid`), a square 10 m grid over the finest S2 layer in its CRS or a UTM zone
(see the engine's reader protocol in :mod:`mosaic.backend.inference`):

* a band on a grid aligned with the target (same CRS, pixel size an integer multiple ``f``, edges on the
  target grid) with nearest upsampling: the source pixels covering the window are read 1:1 with
  ``QgsRasterDataProvider.block`` and sampled at the target pixel centres, source index
  ``⌊(x_centre − x₀) / Δx⌋`` (output pixel ``i`` takes native pixel ``i // f``, as the training loader);
* anything else (bilinear upsampling; S1 on another CRS or grid, always bilinear; ``average`` from finer
  pixels; a resampled S2 grid): the layer is warped onto the target grid with a GDAL warped VRT, which QGIS
  then reads 1:1 — the same GDAL warper, resampling and grid as ``mosaic predict``'s rasterio ``WarpedVRT``, so
  both give the same probabilities.

Pixels come from the file through GDAL (:class:`GdalPixels`) when the layer is a plain GDAL file — faster than
``QgsRasterDataProvider.block`` (a whole ResNet-18 run of the plugin benchmark: 3.4 s instead of 4.1 s) — and
through a clone of the layer's provider otherwise (:class:`ProviderPixels`: open options, other providers). Both
give the same values: the raw band values, no scale/offset, as ``mosaic predict`` reads them, the file's nodata
as NaN.

Values equal to the file's nodata, the source nodata the input inspector found (S2 ``0``, S1 zeros, an untagged
fill) or non-finite become NaN, as do pixels outside a layer; then the plan's conversions bring each window to
model units (:func:`~mosaic.backend.inference.radiometry.convert`). Every source is opened in the constructor, so
the reader can run in a background thread.

An optional cloud layer (the plan's :class:`~mosaic.backend.inference.clouds.CloudPlan`) is read onto the same grid
like S1 but with nearest resampling, also from finer pixels (classes are never blended), as ``mosaic predict`` does;
:attr:`QgisWindowReader.cloud` gives the engine its cloudy pixels.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCsException,
    QgsProject,
    QgsRasterDataProvider,
    QgsRasterLayer,
    QgsRectangle,
    QgsUnitTypes,
)

from ..backend.errors import InputError
from ..backend.inference import Window
from ..backend.inference.clouds import CloudPlan
from ..backend.inference.ground import GridPlan
from ..backend.inference.inspector import InputPlan
from ..backend.inference.radiometry import convert
from ..backend.inference.rasters import SAMPLE_PX, sample_windows, tiled_sample
from .band_mapping import NUMPY_TYPES, BandSource, gdal_dataset, layer_file

S1_RESAMPLING = "bilinear"  #: S1 onto the S2 grid, as ``mosaic predict`` does


@dataclass(frozen=True)
class TargetGrid:
    """A north-up pixel grid: top-left corner ``(x0, y0)``, pixel size ``dx`` × ``dy`` (CRS units, > 0)."""

    crs: QgsCoordinateReferenceSystem
    x0: float
    y0: float
    dx: float
    dy: float
    width: int
    height: int

    @property
    def geotransform(self) -> tuple[float, float, float, float, float, float]:
        """GDAL geotransform ``(x0, dx, 0, y0, 0, −dy)``."""
        return (self.x0, self.dx, 0.0, self.y0, 0.0, -self.dy)

    @property
    def extent(self) -> QgsRectangle:
        return QgsRectangle(self.x0, self.y0 - self.height * self.dy, self.x0 + self.width * self.dx, self.y0)


def grid_of_layer(layer: QgsRasterLayer, extent: QgsRectangle | None = None) -> TargetGrid:
    """The pixel grid of ``layer`` restricted to ``extent`` (layer CRS; snapped outwards to whole pixels)."""
    full = layer.extent()
    dx, dy = layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY()
    grid = TargetGrid(layer.crs(), full.xMinimum(), full.yMaximum(), dx, dy, layer.width(), layer.height())
    return crop_grid(grid, extent, layer.name())


def crop_grid(grid: TargetGrid, extent: QgsRectangle | None, name: str) -> TargetGrid:
    """``grid`` restricted to ``extent`` (the grid's CRS; snapped outwards to whole pixels); None: all of it."""
    full, dx, dy = grid.extent, grid.dx, grid.dy
    area = full if extent is None else full.intersect(extent)
    if area.isEmpty() or area.width() < dx or area.height() < dy:
        raise InputError(f"the chosen extent does not overlap the layer {name}; choose another extent.")
    c0 = math.floor((area.xMinimum() - full.xMinimum()) / dx + 1e-6)
    c1 = math.ceil((area.xMaximum() - full.xMinimum()) / dx - 1e-6)
    r0 = math.floor((full.yMaximum() - area.yMaximum()) / dy + 1e-6)
    r1 = math.ceil((full.yMaximum() - area.yMinimum()) / dy - 1e-6)
    return TargetGrid(grid.crs, full.xMinimum() + c0 * dx, full.yMaximum() - r0 * dy, dx, dy, c1 - c0, r1 - r0)


def planned_grid(layer: QgsRasterLayer, plan: GridPlan) -> TargetGrid:
    """The full target grid the input inspector planned: ``layer``'s own grid, or a square ``plan.pixel_m``
    grid over its extent in its CRS (metres) or in ``EPSG:plan.epsg`` (the extent transformed), as
    ``mosaic predict`` builds it."""
    if not plan.resample:
        return grid_of_layer(layer)
    crs, bounds = layer.crs(), layer.extent()
    size = plan.pixel_m / QgsUnitTypes.fromUnitToUnitFactor(crs.mapUnits(), QgsUnitTypes.DistanceUnit.DistanceMeters)
    if plan.epsg:
        crs = QgsCoordinateReferenceSystem(f"EPSG:{plan.epsg}")
        try:
            bounds = QgsCoordinateTransform(layer.crs(), crs, QgsProject.instance()).transformBoundingBox(bounds)
        except QgsCsException as exc:
            reason = f"{layer.name()} cannot be transformed to EPSG:{plan.epsg} ({exc})"
            raise InputError(f"{reason}; check its CRS.") from None
        size = plan.pixel_m
    width = max(1, math.ceil(bounds.width() / size - 1e-6))
    height = max(1, math.ceil(bounds.height() / size - 1e-6))
    return TargetGrid(crs, bounds.xMinimum(), bounds.yMaximum(), size, size, width, height)


def finest_layer(layers: list[QgsRasterLayer]) -> QgsRasterLayer:
    """The S2 layer with the smallest pixels (area, as ``mosaic predict``): its grid is the target grid."""
    return min(layers, key=lambda lyr: lyr.rasterUnitsPerPixelX() * lyr.rasterUnitsPerPixelY())


def read_block(provider: QgsRasterDataProvider, band: int, extent: QgsRectangle, width: int, height: int) -> np.ndarray:
    """``provider.block`` as a float64 array ``[height, width]`` of stored values: the provider applies the band's
    GDAL scale/offset, which is undone here (``stored = (value − offset) / scale``), because the input inspector's
    conversions apply it (the block must outlive the buffer copy). QGIS leaves nodata pixels unscaled, so a valid
    pixel whose scaled value equals the nodata value also reads as nodata on this route (plain GDAL files do not
    take it)."""
    block = provider.block(band, extent, width, height)
    if not block.isValid() or block.width() != width or block.height() != height:
        raise InputError(f"could not read band {band} of {provider.dataSourceUri()}; check that the file is readable.")
    dtype = NUMPY_TYPES.get(block.dataType())
    if dtype is None:
        raise InputError(
            f"band {band} of {provider.dataSourceUri()} has an unsupported data type; convert it to numbers."
        )
    values = np.frombuffer(bytes(block.data()), dtype=dtype).reshape(height, width).astype(np.float64)
    if block.hasNoDataValue():
        values[values == block.noDataValue()] = np.nan
    scale, offset = provider.bandScale(band), provider.bandOffset(band)
    if scale != 1.0 or offset != 0.0:
        values = (values - offset) / scale
    return values


def read_sample(layer: QgsRasterLayer, band: int, nodata: float | None, size: int = SAMPLE_PX) -> np.ndarray:
    """The input inspector's sample (:func:`~mosaic.backend.inference.rasters.sample_windows`): band ``band`` of the
    whole layer decimated (nearest) to at most ``size`` × ``size`` pixels, or fixed windows of a large layer, float64
    stored values (no scale/offset), ``nodata`` (the declared one) as NaN.

    A plain GDAL file is read as ``mosaic predict`` reads it (GDAL's nearest decimation, the same pixels); other
    layers through their provider (:func:`read_block`)."""
    windows = sample_windows(layer.width(), layer.height())
    if windows is not None:
        pixels = GdalPixels.open(layer, band) or ProviderPixels(layer, band)
        values = tiled_sample([pixels.read(*w) for w in windows])
        if nodata is not None and not math.isnan(nodata):
            values[values == nodata] = np.nan
        return values
    width, height = min(layer.width(), size), min(layer.height(), size)
    pixels = GdalPixels.open(layer, band)
    if pixels is not None:
        from osgeo import gdal

        try:
            values = pixels.band_obj.ReadAsArray(
                0,
                0,
                pixels.cols,
                pixels.rows,
                buf_xsize=width,
                buf_ysize=height,
                resample_alg=gdal.GRIORA_NearestNeighbour,
            )
        except RuntimeError:  # GDAL with exceptions enabled
            values = None
        if values is None:
            raise InputError(f"reading {layer.name()} failed; the file may be truncated or damaged.")
        values = values.astype(np.float64)
    else:
        provider = layer.dataProvider()
        values = read_block(provider, band, provider.extent(), width, height)
    if nodata is not None and not math.isnan(nodata):
        values[values == nodata] = np.nan
    return values


class ProviderPixels:
    """Source pixels of one band through a clone of the layer's QGIS data provider (any provider)."""

    def __init__(self, layer: QgsRasterLayer, band: int) -> None:
        provider = layer.dataProvider().clone()
        if provider is None:
            raise InputError(f"QGIS cannot read the layer {layer.name()}; save it as a GeoTIFF first.")
        self.provider, self.band = provider, band
        self.extent = provider.extent()
        self.cols, self.rows = provider.xSize(), provider.ySize()
        self.nodata = provider.sourceNoDataValue(band) if provider.sourceHasNoDataValue(band) else None

    def read(self, col: int, row: int, width: int, height: int) -> np.ndarray:
        """float64 ``[height, width]`` of source pixels from ``(col, row)``; the block's and file's nodata as NaN."""
        e, dx, dy = self.extent, self.extent.width() / self.cols, self.extent.height() / self.rows
        x0, y1 = e.xMinimum() + col * dx, e.yMaximum() - row * dy
        rect = QgsRectangle(x0, y1 - height * dy, x0 + width * dx, y1)
        values = read_block(self.provider, self.band, rect, width, height)
        if self.nodata is not None:
            values[values == self.nodata] = np.nan
        return values


class GdalPixels:
    """Source pixels of one band read straight from the layer's file with GDAL (``Band.ReadAsArray``)."""

    def __init__(self, dataset, layer: QgsRasterLayer, band: int) -> None:
        self.dataset, self.band_obj = dataset, dataset.GetRasterBand(band)
        self.source = layer_file(layer)
        self.extent = layer.dataProvider().extent()
        self.cols, self.rows = dataset.RasterXSize, dataset.RasterYSize
        self.nodata = self.band_obj.GetNoDataValue()

    @classmethod
    def open(cls, layer: QgsRasterLayer, band: int) -> GdalPixels | None:
        """The GDAL reader of ``layer``'s band, or None when the layer is not a plain file GDAL opens alike."""
        from osgeo import gdal

        dataset = gdal_dataset(layer)
        if dataset is None or dataset.RasterCount < band:
            return None
        if gdal.DataTypeIsComplex(dataset.GetRasterBand(band).DataType):
            return None  # the provider route refuses it with its message
        return cls(dataset, layer, band)

    def read(self, col: int, row: int, width: int, height: int) -> np.ndarray:
        """float64 ``[height, width]`` of source pixels from ``(col, row)``; the band's nodata as NaN."""
        try:
            values = self.band_obj.ReadAsArray(col, row, width, height)
        except RuntimeError:  # GDAL with exceptions enabled
            values = None
        if values is None:
            raise InputError(
                f"could not read band {self.band_obj.GetBand()} of {self.source}; check that the file is readable."
            )
        out = values.astype(np.float64)
        if self.nodata is not None:
            out[values == self.nodata] = np.nan
        return out


class BandReader:
    """Reads one band of one layer onto the target grid with ``resampling`` (``nearest`` or ``bilinear``;
    ``average`` when a layer of the grid's CRS has finer pixels than the grid), ``nodata`` (the source nodata
    the input inspector planned, None: none) as NaN."""

    def __init__(
        self,
        layer: QgsRasterLayer,
        band: int,
        grid: TargetGrid,
        resampling: str,
        nodata: float | None,
        workdir: Path,
        finer: str = "average",
    ) -> None:
        """``finer``: the GDAL resampling from finer pixels of the grid's CRS (``average``; ``near`` for classes)."""
        self.band, self.grid, self.resampling, self.nodata, self.finer = band, grid, resampling, nodata, finer
        if not self._aligned(layer):
            layer = self._warped_layer(layer, workdir)
        self.pixels = GdalPixels.open(layer, band) or ProviderPixels(layer, band)
        self.extent, self.cols, self.rows = self.pixels.extent, self.pixels.cols, self.pixels.rows
        self.dx = self.extent.width() / self.cols
        self.dy = self.extent.height() / self.rows

    def _aligned(self, layer: QgsRasterLayer) -> bool:
        """Same CRS, pixel size an integer multiple ``f`` of the target's, edges on the target grid — and
        ``f == 1`` unless the resampling is nearest (the only case read by index)."""
        g, extent = self.grid, layer.extent()
        if layer.crs() != g.crs:
            return False
        fx, fy = layer.rasterUnitsPerPixelX() / g.dx, layer.rasterUnitsPerPixelY() / g.dy
        f = round(fx)
        if f < 1 or abs(fx - f) > 1e-6 or abs(fy - f) > 1e-6 or (f > 1 and self.resampling != "nearest"):
            return False
        off_x = (extent.xMinimum() - g.x0) / g.dx
        off_y = (g.y0 - extent.yMaximum()) / g.dy
        return abs(off_x - round(off_x)) < 1e-6 and abs(off_y - round(off_y)) < 1e-6

    def _warped_layer(self, layer: QgsRasterLayer, workdir: Path) -> QgsRasterLayer:
        """``layer`` warped onto the target grid (GDAL warped VRT, all bands), opened as a QGIS layer."""
        from osgeo import gdal

        src = layer_file(layer)
        vrt = workdir / f"warped_{len(list(workdir.iterdir()))}.vrt"
        g = self.grid
        resampling = "bilinear" if self.resampling == "bilinear" else "near"
        if layer.crs() == g.crs and layer.rasterUnitsPerPixelX() < g.dx:  # finer pixels than the grid
            resampling = self.finer
        options = gdal.WarpOptions(
            format="VRT",
            dstSRS=g.crs.toWkt(),
            outputBounds=(g.x0, g.y0 - g.height * g.dy, g.x0 + g.width * g.dx, g.y0),
            width=g.width,
            height=g.height,
            resampleAlg=resampling,
            srcNodata=self.nodata,
            dstNodata=float("nan"),
            outputType=gdal.GDT_Float32,
        )
        dataset = gdal.Warp(str(vrt), src, options=options)
        if dataset is None:
            raise InputError(f"could not reproject {layer.name()} onto the S2 grid; check its CRS.")
        dataset = None
        warped = QgsRasterLayer(str(vrt), layer.name(), "gdal")
        if not warped.isValid():
            raise InputError(f"could not reproject {layer.name()} onto the S2 grid; check its CRS.")
        return warped

    def read(self, window: Window) -> np.ndarray:
        """float32 ``[h, w]`` of ``window`` (target pixels), NaN where there is no data."""
        g = self.grid
        out = np.full((window.height, window.width), np.nan, dtype=np.float64)
        # target pixel centres → source pixel indices ⌊(x − x₀) / Δx⌋ per axis (nearest)
        xs = g.x0 + (window.col_off + np.arange(window.width) + 0.5) * g.dx
        ys = g.y0 - (window.row_off + np.arange(window.height) + 0.5) * g.dy
        cols = np.floor((xs - self.extent.xMinimum()) / self.dx).astype(np.int64)
        rows = np.floor((self.extent.yMaximum() - ys) / self.dy).astype(np.int64)
        col_ok = (cols >= 0) & (cols < self.cols)
        row_ok = (rows >= 0) & (rows < self.rows)
        if col_ok.any() and row_ok.any():
            c0, c1 = int(cols[col_ok].min()), int(cols[col_ok].max()) + 1
            r0, r1 = int(rows[row_ok].min()), int(rows[row_ok].max()) + 1
            src = self.pixels.read(c0, r0, c1 - c0, r1 - r0)
            if src.shape == out.shape and col_ok.all() and row_ok.all():
                out = src  # one source pixel per target pixel, all inside: the read is the window
            else:
                out[np.ix_(np.nonzero(row_ok)[0], np.nonzero(col_ok)[0])] = src[
                    np.ix_(rows[row_ok] - r0, cols[col_ok] - c0)
                ]
        if self.nodata is not None and not math.isnan(self.nodata):  # the planned nodata (the file's is NaN already)
            out[out == self.nodata] = np.nan
        out[~np.isfinite(out)] = np.nan
        return out.astype(np.float32)


class PolygonMask:
    """Pixels of the target grid whose centre lies inside any of ``polygons_wkt`` (WKT in the grid's CRS)."""

    def __init__(self, polygons_wkt: list[str], grid: TargetGrid) -> None:
        from osgeo import ogr

        self.grid = grid
        self.source = ogr.GetDriverByName("Memory").CreateDataSource("mask")
        self.layer = self.source.CreateLayer("mask", geom_type=ogr.wkbUnknown)
        for wkt in polygons_wkt:
            feature = ogr.Feature(self.layer.GetLayerDefn())
            feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
            self.layer.CreateFeature(feature)

    def inside(self, window: Window) -> np.ndarray:
        """bool ``[h, w]``: True where the pixel centre is inside a polygon (GDAL rasterisation)."""
        from osgeo import gdal

        g = self.grid
        raster = gdal.GetDriverByName("MEM").Create("", window.width, window.height, 1, gdal.GDT_Byte)
        raster.SetGeoTransform((g.x0 + window.col_off * g.dx, g.dx, 0.0, g.y0 - window.row_off * g.dy, 0.0, -g.dy))
        gdal.RasterizeLayer(raster, [1], self.layer, burn_values=[1])
        return raster.ReadAsArray() == 1


class CloudMask:
    """The engine's ``CloudReader`` over the cloud layer's band reader: cloudy pixels of a window."""

    def __init__(self, band: BandReader, plan: CloudPlan) -> None:
        self.band, self.plan = band, plan

    def read(self, window: Window) -> np.ndarray:
        """bool ``[h, w]``: True where the cloud layer marks the pixel cloudy (nodata and outside: not cloudy)."""
        return self.plan.cloudy(self.band.read(window))


class QgisWindowReader:
    """The engine's :class:`~mosaic.backend.inference.WindowReader` over QGIS layers (see the module docstring).

    ``s2``/``s1``: the source of each model band in model order, as the input inspector's ``plan`` picked them
    (one of them empty in a one-modality run: the other's finest layer gives the grid, and ``read`` gives None for it);
    each band is read with the plan's source nodata and converted to model units with the plan's conversions
    (S2 offset and scale, S1 scale and units). With ``polygons_wkt`` (the selected polygons, in the grid's CRS)
    everything outside them reads as nodata, so tiles mostly outside the polygons are skipped by the engine.
    """

    def __init__(
        self,
        s2: list[BandSource],
        s1: list[BandSource],
        plan: InputPlan,
        upsampling: str,
        grid: TargetGrid,
        polygons_wkt: list[str] | None = None,
        cloud: BandSource | None = None,
    ) -> None:
        self.grid, self.plan = grid, plan
        #: the modalities this reader gives (``read`` returns None for the other in a one-modality run)
        self.modalities = plan.inputs.modalities
        self.mask = PolygonMask(polygons_wkt, grid) if polygons_wkt else None
        self.width, self.height = grid.width, grid.height
        self._tmp = tempfile.TemporaryDirectory(prefix="mosaic_reader_")
        workdir = Path(self._tmp.name)

        self.s2 = [BandReader(s.layer, s.band, grid, upsampling, nd, workdir) for s, nd in zip(s2, plan.s2_nodata)]
        self.s1 = [BandReader(s.layer, s.band, grid, S1_RESAMPLING, nd, workdir) for s, nd in zip(s1, plan.s1_nodata)]
        #: the cloud layer on the grid (the engine's ``CloudReader``); None without one
        self.cloud = None
        if cloud is not None and plan.cloud is not None:
            band = BandReader(cloud.layer, cloud.band, grid, "nearest", plan.cloud.nodata, workdir, finer="near")
            self.cloud = CloudMask(band, plan.cloud)

    def read(self, window: Window) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(s2 [C_s2, h, w], s1 [C_s1, h, w])`` float32 in model band order and units, NaN = no data; None for a
        modality not given (a one-modality run)."""
        arrays = [
            convert(np.stack([r.read(window) for r in readers]), conversions) if readers else None
            for readers, conversions in ((self.s2, self.plan.s2), (self.s1, self.plan.s1))
        ]
        if self.mask is not None:
            outside = ~self.mask.inside(window)
            for a in arrays:
                if a is not None:
                    a[:, outside] = np.nan
        return arrays[0], arrays[1]

    def close(self) -> None:
        """Release the providers and the temporary warped VRTs."""
        self.s2 = self.s1 = []
        self.mask = self.cloud = None
        self._tmp.cleanup()

"""Headless raster input for ``mosaic predict``: a rasterio window reader (outputs: :mod:`.writer`).

Every input is first identified by the engine's input inspector (:mod:`~mosaic.backend.inference.inspector`) from
the facts :func:`~mosaic.backend.inputs.files.raster_info` gathers and decimated samples
(:func:`~mosaic.backend.inputs.files.read_sample`): band identity, ground
resolution, S2 radiometry (processing-baseline offset, scale), S1 units, scale and order, untagged fill values.
It refuses what it cannot use before any tile is read, and says how each window is converted.

Reader (:class:`RasterioReader`, the engine's ``WindowReader``): the **target grid** is the grid of the finest
S2 band (10 m) — or, when that is not ~10 m square pixels on the ground, a square 10 m grid in the S2 CRS (metres)
or in the scene's UTM zone — cropped to the AOI's bounding box when one is given; pixels whose centre lies
outside every AOI polygon then read as nodata, so tiles mostly outside the polygons are skipped (as the plugin's
"selected polygons" extent does). The mask is rasterised per window, never for the whole scene. Per band:

* on the target grid → a plain windowed read;
* S2 band aligned with the target grid at an integer factor ``f`` (20 m: 2, 60 m: 6) with ``nearest``
  upsampling → the native window is read once and each pixel repeated ``f × f`` (output pixel ``i`` takes
  native pixel ``i // f``: exactly the training loader's nearest upsampling);
* anything else (``bilinear`` upsampling, S1 on any other CRS or grid, a resampled S2 grid) → a rasterio
  ``WarpedVRT`` onto the target grid (S2: the model's upsampling, ``average`` from finer pixels; S1: bilinear).

The source nodata of each band is the file's, else the fill the inspector found (S2 0, S1 zeros); it becomes NaN,
as does everything outside a file; then the inspector's conversions bring each window to model units.

An optional cloud layer (``cloud_mask``: an SCL layer, a binary mask or a cloud probability, any CRS or grid) is
identified by the same inspector and read onto the target grid like S1, but with ``nearest`` resampling (classes
and mask values are never blended); :attr:`RasterioReader.cloud` gives the engine its cloudy pixels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.features import geometry_mask
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window as RioWindow
from rasterio.windows import from_bounds

from ..errors import InputError
from ..inference import Window
from ..inference.band_resolver import BandPick
from ..inference.clouds import CloudPlan
from ..inference.inspector import InputOptions, InputPlan, inspect_inputs
from ..inference.metadata import ModelMetadata
from ..inference.radiometry import convert
from ..inference.rasters import RasterInfo
from ..inputs.files import CRS_ERRORS, input_files, open_raster, raster_info, sampler

#: GDAL settings for prediction: a modest block cache so memory stays flat on large rasters. rasterio hands an
#: integer GDAL_CACHEMAX to GDALSetCacheMax, which counts **bytes** (64 would be 64 bytes: no cache, and every
#: window crossing a block row decoded both blocks again).
GDAL_ENV = {"GDAL_CACHEMAX": 64 * 2**20, "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_NUM_THREADS": "1"}


def _grid_bounds(bounds, src_crs, dst_crs, name: str):
    try:
        return transform_bounds(src_crs, dst_crs, *bounds)
    except CRS_ERRORS as exc:
        raise InputError(
            f"{name} cannot be transformed to {dst_crs} ({str(exc).splitlines()[0]}); check its CRS."
        ) from None


def _aoi_polygons(aoi: str | os.PathLike, crs) -> list:
    """The AOI's polygons (shapely, in ``crs``); one clear error for unreadable, empty or non-polygon layers,
    coordinates that do not fit the AOI's CRS, and CRSs that cannot be transformed."""
    import geopandas as gpd
    from pyproj.exceptions import CRSError as ProjCRSError
    from pyproj.exceptions import ProjError
    from shapely.errors import GEOSException

    try:
        shapes = gpd.read_file(aoi)
    except Exception as exc:  # pyogrio raises its own DataSourceError / OSError types
        raise InputError(f"cannot read the AOI {aoi}: {str(exc).splitlines()[0]}.") from None
    if shapes.crs is None:
        raise InputError(f"the AOI {aoi} has no CRS; give a vector layer with polygons and a CRS.")
    if shapes.crs.is_geographic and len(shapes) and not _fits_degrees(shapes.total_bounds):
        raise InputError(
            f"the AOI {aoi} is in {shapes.crs.to_string()} (degrees) but its coordinates reach "
            f"{max(abs(shapes.total_bounds)):.0f}: they look like metres (a GeoJSON without a 'crs' "
            "member is read as WGS 84); save the AOI with its real CRS."
        )
    try:
        geoms = [g for g in shapes.to_crs(crs).geometry if g is not None and not g.is_empty]
        polygons = [g if g.is_valid else g.buffer(0) for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
    except (ProjError, ProjCRSError, GEOSException, ValueError) as exc:
        raise InputError(
            f"the AOI {aoi} cannot be transformed from {shapes.crs.to_string()} to the S2 CRS "
            f"({str(exc).splitlines()[0]}); save it in the S2 raster's CRS."
        ) from None
    polygons = [g for g in polygons if not g.is_empty and all(map(math.isfinite, g.bounds))]
    if not polygons:
        raise InputError(f"the AOI {aoi} holds no polygons; give a vector layer with polygons and a CRS.")
    return polygons


def _fits_degrees(bounds: Sequence[float]) -> bool:
    return -180.0 <= bounds[0] <= bounds[2] <= 360.0 and -90.0 <= bounds[1] <= bounds[3] <= 90.0


def _aoi_window(polygons: list, transform, width: int, height: int, aoi: str | os.PathLike) -> RioWindow:
    """Pixel window of the polygons' bounding box on the target grid (snapped outward), cut to the raster."""
    b = np.array([g.bounds for g in polygons])
    win = from_bounds(b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max(), transform=transform)
    eps = 1e-6  # pixels: a box edge reprojected to within a micro-pixel of a pixel edge snaps to that edge
    r0, c0 = max(math.floor(win.row_off + eps), 0), max(math.floor(win.col_off + eps), 0)
    r1 = min(math.ceil(win.row_off + win.height - eps), height)
    c1 = min(math.ceil(win.col_off + win.width - eps), width)
    if r1 <= r0 or c1 <= c0:
        raise InputError(f"the AOI {aoi} does not overlap the S2 raster; check its location and CRS.")
    return RioWindow(c0, r0, c1 - c0, r1 - r0)


class _BandReader:
    """Reads one band on the target grid (see the module docstring for the three routes); stored values,
    ``nodata`` as NaN."""

    def __init__(
        self,
        ds,
        index: int,
        nodata: float | None,
        target,
        resampling: Resampling,
        finer: Resampling = Resampling.average,
    ):
        """``resampling`` onto the target grid; ``finer``: the resampling from finer pixels in the same CRS."""
        self.ds, self.index, self.nodata = ds, index, nodata
        crs, transform, width, height = target
        self.factor = self._aligned_factor(transform, crs, width, height)
        self.reader = self.ds
        if self.factor is None or (self.factor > 1 and resampling != Resampling.nearest):
            if abs(ds.transform.a) < abs(transform.a) and ds.crs == crs:  # finer pixels than the target
                resampling = finer
            self.factor = 1
            self.reader = WarpedVRT(
                self.ds,
                crs=crs,
                transform=transform,
                width=width,
                height=height,
                resampling=resampling,
                src_nodata=self.nodata,
                nodata=self.nodata if self.nodata is not None else np.nan,
            )

    def _aligned_factor(self, transform, crs, width: int, height: int) -> int | None:
        """Integer factor ``f`` when this band's grid is the target's coarsened by ``f`` and covers it; else None."""
        t = self.ds.transform
        if self.ds.crs != crs or t.b or t.d or transform.b or transform.d:
            return None
        f = t.a / transform.a
        if abs(f - round(f)) > 1e-6 or round(f) < 1 or abs(t.e / transform.e - f) > 1e-6:
            return None
        f = round(f)
        col0, row0 = (transform.c - t.c) / t.a * f, (transform.f - t.f) / t.e * f  # target origin in fine px
        if abs(col0 - round(col0)) > 1e-6 or abs(row0 - round(row0)) > 1e-6 or round(col0) or round(row0):
            return None
        if self.ds.width * f < width or self.ds.height * f < height:
            return None
        return f

    def read(self, window: Window, row0: int, col0: int, out: np.ndarray | None = None) -> np.ndarray:
        """float32 ``[h, w]`` of ``window`` (target pixels, offset by the processed extent's ``row0, col0``), written
        into ``out`` (float32 ``[h, w]``) when given: GDAL converts the stored type as it copies."""
        out = np.empty((window.height, window.width), dtype=np.float32) if out is None else out
        try:
            self._read(window.row_off + row0, window.col_off + col0, out)
        except RasterioError as exc:
            reason = str(exc.__cause__ or exc).strip().splitlines()[0]
            raise InputError(
                f"reading {Path(self.ds.name).name} failed ({reason}); the file may be truncated or damaged."
            ) from None
        if self.nodata is not None and not math.isnan(self.nodata):
            np.copyto(out, np.float32(np.nan), where=out == self.nodata)
        return out

    def _read(self, r: int, c: int, out: np.ndarray) -> None:
        """Target rows ``r…`` and cols ``c…`` into ``out``; at factor ``f`` target pixel ``i`` is native ``i // f``."""
        f, (height, width) = self.factor, out.shape
        if f == 1:
            self.reader.read(self.index, window=RioWindow(c, r, width, height), out=out)
            return
        nr0, nc0 = r // f, c // f
        nr1, nc1 = -(-(r + height) // f), -(-(c + width) // f)
        native = self.reader.read(self.index, window=RioWindow(nc0, nr0, nc1 - nc0, nr1 - nr0), out_dtype=np.float32)
        if not (r % f or c % f):  # the window starts on the native lattice: strided copies, 4× faster than take
            for i in range(f):
                out[::f, i::f] = native[:, : -(-(width - i) // f)]
            for i in range(1, f):
                out[i::f] = out[: height - i : f]
            return
        rows, cols = np.arange(r, r + height) // f - nr0, np.arange(c, c + width) // f - nc0
        np.take(native.take(rows, axis=0), cols, axis=1, out=out)

    def close(self) -> None:
        if self.reader is not self.ds:
            self.reader.close()


class RasterioReader:
    """S2 + S1 on the model's 10 m grid (the engine's ``WindowReader``); use as a context manager.

    ``options`` are the user's input choices (:class:`~mosaic.backend.inference.inspector.InputOptions`);
    :attr:`plan` is what the inspector decided (``plan.applied``: what was done to the inputs and why).
    """

    def __init__(
        self,
        s2: Sequence[str | os.PathLike],
        s1: Sequence[str | os.PathLike],
        metadata: ModelMetadata,
        aoi: str | os.PathLike | None = None,
        options: InputOptions | None = None,
        cloud_mask: str | os.PathLike | None = None,
    ):
        self._env = rasterio.Env(**GDAL_ENV)
        self._env.__enter__()
        self._bands: list[_BandReader] = []
        self._files: list = []
        #: the cloud layer on the target grid (the engine's ``CloudReader``); None without ``cloud_mask``
        self.cloud: CloudMaskReader | None = None
        try:
            self._setup(s2, s1, metadata, aoi, options or InputOptions(), cloud_mask)
        except (RasterioError, ValueError) as exc:
            self.close()
            raise InputError(f"cannot read the input rasters: {str(exc).splitlines()[0]}.") from None
        except BaseException:
            self.close()
            raise

    def _open_all(self, paths, modality: str) -> tuple[list, list[RasterInfo]]:
        datasets = []
        for p in input_files(paths, modality):
            datasets.append(open_raster(p))
            self._files.append(datasets[-1])
        return datasets, [raster_info(ds) for ds in datasets]

    def _setup(self, s2, s1, metadata: ModelMetadata, aoi, options: InputOptions, cloud_mask) -> None:
        s2_ds, s2_info = self._open_all(s2, "S2")
        s1_ds, s1_info = self._open_all(s1, "S1")
        if cloud_mask is not None and not Path(cloud_mask).is_file():
            raise InputError(f"the cloud mask {cloud_mask} is no raster file; give one file (e.g. the SCL band).")
        cloud_ds, cloud_info = (None, None) if cloud_mask is None else self._open_all([cloud_mask], "cloud mask")
        cloud_sample = None if cloud_ds is None else (lambda band: sampler(cloud_ds, cloud_info)(0, band))

        self.plan: InputPlan = inspect_inputs(
            s2_info,
            s1_info,
            metadata,
            options,
            sampler(s2_ds, s2_info),
            sampler(s1_ds, s1_info),
            cloud=cloud_info and cloud_info[0],
            sample_cloud=cloud_sample,
        )
        plan = self.plan
        #: the modalities this reader gives (``read`` returns None for the other in a one-modality run)
        self.modalities = plan.inputs.modalities
        grid_ds = [s2_ds[p.raster] for p in plan.s2_picks] or [s1_ds[p.raster] for p in plan.s1_picks]
        finest = min(grid_ds, key=lambda ds: abs(ds.transform.a * ds.transform.e))
        self.crs, full_transform, full_w, full_h = self._target(finest, plan)
        self._aoi = _aoi_polygons(aoi, self.crs) if aoi is not None else None
        if self._aoi is not None:
            win = _aoi_window(self._aoi, full_transform, full_w, full_h, aoi)
        else:
            win = RioWindow(0, 0, full_w, full_h)
        self.row0, self.col0 = int(win.row_off), int(win.col_off)
        self.width, self.height = int(win.width), int(win.height)
        self.transform = rasterio.windows.transform(win, full_transform)
        target = (self.crs, full_transform, full_w, full_h)
        extent = rasterio.windows.bounds(win, full_transform)
        others = [("S1 raster", s1_ds[p.raster]) for p in plan.s1_picks] + [("cloud mask", d) for d in cloud_ds or []]
        for what, ds in {id(ds): (what, ds) for what, ds in others if ds is not finest}.values():
            if ds.crs is None:
                raise InputError(f"{Path(ds.name).name} has no CRS; georeference it first.")
            if not _overlaps(_grid_bounds(ds.bounds, ds.crs, self.crs, Path(ds.name).name), extent):
                raise InputError(f"{what} {Path(ds.name).name} does not overlap the S2 extent; check the inputs.")
        up = Resampling[metadata.upsampling]
        self._s2 = self._readers(s2_ds, plan.s2_picks, plan.s2_nodata, target, up)
        self._s1 = self._readers(s1_ds, plan.s1_picks, plan.s1_nodata, target, Resampling.bilinear)
        if plan.cloud is not None:
            band = _BandReader(
                cloud_ds[0], plan.cloud.band, plan.cloud.nodata, target, Resampling.nearest, finer=Resampling.nearest
            )
            self._bands.append(band)
            self.cloud = CloudMaskReader(band, plan.cloud, self.row0, self.col0)

    def _readers(self, datasets, picks: list[BandPick], nodata: list, target, resampling) -> list[_BandReader]:
        readers = [_BandReader(datasets[p.raster], p.index, nd, target, resampling) for p, nd in zip(picks, nodata)]
        self._bands.extend(readers)
        return readers

    @staticmethod
    def _target(finest, plan: InputPlan):
        """``(crs, transform, width, height)`` of the full target grid: the finest S2 raster's own grid, or a
        square ``plan.grid.pixel_m`` grid over its extent (in its CRS, or in the planned UTM zone)."""
        if not plan.grid.resample:
            return finest.crs, finest.transform, finest.width, finest.height
        crs = CRS.from_epsg(plan.grid.epsg) if plan.grid.epsg else finest.crs
        left, bottom, right, top = _grid_bounds(finest.bounds, finest.crs, crs, Path(finest.name).name)
        size = plan.grid.pixel_m / (1.0 if plan.grid.epsg else finest.crs.linear_units_factor[1])
        width, height = max(1, math.ceil((right - left) / size - 1e-6)), max(1, math.ceil((top - bottom) / size - 1e-6))
        return crs, rasterio.Affine(size, 0.0, left, 0.0, -size, top), width, height

    @property
    def geotransform(self) -> tuple[float, ...]:
        """GDAL geotransform of the processed extent's 10 m grid."""
        return self.transform.to_gdal()

    def read(self, window: Window) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(s2, s1)`` float32 ``[C, h, w]`` of ``window`` on the target grid in model units, NaN = nodata; None for
        a modality not given (a one-modality run)."""
        modalities = ((self._s2, self.plan.s2), (self._s1, self.plan.s1))
        arrays = [
            self._read_modality(bands, conversions, window) if bands else None for bands, conversions in modalities
        ]
        if self._aoi is not None:
            outside = ~self.aoi_mask(window)
            for a in arrays:
                if a is not None:
                    a[:, outside] = np.nan
        return arrays[0], arrays[1]

    def _read_modality(self, bands: list[_BandReader], conversions, window: Window) -> np.ndarray:
        """One modality's bands read into one float32 ``[C, h, w]`` array and converted there in place."""
        stack = np.empty((len(bands), window.height, window.width), dtype=np.float32)
        for band, out in zip(bands, stack):
            band.read(window, self.row0, self.col0, out)
        return convert(stack, conversions)

    def aoi_mask(self, window: Window) -> np.ndarray:
        """bool ``[h, w]``: True where the pixel centre lies inside an AOI polygon (all True without an AOI)."""
        if self._aoi is None:
            return np.ones((window.height, window.width), dtype=bool)
        transform = self.transform @ rasterio.Affine.translation(window.col_off, window.row_off)
        return geometry_mask(self._aoi, out_shape=(window.height, window.width), transform=transform, invert=True)

    def close(self) -> None:
        for b in self._bands:
            b.close()
        for ds in self._files:
            ds.close()
        self._bands, self._files = [], []
        self._env.__exit__(None, None, None)

    def __enter__(self) -> RasterioReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CloudMaskReader:
    """The engine's ``CloudReader`` over the cloud layer's band reader: cloudy pixels of a window."""

    def __init__(self, band: _BandReader, plan: CloudPlan, row0: int, col0: int):
        self.band, self.plan, self.row0, self.col0 = band, plan, row0, col0

    def read(self, window: Window) -> np.ndarray:
        """bool ``[h, w]``: True where the cloud layer marks the pixel cloudy (nodata and outside: not cloudy)."""
        return self.plan.cloudy(self.band.read(window, self.row0, self.col0))


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

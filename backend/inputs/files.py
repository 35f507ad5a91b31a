"""Opening the user's input rasters with rasterio, and the facts the engine's input inspector needs about them.

Shared by ``mosaic predict`` (:mod:`mosaic.backend.predict.reader`) and ``mosaic prepare``: an input is a file, a
folder of band files or a Sentinel-2 ``.SAFE`` product (folder or zip); :func:`raster_info` gathers what
:mod:`~mosaic.backend.inference.inspector` identifies bands, grid and radiometry from, :func:`read_sample` the
decimated pixels it looks at.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError, RasterioIOError
from rasterio.warp import transform as transform_points
from rasterio.windows import Window as RioWindow

from ..errors import InputError
from ..inference.rasters import (
    SAMPLE_PX,
    BandInfo,
    RasterInfo,
    Sampler,
    ground_pixel_m,
    projected_pixel_m,
    sample_windows,
    tiled_sample,
)

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img")


#: errors of PROJ/GDAL when a CRS cannot be understood or transformed
CRS_ERRORS = (CRSError, RasterioError, CPLE_BaseError, ValueError)


def open_raster(path: str | Path):
    """``rasterio.open(path)``; an unreadable file is an :class:`InputError` in one sentence."""
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"cannot read raster {path}: {str(exc).splitlines()[0]}; check the file.") from None


def input_files(paths: Sequence[str | os.PathLike], modality: str) -> list[str]:
    """The raster files of one modality: the files given, the raster files of one folder, or the band files of a
    Sentinel-2 ``.SAFE`` folder or zip (:func:`safe_band_files`). GDAL virtual paths (``/vsicurl/https://…``) are
    passed to GDAL as given."""
    if any(str(p).startswith("/vsi") for p in paths):
        return [str(p) for p in paths]
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise InputError(f"{modality} input {p} does not exist.")
    if len(paths) == 1 and (safe := safe_band_files(paths[0])) is not None:
        return safe
    if len(paths) == 1 and paths[0].is_dir():
        paths = sorted(f for f in paths[0].iterdir() if f.suffix.lower() in RASTER_SUFFIXES)
        if not paths:
            raise InputError(f"the {modality} folder holds no raster files ({', '.join(RASTER_SUFFIXES)}).")
    return [str(p) for p in paths]


#: a band file of a Sentinel-2 product: L2A ``…_B02_10m.jp2`` (one per resolution), L1C ``…_B02.jp2``
_SAFE_BAND = re.compile(r"IMG_DATA/(?:R(?:10|20|60)m/)?[^/]*_(B(?:0[1-9]|1[0-2]|8A))(?:_(10|20|60)m)?\.jp2$")


def safe_band_files(path: Path) -> list[str] | None:
    """The band files of a Sentinel-2 ``.SAFE`` folder or zip, each band once at its native resolution (the finest
    one a Level-2A product holds it at), as paths GDAL opens (``/vsizip/…`` inside a zip); None for other paths."""
    if path.is_dir() and path.name.upper().endswith(".SAFE"):
        members = [f.relative_to(path).as_posix() for f in path.glob("GRANULE/*/IMG_DATA/**/*.jp2")]
        prefix = str(path)
    elif path.is_file() and path.suffix.lower() == ".zip" and ".SAFE" in path.name.upper():
        try:
            with zipfile.ZipFile(path) as z:
                members = z.namelist()
        except (OSError, zipfile.BadZipFile) as exc:
            raise InputError(f"cannot read the zip {path.name} ({exc}); download the product again.") from None
        prefix = f"/vsizip/{path}"
    else:
        return None
    finest: dict[str, tuple[int, str]] = {}
    for member in members:
        m = _SAFE_BAND.search(member)
        if m:
            resolution = int(m.group(2) or 0)
            if m.group(1) not in finest or resolution < finest[m.group(1)][0]:
                finest[m.group(1)] = (resolution, member)
    if not finest:
        raise InputError(
            f"{path.name} holds no Sentinel-2 band files (GRANULE/*/IMG_DATA/…_B02….jp2); give the "
            "product as ESA distributes it, or its band files."
        )
    return [f"{prefix}/{member}" for _, member in sorted(finest.values(), key=lambda v: v[1])]


def raster_info(ds) -> RasterInfo:
    """The facts the input inspector needs about an open rasterio dataset."""
    path = str(ds.name)
    bands = tuple(
        BandInfo(d or "", nd, float(s if s is not None else 1.0), float(o if o is not None else 0.0))
        for d, nd, s, o in zip(ds.descriptions, ds.nodatavals, ds.scales, ds.offsets)
    )
    crs = ds.crs
    if crs is None:
        raise InputError(f"{Path(path).name} has no CRS; georeference it first.")
    pixel_m, metres, centre, scale = None, False, None, None
    cx, cy = ds.xy(ds.height // 2, ds.width // 2)
    dx, dy = abs(ds.transform.a), abs(ds.transform.e)
    try:  # the centre, and the points one pixel east and one pixel south of it, in WGS 84
        lon, lat = transform_points(crs, CRS.from_epsg(4326), [cx, cx + dx, cx], [cy, cy, cy - dy])
        points = tuple((float(x), float(y)) for x, y in zip(lon, lat))
        centre = points[0] if all(map(math.isfinite, lon + lat)) else None
    except CRS_ERRORS:
        centre = None
    if crs.is_geographic and centre is not None:
        pixel_m = ground_pixel_m(dx, dy, centre[1])
    elif crs.is_projected:
        unit, factor = crs.linear_units_factor
        metres = unit in ("metre", "meter")
        if centre is not None:
            pixel_m, scale = projected_pixel_m(dx, dy, factor, points)
        else:
            pixel_m = (dx * factor, dy * factor)
    return RasterInfo(
        path, Path(path).name, bands, ds.dtypes[0], crs.to_string(), pixel_m, metres, centre, ds.tags(), scale
    )


def sampler(datasets: Sequence, infos: Sequence[RasterInfo]) -> Sampler:
    """The inspector's :data:`~mosaic.backend.inference.rasters.Sampler` over open ``datasets`` (their
    :func:`raster_info` facts ``infos``): :func:`read_sample` with each band's declared nodata."""
    return lambda r, i: read_sample(datasets[r], i, infos[r].bands[i - 1].nodata)


def read_sample(ds, index: int, nodata: float | None, size: int = SAMPLE_PX) -> np.ndarray:
    """The inspector's sample of band ``index`` of ``ds`` (:func:`~mosaic.backend.inference.rasters.sample_windows`:
    the whole band decimated to at most ``size`` × ``size`` (nearest), or fixed windows of a large raster), float64,
    nodata as NaN."""
    windows = sample_windows(ds.width, ds.height)
    try:
        if windows is None:
            shape = (min(ds.height, size), min(ds.width, size))
            a = ds.read(index, out_shape=shape, resampling=Resampling.nearest).astype(np.float64)
        else:
            a = tiled_sample([ds.read(index, window=RioWindow(*w)) for w in windows]).astype(np.float64)
    except RasterioError as exc:
        reason = str(exc.__cause__ or exc).strip().splitlines()[0]
        raise InputError(
            f"reading {Path(ds.name).name} failed ({reason}); the file may be truncated or damaged."
        ) from None
    if nodata is not None and not math.isnan(nodata):
        a[a == nodata] = np.nan
    return a

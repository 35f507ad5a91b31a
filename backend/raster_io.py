"""Headless raster I/O for ``mosaic predict``: a rasterio window reader and rasterio/geopandas output sinks.

Reader (:class:`RasterioReader`, the engine's ``WindowReader``): the **target grid** is the grid of the finest
S2 band (10 m), cropped to the AOI's bounding box when one is given; pixels whose centre lies outside every AOI
polygon then read as nodata, so tiles mostly outside the polygons are skipped (as the plugin's "selected
polygons" extent does). The mask is rasterised per window, never for the whole scene. Per band:

* on the target grid → a plain windowed read;
* S2 band aligned with the target grid at an integer factor ``f`` (20 m: 2, 60 m: 6) with ``nearest``
  upsampling → the native window is read once and each pixel repeated ``f × f`` (output pixel ``i`` takes
  native pixel ``i // f``: exactly the training loader's nearest upsampling);
* anything else (``bilinear`` upsampling, S1 on any other CRS or grid) → a rasterio ``WarpedVRT`` onto the
  target grid (S2: the model's upsampling; S1: bilinear).

Nodata of each file (S2 0, S1 NaN or the file's nodata) becomes NaN; so does everything outside a file.
S1 must be in dB: with ``s1_units="auto"`` a decimated sample of each S1 band that looks like linear power
is refused (:mod:`~mosaic.backend.inference.s1_units`); ``"linear"`` converts every window with
``10 · log10``; ``"db"`` takes the values as they are.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.features import geometry_mask
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window as RioWindow
from rasterio.windows import from_bounds

from .errors import InputError, OutputError
from .inference import (
    LABEL_NODATA,
    ModalitySpec,
    OutputBlock,
    TileResult,
    Window,
    confidence,
    confidence_qml,
    label_bitmask,
    labels_qml,
    output_geotransform,
    probabilities_qml,
    recognise_band,
    tile_polygon,
    top_class,
)
from .inference.bandnames import KNOWN_BANDS
from .inference.metadata import ModelMetadata
from .inference.s1_units import UNITS, refuse_linear, to_db

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img")
#: GDAL settings for prediction: a modest block cache (MB) so memory stays flat on large rasters.
GDAL_ENV = {"GDAL_CACHEMAX": 64, "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class BandSource:
    """Where one model band is read: file and 1-based band index."""

    band: str
    path: Path
    index: int


def _open(path: Path):
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"cannot read raster {path}: {str(exc).splitlines()[0]}; check the file.") from None


def resolve_bands(paths: Sequence[str | os.PathLike], bands: Sequence[str], modality: str) -> list[BandSource]:
    """Map each model band to a file: one stacked raster in model order, a folder, or single-band files.

    File names are recognised with :func:`~mosaic.backend.inference.recognise_band` (``..._B02.tif``, ``B8A.tif``,
    ``..._VV.tif``). A stacked raster must hold exactly ``len(bands)`` bands: in the order its band descriptions
    name (e.g. ``B02``) when they name every band, else in the model's order.
    """
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise InputError(f"{modality} input {p} does not exist.")
    if len(paths) == 1 and paths[0].is_dir():
        paths = sorted(f for f in paths[0].iterdir() if f.suffix.lower() in RASTER_SUFFIXES)
        if not paths:
            raise InputError(f"the {modality} folder holds no raster files ({', '.join(RASTER_SUFFIXES)}).")
    if len(paths) == 1:
        with _open(paths[0]) as src:
            count, described = src.count, [recognise_band(d or "", bands) for d in src.descriptions]
        if count == len(bands):
            if sorted(filter(None, described)) == sorted(bands):  # band descriptions name every band: use them
                return [BandSource(b, paths[0], described.index(b) + 1) for b in bands]
            return [BandSource(b, paths[0], i + 1) for i, b in enumerate(bands)]
        if count > 1:
            raise InputError(
                f"{paths[0].name} holds {count} bands but the model needs {len(bands)} {modality} bands "
                f"({', '.join(bands)}) in this order."
            )
    found: dict[str, Path] = {}
    unknown = []
    for p in paths:
        band = recognise_band(p.name, bands)
        if band is None:
            if recognise_band(p.name, KNOWN_BANDS) is None:  # another band (e.g. B01) is fine: not used
                unknown.append(p.name)
            continue
        if band in found:
            raise InputError(f"{modality} band {band} is given twice ({found[band].name}, {p.name}); keep one.")
        found[band] = p
    missing = [b for b in bands if b not in found]
    if missing:
        unnamed = f" (no band name recognised in {', '.join(unknown[:3])}{', …' if len(unknown) > 3 else ''})"
        raise InputError(
            f"{modality} band(s) {', '.join(missing)} not found{unnamed if unknown else ''}; name files like "
            f"..._{missing[0]}.tif or give one raster with the bands {', '.join(bands)} in this order."
        )
    return [BandSource(b, found[b], 1) for b in bands]


def _aoi_polygons(aoi: str | os.PathLike, crs) -> list:
    """The AOI's polygons (shapely, in ``crs``); one clear error for unreadable, empty or non-polygon layers."""
    import geopandas as gpd

    try:
        shapes = gpd.read_file(aoi)
    except Exception as exc:  # pyogrio raises its own DataSourceError / OSError types
        raise InputError(f"cannot read the AOI {aoi}: {str(exc).splitlines()[0]}.") from None
    if shapes.crs is None:
        raise InputError(f"the AOI {aoi} has no CRS; give a vector layer with polygons and a CRS.")
    geoms = [g for g in shapes.to_crs(crs).geometry if g is not None and not g.is_empty]
    polygons = [g if g.is_valid else g.buffer(0) for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        raise InputError(f"the AOI {aoi} holds no polygons; give a vector layer with polygons and a CRS.")
    return polygons


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


def read_sample(ds, index: int, nodata: float | None, size: int = 256) -> np.ndarray:
    """Band ``index`` of ``ds`` whole, decimated to at most ``size`` × ``size`` (nearest), float32, nodata as NaN."""
    shape = (min(ds.height, size), min(ds.width, size))
    try:
        a = ds.read(index, out_shape=shape, resampling=Resampling.nearest).astype(np.float32)
    except RasterioError as exc:
        reason = str(exc.__cause__ or exc).strip().splitlines()[0]
        raise InputError(f"reading {Path(ds.name).name} failed ({reason}); the file may be damaged.") from None
    if nodata is not None and not math.isnan(nodata):
        a[a == nodata] = np.nan
    return a


class _BandReader:
    """Reads one band on the target grid (see the module docstring for the three routes)."""

    def __init__(self, source: BandSource, spec: ModalitySpec, target, resampling: Resampling):
        self.source = source
        self.ds = _open(source.path)
        if source.index > self.ds.count:
            raise InputError(f"{source.path.name} has no band {source.index}.")
        self.nodata = self.ds.nodatavals[source.index - 1]
        if self.nodata is None and not math.isnan(spec.nodata):
            self.nodata = spec.nodata
        crs, transform, width, height = target
        if self.ds.crs is None:
            raise InputError(f"{source.path.name} has no CRS; georeference it first.")
        self.factor = self._aligned_factor(transform, crs, width, height)
        self.reader = self.ds
        if self.factor is None or (self.factor > 1 and resampling != Resampling.nearest):
            self.factor = 1
            self.reader = WarpedVRT(
                self.ds, crs=crs, transform=transform, width=width, height=height, resampling=resampling,
                src_nodata=self.nodata, nodata=self.nodata if self.nodata is not None else np.nan,
            )  # fmt: skip

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

    def read(self, window: Window, row0: int, col0: int) -> np.ndarray:
        """float32 ``[h, w]`` of ``window`` (target pixels, offset by the processed extent's ``row0, col0``)."""
        try:
            a = self._read(window.row_off + row0, window.col_off + col0, window.height, window.width)
        except RasterioError as exc:
            reason = str(exc.__cause__ or exc).strip().splitlines()[0]
            raise InputError(
                f"reading {self.source.path.name} failed ({reason}); the file may be truncated or damaged."
            ) from None
        if self.nodata is not None and not math.isnan(self.nodata):
            a[a == self.nodata] = np.nan
        return a

    def _read(self, r: int, c: int, height: int, width: int) -> np.ndarray:
        f = self.factor
        if f == 1:
            a = self.reader.read(self.source.index, window=RioWindow(c, r, width, height))
        else:
            nr0, nc0 = r // f, c // f
            nr1, nc1 = -(-(r + height) // f), -(-(c + width) // f)
            native = self.reader.read(self.source.index, window=RioWindow(nc0, nr0, nc1 - nc0, nr1 - nr0))
            a = native.repeat(f, axis=0).repeat(f, axis=1)
            a = a[r - nr0 * f : r - nr0 * f + height, c - nc0 * f : c - nc0 * f + width]
        return a.astype(np.float32, copy=False)

    def close(self) -> None:
        if self.reader is not self.ds:
            self.reader.close()
        self.ds.close()


class RasterioReader:
    """S2 + S1 on the S2 10 m grid (the engine's ``WindowReader``); use as a context manager."""

    def __init__(self, s2: Sequence[str | os.PathLike], s1: Sequence[str | os.PathLike], metadata: ModelMetadata,
                 aoi: str | os.PathLike | None = None, s1_units: str = "auto"):  # fmt: skip
        if s1_units not in UNITS:
            raise InputError(f"S1 units must be one of {', '.join(UNITS)}, not {s1_units!r}.")
        self._env = rasterio.Env(**GDAL_ENV)
        self._env.__enter__()
        self._bands: list[_BandReader] = []
        self.s1_linear = s1_units == "linear"
        try:
            self._setup(s2, s1, metadata, aoi)
            if s1_units == "auto":
                self._refuse_linear_s1()
        except (RasterioError, ValueError) as exc:
            self.close()
            raise InputError(f"cannot read the input rasters: {str(exc).splitlines()[0]}.") from None
        except BaseException:
            self.close()
            raise

    def _setup(self, s2, s1, metadata: ModelMetadata, aoi) -> None:
        s2_sources = resolve_bands(s2, metadata.s2.bands, "S2")
        s1_sources = resolve_bands(s1, metadata.s1.bands, "S1")
        finest = None
        for src in s2_sources:
            with _open(src.path) as ds:
                if finest is None or ds.res[0] < finest[0]:
                    finest = (ds.res[0], ds.crs, ds.transform, ds.width, ds.height)
        _, self.crs, full_transform, full_w, full_h = finest
        self._aoi = _aoi_polygons(aoi, self.crs) if aoi is not None else None
        if self._aoi is not None:
            win = _aoi_window(self._aoi, full_transform, full_w, full_h, aoi)
        else:
            win = RioWindow(0, 0, full_w, full_h)
        self.row0, self.col0 = int(win.row_off), int(win.col_off)
        self.width, self.height = int(win.width), int(win.height)
        self.transform = rasterio.windows.transform(win, full_transform)
        target = (self.crs, full_transform, full_w, full_h)
        up = Resampling[metadata.upsampling]
        self._s2 = [_BandReader(s, metadata.s2, target, up) for s in s2_sources]
        self._bands.extend(self._s2)
        self._s1 = [_BandReader(s, metadata.s1, target, Resampling.bilinear) for s in s1_sources]
        self._bands.extend(self._s1)
        extent = rasterio.windows.bounds(win, full_transform)
        for b in self._s1:
            if not _overlaps(transform_bounds(b.ds.crs, self.crs, *b.ds.bounds), extent):
                raise InputError(f"S1 raster {b.source.path.name} does not overlap the S2 extent; check the inputs.")

    def _refuse_linear_s1(self) -> None:
        """Stop when an S1 band looks like linear power (see :mod:`~mosaic.backend.inference.s1_units`)."""
        for b in self._s1:
            sample = read_sample(b.ds, b.source.index, b.nodata)
            refuse_linear(sample, f"S1 band {b.source.band} ({b.source.path.name})")

    @property
    def geotransform(self) -> tuple[float, ...]:
        """GDAL geotransform of the processed extent's 10 m grid."""
        return self.transform.to_gdal()

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """``(s2, s1)`` float32 ``[C, h, w]`` of ``window`` on the target grid, NaN = nodata."""
        s2 = np.stack([b.read(window, self.row0, self.col0) for b in self._s2])
        s1 = np.stack([b.read(window, self.row0, self.col0) for b in self._s1])
        if self.s1_linear:
            s1 = to_db(s1)
        if self._aoi is not None:
            outside = ~self.aoi_mask(window)
            s2[:, outside] = np.nan
            s1[:, outside] = np.nan
        return s2, s1

    def aoi_mask(self, window: Window) -> np.ndarray:
        """bool ``[h, w]``: True where the pixel centre lies inside an AOI polygon (all True without an AOI)."""
        if self._aoi is None:
            return np.ones((window.height, window.width), dtype=bool)
        transform = self.transform @ rasterio.Affine.translation(window.col_off, window.row_off)
        return geometry_mask(self._aoi, out_shape=(window.height, window.width), transform=transform, invert=True)

    def close(self) -> None:
        for b in self._bands:
            b.close()
        self._bands = []
        self._env.__exit__(None, None, None)

    def __enter__(self) -> RasterioReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# ---------------------------------------------------------------------------------------------- outputs

OUTPUT_NAMES = ("probabilities.tif", "labels.tif", "confidence.tif", "tiles.gpkg")
#: hidden work folder of a run in ``--out``: ``.mosaic-partial-<pid>-<random>``, renamed away on success
PARTIAL_PREFIX = ".mosaic-partial-"


def _remove_stale_partials(out_dir: Path) -> None:
    """Delete work folders left in ``out_dir`` by runs that were killed (their process no longer exists)."""
    for folder in out_dir.glob(f"{PARTIAL_PREFIX}*"):
        pid = folder.name[len(PARTIAL_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def _writing(path: Path):
    """Turn a failed write of ``path`` (full disk, file-size limit, I/O error) into one :class:`OutputError`.

    The reason is the OS's (``No space left on device``, ``File too large``) or, from GDAL, the first clause
    of its message (GDAL's SQLite errors run on for lines).
    """
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        yield
    except (OSError, RasterioError, DataLayerError, DataSourceError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc.__cause__ or exc).strip().splitlines()[0].split(": ")[0]
        raise OutputError(
            f"writing {path.name} in {path.parent.parent} failed ({reason}); free some space or choose another "
            "--out. Nothing was kept."
        ) from None


class GeoTiffSink:
    """Writes output blocks into one GeoTIFF; ``convert(block) -> [bands, h, w]`` makes the band values."""

    def __init__(self, path: Path, profile: dict, convert: Callable[[OutputBlock], np.ndarray],
                 descriptions: Sequence[str]):  # fmt: skip
        self.convert, self.path = convert, path
        with _writing(path):
            self.ds = rasterio.open(path, "w", **profile)
            for i, d in enumerate(descriptions, start=1):
                self.ds.set_band_description(i, d)

    def write_block(self, block: OutputBlock) -> None:
        a = self.convert(block)
        with _writing(self.path):
            self.ds.write(a, window=RioWindow(block.col_off, block.row_off, a.shape[2], a.shape[1]))

    def write_tiles(self, tiles: list[TileResult]) -> None:
        """Tiles go to the GeoPackage only."""

    def close(self) -> None:
        with _writing(self.path):
            self.ds.close()


class TilesSink:
    """One polygon per run tile in a GeoPackage layer, appended in chunks of ``chunk`` tiles (bounded memory)."""

    def __init__(self, path: Path, meta: ModelMetadata, geotransform: Sequence[float], crs, chunk: int = 2048):
        self.path, self.meta, self.gt, self.crs, self.chunk = path, meta, geotransform, crs, chunk
        self.rows: list[dict] = []
        self.written = False

    def write_block(self, block: OutputBlock) -> None:
        """Rasters only."""

    def write_tiles(self, tiles: list[TileResult]) -> None:
        names, th = self.meta.class_names, self.meta.thresholds
        for t in tiles:
            p = t.probabilities
            row = {"row": t.row, "col": t.col, "top_class": names[int(np.argmax(p))],
                   "labels": "; ".join(n for n, v, c in zip(names, p, th) if v >= c),
                   "confidence": float(p.max()), "geometry": tile_polygon(t.window, self.gt)}  # fmt: skip
            row.update({n: float(v) for n, v in zip(names, p)})
            self.rows.append(row)
        if len(self.rows) >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        import geopandas as gpd
        from shapely.geometry import Polygon

        if not self.rows and self.written:
            return
        columns = ["row", "col", "top_class", "labels", "confidence", *self.meta.class_names, "geometry"]
        frame = gpd.GeoDataFrame(
            [{**r, "geometry": Polygon(r["geometry"])} for r in self.rows], columns=columns, geometry="geometry",
            crs=self.crs,
        )  # fmt: skip
        with _writing(self.path):
            frame.to_file(self.path, driver="GPKG", layer="tiles", mode="a" if self.written else "w", engine="pyogrio")
        self.rows, self.written = [], True

    def close(self) -> None:
        self._flush()


class PredictionOutputs:
    """The four outputs and their .qml styles, written in a hidden temporary folder inside ``out_dir`` and
    moved into place by :meth:`commit`; :meth:`abort` removes everything written."""

    def __init__(self, out_dir: str | os.PathLike, reader: RasterioReader, meta: ModelMetadata, stride: int,
                 overwrite: bool = False):  # fmt: skip
        self.out_dir = Path(out_dir)
        existing = [n for n in OUTPUT_NAMES if (self.out_dir / n).exists()]
        if existing and not overwrite:
            raise OutputError(f"{self.out_dir / existing[0]} exists already; pass --overwrite or choose another --out.")
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            _remove_stale_partials(self.out_dir)
            self.tmp = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{os.getpid()}-", dir=self.out_dir))
        except OSError as exc:
            raise OutputError(f"cannot write to {self.out_dir} ({exc.strerror}); choose another --out.") from None
        self.sinks: list = []
        try:
            self._open(reader, meta, stride)
        except BaseException:
            self.abort()
            raise

    def _open(self, reader: RasterioReader, meta: ModelMetadata, stride: int) -> None:
        gt = output_geotransform(reader.geotransform, stride)
        width, height = math.ceil(reader.width / stride), math.ceil(reader.height / stride)
        base = {"driver": "GTiff", "width": width, "height": height, "crs": reader.crs,
                "transform": rasterio.Affine.from_gdal(*gt), "compress": "deflate"}  # fmt: skip
        n = meta.n_classes
        th = meta.thresholds
        self.sinks = [
            GeoTiffSink(self.tmp / "probabilities.tif", {**base, "count": n, "dtype": "float32", "nodata": np.nan},
                        lambda b: b.probabilities, meta.class_names),
            GeoTiffSink(self.tmp / "labels.tif", {**base, "count": 2, "dtype": "uint32", "nodata": int(LABEL_NODATA)},
                        lambda b: np.stack([top_class(b.probabilities), label_bitmask(b.probabilities, th)]),
                        ("top class index", "multi-label set bitmask (bit c = class c)")),
            GeoTiffSink(self.tmp / "confidence.tif", {**base, "count": 1, "dtype": "float32", "nodata": np.nan},
                        lambda b: confidence(b.probabilities)[None], ("max class probability",)),
            TilesSink(self.tmp / "tiles.gpkg", meta, reader.geotransform, reader.crs),
        ]  # fmt: skip
        styles = {"labels.qml": labels_qml(meta.class_names, meta.class_colors), "confidence.qml": confidence_qml(),
                  "probabilities.qml": probabilities_qml(meta.class_names)}  # fmt: skip
        for name, text in styles.items():
            with _writing(self.tmp / name):
                (self.tmp / name).write_text(text, encoding="utf-8")

    def commit(self) -> list[Path]:
        """Close the files and move them (and their styles) into ``out_dir``; returns the final paths."""
        for s in self.sinks:
            s.close()
        final = []
        for f in sorted(self.tmp.iterdir()):
            os.replace(f, self.out_dir / f.name)
            final.append(self.out_dir / f.name)
        self.tmp.rmdir()
        return final

    def abort(self) -> None:
        """Close and delete everything written so far."""
        for s in self.sinks:
            with contextlib.suppress(Exception):  # best effort: the folder is removed next
                s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

"""Headless output sinks of ``mosaic predict``: the catalogue's rasters with rasterio, its tiles with pyogrio.

What is written (files, dtypes, nodata, band descriptions, styles, tile fields, tags) comes from
:func:`~mosaic.backend.inference.outputs.output_catalogue`; this module only writes it, all in a hidden work
folder inside ``--out`` that is moved into place at the end. Each raster is written row block by row block into a
work GeoTIFF there (:data:`~mosaic.backend.inference.outputs.GEOTIFF_OPTIONS`: one-row strips) and copied to its
Cloud-Optimised GeoTIFF (GDAL's COG driver) when the run is complete.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError  # what rasterio.shutil.copy raises: GDAL's error, not a RasterioError
from rasterio.errors import RasterioError
from rasterio.windows import Window as RioWindow

from ..errors import OutputError
from ..inference import OutputBlock, TileResult, output_geotransform, tile_polygon
from ..inference.metadata import ModelMetadata
from ..inference.outputs import (
    FILE_NAMES,
    GEOPACKAGE_OPTIONS,
    GEOTIFF_OPTIONS,
    RasterProduct,
    TilesProduct,
    output_catalogue,
)
from .reader import RasterioReader

#: hidden work folder of a run in ``--out``: ``.mosaic-partial-<pid>-<random>``, renamed away on success
PARTIAL_PREFIX = ".mosaic-partial-"
#: numpy dtype of each tile field kind (int32 → GeoPackage Integer, as OGR's OFTInteger)
_FIELD_DTYPES = {"int": np.int32, "str": object, "float": np.float64}


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
    except (OSError, RasterioError, CPLE_BaseError, DataLayerError, DataSourceError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc.__cause__ or exc).strip().splitlines()[0].split(": ")[0]
        raise OutputError(
            f"writing {path.name} in {path.parent.parent} failed ({reason}); free some space or choose another "
            "--out. Nothing was kept."
        ) from None


def work_profile(width: int, height: int, crs, transform, options: Mapping[str, str] = GEOTIFF_OPTIONS) -> dict:
    """rasterio's profile of a raster's work GeoTIFF (``width`` × ``height`` cells, less the product's count, dtype
    and nodata): GTiff with the creation ``options`` (GDAL spelling; rasterio takes them as lower-case keywords)."""
    return {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "crs": crs,
        "transform": transform,
        **{k.lower(): v for k, v in options.items()},
    }


class GeoTiffSink:
    """Writes one raster product of the catalogue: its bands, descriptions, nodata and the run's tags, block by
    block into the work GeoTIFF ``.<stem>.blocks.tif`` beside ``path``; :meth:`finish` makes ``path`` the COG."""

    def __init__(self, path: Path, product: RasterProduct, base_profile: dict, tags: Mapping[str, str]):
        self.product, self.path = product, path
        self.blocks = path.with_name(f".{path.stem}.blocks{path.suffix}")
        profile = {
            **base_profile,
            "count": len(product.band_descriptions),
            "dtype": product.dtype,
            "nodata": product.nodata,
        }
        with _writing(path):
            self.ds = rasterio.open(self.blocks, "w", **profile)
            for i, d in enumerate(product.band_descriptions, start=1):
                self.ds.set_band_description(i, d)
            self.ds.update_tags(**tags)

    def write_block(self, block: OutputBlock) -> None:
        a = self.product.values(block)
        with _writing(self.path):
            self.ds.write(a, window=RioWindow(block.col_off, block.row_off, a.shape[2], a.shape[1]))

    def write_tiles(self, tiles: list[TileResult]) -> None:
        """Tiles go to the GeoPackage only."""

    def close(self) -> None:
        with _writing(self.path):
            self.ds.close()

    def finish(self) -> None:
        """Close the work file and copy it to ``path`` as a Cloud-Optimised GeoTIFF (overviews included)."""
        self.close()
        with _writing(self.path):
            rasterio.shutil.copy(self.blocks, self.path, driver="COG", **self.product.cog_options())
        self.blocks.unlink()


class TilesSink:
    """The catalogue's tile records as polygons in a GeoPackage layer, appended in chunks of ``chunk`` tiles."""

    def __init__(self, path: Path, product: TilesProduct, geotransform: Sequence[float], crs, chunk: int = 2048):
        self.path, self.product, self.gt, self.crs, self.chunk = path, product, geotransform, crs, chunk
        self.rows: list[dict] = []
        self.written = False

    def write_block(self, block: OutputBlock) -> None:
        """Rasters only."""

    def write_tiles(self, tiles: list[TileResult]) -> None:
        self.rows.extend({**self.product.record(t), "geom": tile_polygon(t.window, self.gt)} for t in tiles)
        if len(self.rows) >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        import geopandas as gpd
        import pandas as pd
        from shapely.geometry import Polygon

        if not self.rows and self.written:
            return
        data = {
            name: pd.Series([r[name] for r in self.rows], dtype=_FIELD_DTYPES[kind])
            for name, kind in self.product.fields
        }
        geometry = [Polygon(r["geom"]) for r in self.rows]
        frame = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=self.crs), crs=self.crs)
        with _writing(self.path):
            frame.to_file(
                self.path,
                driver="GPKG",
                layer=self.product.layer,
                mode="a" if self.written else "w",
                engine="pyogrio",
                dataset_options=None if self.written else GEOPACKAGE_OPTIONS,
            )
        self.rows, self.written = [], True

    def close(self) -> None:
        self._flush()

    finish = close


class PredictionOutputs:
    """The catalogue's four outputs and their .qml styles, written in a hidden temporary folder inside ``out_dir``
    and moved into place by :meth:`commit`; :meth:`abort` removes everything written.

    ``model_path`` names the model in the rasters' ``MOSAIC_MODEL`` tag; ``tags`` are added to every raster's
    dataset-level metadata (see :func:`~mosaic.backend.inference.outputs.output_tags`).
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        reader: RasterioReader,
        meta: ModelMetadata,
        stride: int,
        overwrite: bool = False,
        model_path: str | os.PathLike | None = None,
        tags: Mapping[str, str] | None = None,
    ):
        self.catalogue = output_catalogue(meta, model_path, tags)
        self.out_dir = Path(out_dir)
        existing = [n for n in FILE_NAMES.values() if (self.out_dir / n).exists()]
        if existing and not overwrite:
            raise OutputError(f"{self.out_dir / existing[0]} exists already; pass --overwrite or choose another --out.")
        #: the outermost folder this run creates (removed again by :meth:`abort`: a refusal leaves no empty --out)
        self.created = next((p for p in reversed([self.out_dir, *self.out_dir.parents]) if not p.exists()), None)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            _remove_stale_partials(self.out_dir)
            self.tmp = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{os.getpid()}-", dir=self.out_dir))
        except OSError as exc:
            raise OutputError(f"cannot write to {self.out_dir} ({exc.strerror}); choose another --out.") from None
        self.sinks: list = []
        try:
            self._open(reader, stride)
        except BaseException:
            self.abort()
            raise

    def _open(self, reader: RasterioReader, stride: int) -> None:
        gt = output_geotransform(reader.geotransform, stride)
        width, height = math.ceil(reader.width / stride), math.ceil(reader.height / stride)
        base = work_profile(width, height, reader.crs, rasterio.Affine.from_gdal(*gt))
        catalogue = self.catalogue
        self.sinks = [GeoTiffSink(self.tmp / r.file_name, r, base, catalogue.tags) for r in catalogue.rasters]
        tiles = catalogue.tiles
        self.sinks.append(TilesSink(self.tmp / tiles.file_name, tiles, reader.geotransform, reader.crs))
        for r in catalogue.rasters:
            for style, qml in r.styles(self.tmp / r.file_name):
                with _writing(style):
                    style.write_text(qml, encoding="utf-8")

    def commit(self) -> list[Path]:
        """Finish the files (the rasters become COGs) and move them and their styles into ``out_dir``; returns the
        final paths."""
        for s in self.sinks:
            s.finish()
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
        if self.created is not None:
            with contextlib.suppress(OSError):  # only while empty: nothing but this run's own folders
                for folder in [self.out_dir, *self.out_dir.parents]:
                    folder.rmdir()
                    if folder == self.created:
                        break

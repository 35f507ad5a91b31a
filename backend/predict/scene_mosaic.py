"""The mosaic of many scenes' outputs (``mosaic predict --scenes``): per raster product a GDAL VRT over the scenes'
files and its Cloud-Optimised GeoTIFF, in ``OUT/mosaic/``.

Grid: the CRS and cell size of the first scene's rasters, its origin snapped outwards to the union of every scene's
bounds (``x0 = ox + floor((min_x − ox) / dx) · dx``, likewise for the other edges), so scenes on the first scene's
grid (one tiling of one S2 tile) are placed cell for cell. A scene in another CRS enters through a warped VRT
(``OUT/mosaic/warped/<scene>.<product>.vrt``, nearest neighbour, so labels stay labels) onto the mosaic grid. Where
scenes overlap the later one in the scene list wins except on its nodata cells. Every source path in a VRT is
relative to it, so ``OUT`` can be moved. The COG is GDAL's COG driver copy of the VRT with the product's options
(:meth:`~.inference.outputs.RasterProduct.cog_options`); the scenes' ``.qml`` styles are copied beside both.

``OUT/mosaic/tiles.gpkg`` holds every scene's tile polygons, reprojected to the mosaic's CRS, in scene order, with
the scene's name in a first field ``scene`` (a GeoPackage 1.2 like the scenes' own).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import rasterio
import rasterio.shutil
from pyogrio.errors import DataLayerError, DataSourceError
from rasterio._err import CPLE_BaseError  # what rasterio.shutil.copy raises
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from ..atomic import atomic_write
from ..errors import OutputError
from ..inference.outputs import GEOPACKAGE_OPTIONS, OutputCatalogue, TilesProduct

MOSAIC_DIR = "mosaic"
WARPED_DIR = "warped"
_GDAL_TYPES = {"float32": "Float32", "uint32": "UInt32", "uint8": "Byte", "uint16": "UInt16"}


def _grid(first: Path, files: Sequence[Path]) -> tuple[rasterio.crs.CRS, rasterio.Affine, int, int]:
    """CRS, transform, width and height of the mosaic of ``files`` on the grid of ``first``."""
    with rasterio.open(first) as ds:
        crs, t = ds.crs, ds.transform
    dx, dy = t.a, -t.e
    bounds = []
    for f in files:
        with rasterio.open(f) as ds:
            bounds.append(ds.bounds if ds.crs == crs else transform_bounds(ds.crs, crs, *ds.bounds, densify_pts=21))
    left = t.c + math.floor((min(b[0] for b in bounds) - t.c) / dx + 1e-9) * dx
    top = t.f - math.floor((t.f - max(b[3] for b in bounds)) / dy + 1e-9) * dy
    width = math.ceil((max(b[2] for b in bounds) - left) / dx - 1e-9)
    height = math.ceil((top - min(b[1] for b in bounds)) / dy - 1e-9)
    return crs, rasterio.Affine(dx, 0, left, 0, -dy, top), width, height


def _relative(path: Path, vrt: Path) -> str:
    return Path(os.path.relpath(path, vrt.parent)).as_posix()


def _warped_vrt(src_path: Path, dst: Path, crs, transform, width: int, height: int) -> None:
    """A VRT warping ``src_path`` onto the mosaic grid (nearest neighbour), its source path relative to ``dst``."""
    with rasterio.open(src_path) as src:
        grid = {"crs": crs, "transform": transform, "width": width, "height": height, "nodata": src.nodata}
        with WarpedVRT(src, resampling=Resampling.nearest, **grid) as vrt:
            rasterio.shutil.copy(vrt, dst, driver="VRT")
    text = re.sub(
        r'<SourceDataset relativeToVRT="0">[^<]*</SourceDataset>',
        f'<SourceDataset relativeToVRT="1">{_relative(src_path, dst)}</SourceDataset>',
        dst.read_text(encoding="utf-8"),
    )
    dst.write_text(text, encoding="utf-8")


def _nodata_text(value: float) -> str:
    return "nan" if math.isnan(value) else repr(int(value)) if float(value).is_integer() else repr(value)


def _mosaic_vrt(files: Sequence[Path], vrt: Path, crs, transform, width: int, height: int) -> None:
    """Write the VRT of ``files`` (one product's rasters, in drawing order) on the given grid to ``vrt``."""
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS").text = crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(v) for v in transform.to_gdal())
    with rasterio.open(files[0]) as first:  # the bands as written (the catalogue of the model that wrote them)
        descriptions, dtype, nodata = first.descriptions, first.dtypes[0], _nodata_text(first.nodata)
    bands = []
    for i, description in enumerate(descriptions, start=1):
        band = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPES[dtype], band=str(i))
        ET.SubElement(band, "Description").text = description
        ET.SubElement(band, "NoDataValue").text = nodata
        bands.append(band)
    for f in files:
        with rasterio.open(f) as ds:
            same_grid = ds.crs == crs
            src_w, src_h, src_bounds, src_res = ds.width, ds.height, ds.bounds, ds.res
        if same_grid:
            source, rect = f, (src_w, src_h)
            dst_rect = (
                (src_bounds.left - transform.c) / transform.a,
                (transform.f - src_bounds.top) / -transform.e,
                src_w * src_res[0] / transform.a,
                src_h * src_res[1] / -transform.e,
            )
        else:
            source = vrt.parent / WARPED_DIR / f"{f.parent.name}.{f.stem}.vrt"
            source.parent.mkdir(exist_ok=True)
            _warped_vrt(f, source, crs, transform, width, height)
            rect, dst_rect = (width, height), (0, 0, width, height)
        for i, band in enumerate(bands, start=1):
            src = ET.SubElement(band, "ComplexSource")
            ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = _relative(source, vrt)
            ET.SubElement(src, "SourceBand").text = str(i)
            ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(rect[0]), ySize=str(rect[1]))
            ET.SubElement(
                src,
                "DstRect",
                xOff=repr(dst_rect[0]),
                yOff=repr(dst_rect[1]),
                xSize=repr(dst_rect[2]),
                ySize=repr(dst_rect[3]),
            )
            ET.SubElement(src, "NODATA").text = nodata
    ET.indent(root)
    ET.ElementTree(root).write(vrt, encoding="utf-8")


def _cog_copy(src: Path, dst: Path, options: dict) -> None:
    """``src`` as a Cloud-Optimised GeoTIFF at ``dst``."""
    rasterio.shutil.copy(src, dst, driver="COG", **options)


def _merged_tiles(out: Path, scene_dirs: Sequence[Path], tiles: TilesProduct, crs) -> None:
    """Write the tiles of every scene of ``scene_dirs`` (their ``tiles.gpkg``) in ``crs`` to ``out``, with a first
    field ``scene`` (the scene folder's name)."""
    import geopandas as gpd
    import pandas as pd

    frames = []
    for folder in scene_dirs:
        frame = gpd.read_file(folder / tiles.file_name, layer=tiles.layer, engine="pyogrio").to_crs(crs)
        frame.insert(0, "scene", folder.name)
        frames.append(frame)
    merged = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    atomic_write(
        out,
        lambda tmp: merged.to_file(
            tmp, driver="GPKG", layer=tiles.layer, engine="pyogrio", dataset_options=GEOPACKAGE_OPTIONS
        ),
    )


def build_mosaic(out_dir: Path, scene_dirs: Sequence[Path], catalogue: OutputCatalogue) -> list[Path]:
    """Write ``OUT/mosaic/<product>.vrt`` and ``<product>.tif`` (COG) and their styles for every raster product of
    ``catalogue``, and the merged ``tiles.gpkg``, for the scenes whose output folders are ``scene_dirs`` (in drawing
    order); returns the written paths. Earlier mosaic files are replaced."""
    folder = out_dir / MOSAIC_DIR
    shutil.rmtree(folder / WARPED_DIR, ignore_errors=True)
    folder.mkdir(exist_ok=True)
    written = []
    for product in catalogue.rasters:
        files = [d / product.file_name for d in scene_dirs]
        crs, transform, width, height = _grid(files[0], files)
        stem = Path(product.file_name).stem
        vrt, cog = folder / f"{stem}.vrt", folder / product.file_name
        try:
            atomic_write(vrt, partial(_mosaic_vrt, files, crs=crs, transform=transform, width=width, height=height))
            atomic_write(cog, partial(_cog_copy, vrt, options=product.cog_options()))
        except (OSError, RasterioError, CPLE_BaseError) as exc:
            raise OutputError(f"building the mosaic {product.file_name} in {folder} failed ({exc}).") from None
        for style in sorted(scene_dirs[0].glob(f"{stem}*.qml")):
            shutil.copyfile(style, folder / style.name)
            written.append(folder / style.name)
        written += [vrt, cog]
    tiles = folder / catalogue.tiles.file_name
    try:
        _merged_tiles(tiles, scene_dirs, catalogue.tiles, crs)
    except (OSError, DataLayerError, DataSourceError) as exc:
        raise OutputError(f"merging the scenes' {tiles.name} into {folder} failed ({exc}).") from None
    return [*written, tiles]

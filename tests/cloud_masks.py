"""Cloud layers over the real T33UUP mosaic, for the backend and plugin tests (plain Python: rasterio and numpy).

A binary mask on the mosaic's 10 m grid covers the 120 px tiles :data:`CLOUDY` whole and 10 % of :data:`SPECK`
(below the default cloudy fraction 0.3); the same clouds as a Sentinel-2 SCL layer (9 cloud high probability,
4 vegetation, 0 no data) reprojected to EPSG:4326 with nearest resampling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

P = 120  #: the models' patch size: tile (r, c) covers rows r·P… and cols c·P… of the mosaic
CLOUDY = ((1, 0), (2, 1))  #: (row, col) of the tiles under cloud
SPECK = (0, 1)  #: the tile with a 10 % cloud


def write_cloud_mask(mosaic: Path, path: Path) -> Path:
    """The binary mask (uint8, 1 = cloud, no nodata) on the grid of the mosaic's B02."""
    import rasterio

    with rasterio.open(next(mosaic.glob("S2A_*_B02.tif"))) as b02:
        profile = b02.profile | {"dtype": "uint8", "nodata": None, "count": 1}
    mask = np.zeros((profile["height"], profile["width"]), dtype=np.uint8)
    for r, c in CLOUDY:
        mask[r * P : (r + 1) * P, c * P : (c + 1) * P] = 1
    mask[SPECK[0] * P : SPECK[0] * P + 12, SPECK[1] * P : (SPECK[1] + 1) * P] = 1
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(mask, 1)
    return path


def write_scl_4326(mask_path: Path, path: Path) -> Path:
    """The mask at ``mask_path`` as an SCL layer in EPSG:4326 (nearest; 0 = no data outside the mosaic)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject

    with rasterio.open(mask_path) as src:
        scl = np.where(src.read(1) == 1, 9, 4).astype(np.uint8)
        transform, width, height = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height, *src.bounds)
        out = np.zeros((height, width), dtype=np.uint8)
        reproject(
            scl,
            out,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs="EPSG:4326",
            resampling=Resampling.nearest,
            src_nodata=0,
            dst_nodata=0,
        )
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "nodata": 0,
        "crs": "EPSG:4326",
        "transform": transform,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(out, 1)
    return path

"""Real scenes for the ``--scenes`` tests: the T33UUP mosaic cut into parts with rasterio windows, and SSL4EO."""

from __future__ import annotations

from pathlib import Path

import rasterio
from rasterio.windows import Window

#: rows of the T33UUP mosaic's 10 m grid (480 px, 4 patches of 120 px) in each part: patch rows 87–88 and 89–90
PARTS = {"t33uup_north": (0, 240), "t33uup_south": (240, 480)}


def cut_part(mosaic: Path, rows: tuple[int, int], folder: Path) -> Path:
    """Copy rows ``rows`` (of the 10 m grid) of every band file of ``mosaic`` into ``folder``, same file names; the
    20 m and 60 m bands are cut at the same ground rows (``rows / 2``, ``rows / 6``)."""
    folder.mkdir(parents=True)
    for src_path in sorted(mosaic.glob("S*.tif")):
        with rasterio.open(src_path) as src:
            factor = round(src.res[1] / 10)
            window = Window(0, rows[0] // factor, src.width, (rows[1] - rows[0]) // factor)
            profile = src.profile | {"height": window.height, "transform": src.window_transform(window)}
            with rasterio.open(folder / src_path.name, "w", **profile) as dst:
                dst.write(src.read(window=window))
                dst.update_tags(**src.tags())
                dst.descriptions = src.descriptions
    return folder


def ssl4eo_pair(shared_data: Path) -> tuple[Path, Path]:
    """The first SSL4EO-S12 S2 L2A product and the first S1 product of location 0000200 (folders of band files)."""
    root = shared_data / "ssl4eo-s12-sample"
    return sorted((root / "s2a" / "0000200").iterdir())[0], sorted((root / "s1" / "0000200").iterdir())[0]

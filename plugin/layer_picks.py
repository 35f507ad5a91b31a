"""Which layers the dock offers by default, and how a layer is named in its band mapping table.

QGIS's layer pickers list layers alphabetically, so after loading the 14 band files of a scene both pickers would show
``S1_…_VH`` first. :func:`preferred_layer` picks, for the S2 picker, the layer holding the most Sentinel-2 bands (a
stack before a single band file, the 10 m ``B02`` file first among single bands) and, for the S1 picker, the layer
holding VV and VH (or VV). Band names are recognised as the engine's band resolver recognises them (band
descriptions, layer and file names).
"""

from __future__ import annotations

import re
from pathlib import Path

from qgis.core import QgsRasterLayer

S2_FIRST = ("B02", "B03", "B04", "B08")  #: 10 m bands: the grid the engine reads on
S1_FIRST = ("VV", "VH")
_DATE = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?:T\d{6})?(?!\d)")  #: 20170613 or 20170613T101031
_TILE = re.compile(r"^T?\d{2}[A-Z]{3}$")  #: an MGRS tile: T33UUP or 33UUP
_MISSION = re.compile(r"^(S[12][ABCD]?)$")
SHORT_NAME_CHARS = 24  #: names up to this length are shown as they are


def layer_bands(layer: QgsRasterLayer) -> list[str | None]:
    """The band name each band of ``layer`` carries (``B02``, ``VV``…, None where none is recognised)."""
    from ..backend.inference.band_resolver import band_name
    from .band_mapping import raster_info

    info = raster_info(layer)
    return [band_name(info, band) for band in range(1, info.count + 1)]


def preferred_layer(layers: list[QgsRasterLayer], modality: str) -> QgsRasterLayer | None:
    """The layer the ``modality`` ("S2" or "S1") picker offers first, or None when no layer holds such bands."""
    first = S2_FIRST if modality == "S2" else S1_FIRST
    best, best_rank = None, None
    for order, layer in enumerate(layers):
        names = [n for n in layer_bands(layer) if n is not None and is_modality(n, modality)]
        if not names:
            continue
        rank = (-len(names), min((first.index(n) for n in names if n in first), default=len(first)), order)
        if best_rank is None or rank < best_rank:
            best, best_rank = layer, rank
    return best


def is_modality(band: str, modality: str) -> bool:
    """Whether the recognised band name ``band`` is a ``modality`` band (S1: VV, VH, HH, HV; S2: the rest)."""
    radar = band in ("VV", "VH", "HH", "HV")
    return radar if modality == "S1" else not radar


def short_name(name: str, band: str | None = None) -> str:
    """A layer name an analyst can read in a narrow table: long Sentinel product names shortened to mission, tile
    and date (``S2A_MSIL2A_20170613T101031_…_T33UUP_…_B02`` → ``S2A T33UUP 2017-06-13``); the band itself is left
    out when it is ``band`` (shown beside it). Other long names keep their start and end."""
    stem = Path(name).stem if name.lower().endswith((".tif", ".tiff", ".jp2", ".vrt")) else name
    if len(stem) <= SHORT_NAME_CHARS:
        return stem
    tokens = [t for t in re.split(r"[_\s]+", stem) if t]
    parts = []
    if tokens and _MISSION.match(tokens[0]):
        parts.append(tokens[0])
    tile = next((t for t in tokens if _TILE.match(t)), None)
    if tile:
        parts.append(tile)
    date = _DATE.search(stem)
    if date:
        parts.append("-".join(date.groups()))
    last = tokens[-1] if tokens else ""
    if last and last != band and last not in parts:
        parts.append(last)
    if len(parts) >= 2:
        return " ".join(parts)
    half = SHORT_NAME_CHARS // 2
    return f"{stem[:half]}…{stem[-half:]}"

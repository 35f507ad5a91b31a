"""Recognise band names in band descriptions and file names.

Spellings: ``B02``, ``B2``, ``b8a`` (→ ``B8A``), ``VV``/``VH``/``HH``/``HV``, and the STAC ``eo:common_name`` of each
Sentinel-2 band (``blue`` → ``B02``, ``nir08`` → ``B8A``; see :data:`COMMON_NAMES`). A text is split into tokens at
``_ - . , ; : ( ) [ ]`` and spaces; the last token naming a band wins (``..._B02.tif``, ``B8A.tif``, ``B2 (blue)``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKEN = re.compile(r"B([0-9]{1,2})(A?)|(VV|VH|HH|HV)")  #: ASCII digits only: "B٢" is not B02
#: every Sentinel-2 MSI and Sentinel-1 polarisation band name
KNOWN_BANDS = (*(f"B{i:02d}" for i in range(1, 13)), "B8A", "VV", "VH", "HH", "HV")
#: STAC electro-optical extension common names of the Sentinel-2 MSI bands
COMMON_NAMES = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "cirrus": "B10",
    "swir16": "B11",
    "swir22": "B12",
}
_SPLIT = re.compile(r"[_\-. ,;:()\[\]]+")  #: separators between tokens (not line breaks: "B02\n" is no band)


def normalise_band_token(token: str) -> str | None:
    """``"b2"`` → ``"B02"``, ``"B8a"`` → ``"B8A"``, ``"vv"`` → ``"VV"``, ``"nir08"`` → ``"B8A"``; None otherwise."""
    common = COMMON_NAMES.get(token.lower()) if token.isascii() else None
    if common is not None:
        return common
    m = _TOKEN.fullmatch(token.upper())  # fullmatch: "B02\n" is no band
    if not m:
        return None
    if m.group(3):
        return m.group(3)
    return f"B{int(m.group(1)):02d}" if not m.group(2) else f"B{int(m.group(1))}A"


def recognise_band(filename: str, bands: Sequence[str]) -> str | None:
    """The band of ``bands`` named in ``filename`` (a band description, a name or a POSIX/Windows path; the last
    token of the file name that names one of ``bands`` wins, case-insensitive), or None."""
    stem = re.sub(r"\.(tiff?|jp2|vrt|img)$", "", re.split(r"[/\\]", filename)[-1], flags=re.IGNORECASE)
    for token in reversed(_SPLIT.split(stem)):
        band = normalise_band_token(token)
        if band in bands:
            return band
    return None

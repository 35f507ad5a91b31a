"""Recognise band names in file names: ``..._B02.tif``, ``B8A.tif``, ``B2.tif`` (→ ``B02``), ``..._VV.tif``."""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKEN = re.compile(r"B([0-9]{1,2})(A?)|(VV|VH|HH|HV)")  #: ASCII digits only: "B٢" is not B02
#: every Sentinel-2 MSI and Sentinel-1 polarisation band name
KNOWN_BANDS = (*(f"B{i:02d}" for i in range(1, 13)), "B8A", "VV", "VH", "HH", "HV")


def normalise_band_token(token: str) -> str | None:
    """``"b2"`` → ``"B02"``, ``"B8a"`` → ``"B8A"``, ``"vv"`` → ``"VV"``; None when not a band name."""
    m = _TOKEN.fullmatch(token.upper())  # fullmatch: "B02\n" is no band
    if not m:
        return None
    if m.group(3):
        return m.group(3)
    return f"B{int(m.group(1)):02d}" if not m.group(2) else f"B{int(m.group(1))}A"


def recognise_band(filename: str, bands: Sequence[str]) -> str | None:
    """The band of ``bands`` named in ``filename`` (a name or a POSIX/Windows path; last matching
    ``_``/``-``/``.``/space-separated token of the file name wins, case-insensitive), or None."""
    stem = re.sub(r"\.(tiff?|jp2|vrt|img)$", "", re.split(r"[/\\]", filename)[-1], flags=re.IGNORECASE)
    for token in reversed(re.split(r"[_\-. ]+", stem)):
        band = normalise_band_token(token)
        if band in bands:
            return band
    return None

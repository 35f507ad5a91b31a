"""What an S2 input says about its product: processing baseline, level, DN offset and quantification.

ESA: ``reflectance = (DN + BOA_ADD_OFFSET) / QUANTIFICATION_VALUE`` with ``QUANTIFICATION_VALUE = 10000``; from
processing baseline 04.00 (products generated since 25 January 2022, and reprocessed "Collection-1" products,
baseline 05.xx, of older dates) ``BOA_ADD_OFFSET = −1000`` (L1C: ``RADIO_ADD_OFFSET``), before it 0.

Read, most direct first, for each S2 file: its GDAL metadata (``BOA_ADD_OFFSET*``, ``QUANTIFICATION_VALUE``,
``PROCESSING_BASELINE``, as GDAL's SENTINEL2 driver and some exporters write them); ``MTD_MSIL2A.xml`` /
``MTD_MSIL1C.xml`` of the ``.SAFE`` folder or zip the file sits in; a JSON sidecar in its folder (a STAC item:
``s2:processing_baseline``, ``earthsearch:boa_offset_applied``, ``s2:product_uri``; or an Earth Engine property
dump: ``PROCESSING_BASELINE``, ``PRODUCT_ID``); the product name in the file's path or layer name
(``S2B_MSIL2A_20240612T101031_N0510_R022_…``; ``N9999``, as BigEarthNet and Major-TOM write, says nothing).
XML is read with regular expressions (no XML parser on untrusted files).
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .rasters import RasterInfo

OFFSET_SINCE = (4, 0)  #: the first processing baseline with BOA_ADD_OFFSET = −1000
_PRODUCT = re.compile(r"S2[A-D]_MSI(L1C|L2A)_\d{8}T\d{6}_N(\d{4})_", re.IGNORECASE)
_DATASTRIP = re.compile(r"_N(\d{2})\.(\d{2})(?![0-9])")  #: ``..._N05.09`` in datastrip / datatake ids
_LEVEL = re.compile(r"MSI(L1C|L2A)", re.IGNORECASE)
_MAX_SIDECAR_BYTES = 2_000_000


@dataclass(frozen=True)
class ProductFacts:
    """What one source says: ``baseline`` ``(major, minor)``, ``add_offset`` (DN, ESA sign: −1000 or 0),
    ``quantification`` (10000), ``level`` (``L1C``/``L2A``), each None when it says nothing; ``source`` names it."""

    source: str
    baseline: tuple[int, int] | None = None
    add_offset: float | None = None
    quantification: float | None = None
    level: str | None = None
    offset_applied: bool | None = None  #: a STAC item's ``earthsearch:boa_offset_applied``

    @property
    def offset(self) -> float | None:
        """The BOA_ADD_OFFSET the stored DNs carry (−1000 or 0), or None when this source does not say."""
        if self.offset_applied:
            return 0.0
        if self.add_offset is not None:
            return self.add_offset
        if self.baseline is not None:
            return -1000.0 if self.baseline >= OFFSET_SINCE else 0.0
        return None

    def describe(self) -> str:
        if self.baseline is not None:
            return f"processing baseline {self.baseline[0]:02d}.{self.baseline[1]:02d} ({self.source})"
        return self.source


def _baseline(text: str) -> tuple[int, int] | None:
    """``"05.09"``/``"0509"``/``"5.09"`` → ``(5, 9)``; ``"9999"`` (unknown) and junk → None."""
    m = re.fullmatch(r"\s*(\d{1,2})\.?(\d{2})\s*", str(text))
    if not m or m.group(1) + m.group(2) in ("9999", "99.99"):
        return None
    return int(m.group(1)), int(m.group(2))


def from_name(text: str) -> ProductFacts | None:
    """Facts in a product name inside ``text`` (a path or a layer name)."""
    m = _PRODUCT.search(text)
    if m:
        return ProductFacts(f"product name {m.group(0).rstrip('_')}", _baseline(m.group(2)), level=m.group(1).upper())
    level = _LEVEL.search(text)
    if level:
        return ProductFacts(f"product name ({level.group(0)})", level=level.group(1).upper())
    return None


def from_tags(tags: dict[str, str], name: str) -> ProductFacts | None:
    """Facts in GDAL metadata items of the file ``name``."""
    upper = {str(k).upper(): str(v) for k, v in tags.items()}
    offsets = [float(v) for k, v in upper.items() if re.fullmatch(r"(BOA|RADIO)_ADD_OFFSET(_B\w+)?", k) and _num(v)]
    quant = next(
        (float(upper[k]) for k in ("BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE") if _num(upper.get(k))), None
    )
    baseline = _baseline(upper.get("PROCESSING_BASELINE", ""))
    level = next((lv.group(1).upper() for v in upper.values() if (lv := _LEVEL.search(v))), None)
    if not (offsets or quant or baseline):
        return None
    add = offsets[0] if offsets and len(set(offsets)) == 1 else None
    return ProductFacts(f"GDAL metadata of {name}", baseline, add, quant, level)


def from_metadata_xml(text: str, source: str) -> ProductFacts:
    """Facts in the text of ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml``."""
    offsets = {float(v) for v in re.findall(r"<(?:BOA|RADIO)_ADD_OFFSET[^>]*>\s*(-?[\d.]+)\s*<", text)}
    quant = re.search(r"<(?:BOA_)?QUANTIFICATION_VALUE[^>]*>\s*([\d.]+)\s*<", text)
    baseline = re.search(r"<PROCESSING_BASELINE>\s*([\d.]+)\s*<", text)
    level = next(
        (
            lv
            for lv, words in (("L1C", ("Level-1C", "MSIL1C")), ("L2A", ("Level-2A", "MSIL2A")))
            if any(w in text for w in words)
        ),
        None,
    )
    add = offsets.pop() if len(offsets) == 1 else None  # none listed: the baseline decides (ProductFacts.offset)
    return ProductFacts(
        source, _baseline(baseline.group(1)) if baseline else None, add, float(quant.group(1)) if quant else None, level
    )


def from_sidecar(data: dict, source: str) -> ProductFacts | None:
    """Facts in a JSON sidecar: a STAC item (``properties``) or an Earth Engine property dump."""
    props = data.get("properties", data) if isinstance(data, dict) else {}
    if not isinstance(props, dict):
        return None
    baseline = None
    for key in ("s2:processing_baseline", "PROCESSING_BASELINE", "processing:version"):
        if key in props and (baseline := _baseline(str(props[key]))):
            break
    names = " ".join(str(props.get(k, "")) for k in ("s2:product_uri", "PRODUCT_ID", "DATASTRIP_ID", "id"))
    named = from_name(names)
    if baseline is None and named is not None:
        baseline = named.baseline
    if baseline is None and (m := _DATASTRIP.search(names)):
        baseline = _baseline(m.group(1) + m.group(2))
    applied = props.get("earthsearch:boa_offset_applied")
    level = named.level if named else None
    if baseline is None and applied is None and level is None:
        return None
    return ProductFacts(source, baseline, level=level, offset_applied=applied if isinstance(applied, bool) else None)


def _num(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _metadata_xml(path: str) -> ProductFacts | None:
    """``MTD_MSIL*.xml`` of the .SAFE folder (up to six folders up) or ``.SAFE.zip`` the file ``path`` is in."""
    if path.startswith("/vsizip/"):
        inner = path[len("/vsizip/") :]
        m = re.match(r"(.+?\.zip)(/.*)?$", inner, re.IGNORECASE)
        if m and Path(m.group(1)).is_file():
            try:
                with zipfile.ZipFile(m.group(1)) as z:
                    member = next((n for n in z.namelist() if re.search(r"MTD_MSIL(1C|2A)\.xml$", n)), None)
                    if member is not None and z.getinfo(member).file_size < _MAX_SIDECAR_BYTES:
                        text = z.read(member).decode("utf-8", "replace")
                        return from_metadata_xml(text, f"{Path(member).name} in {Path(m.group(1)).name}")
            except (OSError, zipfile.BadZipFile):
                return None
        return None
    folder = Path(path).parent
    for _ in range(6):
        for name in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml"):
            f = folder / name
            if f.is_file() and f.stat().st_size < _MAX_SIDECAR_BYTES:
                return from_metadata_xml(f.read_text(encoding="utf-8", errors="replace"), f"{name} of {folder.name}")
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def _sidecars(path: str) -> list[ProductFacts]:
    """Facts in JSON files beside ``path`` (a STAC item that lists the file among its assets, or any
    ``metadata.json``)."""
    folder = Path(path).parent
    if not path or path.startswith("/vsi") or not folder.is_dir():
        return []
    found = []
    for f in sorted(folder.glob("*.json"))[:20]:
        try:
            if f.stat().st_size > _MAX_SIDECAR_BYTES:
                continue
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(data, dict):
            continue
        if data.get("type") == "Feature" and isinstance(data.get("assets"), dict):
            hrefs = [str(a.get("href", "")) for a in data["assets"].values() if isinstance(a, dict)]
            if not any(h.split("/")[-1] == Path(path).name for h in hrefs):
                continue
        facts = from_sidecar(data, f"{f.name} beside {Path(path).name}")
        if facts is not None:
            found.append(facts)
    return found


def product_facts(rasters: list[RasterInfo]) -> list[ProductFacts]:
    """Every fact the S2 inputs give about their product, most direct first, one entry per source."""
    found: list[ProductFacts] = []
    seen: set[str] = set()
    for raster in rasters:
        candidates = [from_tags(dict(raster.tags), raster.name)]
        if raster.path:
            candidates += [_metadata_xml(raster.path), *_sidecars(raster.path), from_name(raster.path)]
        candidates.append(from_name(raster.name))
        for facts in candidates:
            if facts is not None and facts.source not in seen:
                seen.add(facts.source)
                found.append(facts)
    return found

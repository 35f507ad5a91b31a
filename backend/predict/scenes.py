"""The scene list of ``mosaic predict --scenes FILE``: a CSV table or a STAC ItemCollection, read as :class:`Scene`.

**CSV** (UTF-8, header row): columns ``name``, ``s2``, ``s1`` and optionally ``cloud_mask``. A cell may hold several
paths separated by ``;`` (e.g. one file per band). Relative paths are relative to the CSV's folder; absolute paths,
GDAL virtual paths (``/vsicurl/…``, ``/vsis3/…``) and ``http(s)://`` URLs (read through ``/vsicurl/``) are kept.

**STAC** (a JSON ``FeatureCollection`` of Items, or a single Item). Each asset is given to a modality by the band it
names: its key (``B02``, ``blue``, ``nir08``, ``vv`` …, :func:`~.inference.bandnames.normalise_band_token`), else the
``name`` or ``common_name`` of its first ``eo:bands`` (STAC 1.0) or ``bands`` (1.1) entry. Sentinel-2 bands go to
``s2``, ``VV``/``VH``/``HH``/``HV`` to ``s1``; an asset keyed ``scl`` or with the role ``cloud`` is the cloud mask;
other assets (thumbnails, metadata, AOT, WVP …) are ignored. A band named by two assets (``blue`` and ``blue-jp2``)
is taken once, from the GeoTIFF one when there is one. ``href``\\ s are resolved against the file's folder (local)
or read through ``/vsicurl/`` (http). An Item with S2 assets is a scene named after its ``id``; its S1 is its own S1
assets, else those of the S1-only Item whose ``bbox`` overlaps its ``bbox`` most (overlap area / S2 bbox area).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..inference.bandnames import normalise_band_token

#: a scene name is a folder name of ``OUT``: letters, digits, ``.``, ``_``, ``-``; not starting with ``.``
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
#: names that are output folders of the whole run, not of one scene
RESERVED_NAMES = frozenset({"mosaic"})
S1_BANDS = frozenset({"VV", "VH", "HH", "HV"})
PATH_SEPARATOR = ";"


@dataclass(frozen=True)
class Scene:
    """One scene: its output folder name and the input paths of each modality (as ``mosaic predict`` takes them)."""

    name: str
    s2: tuple[str, ...]
    s1: tuple[str, ...]
    cloud_mask: tuple[str, ...] = ()


def read_scenes(path: str | Path) -> list[Scene]:
    """The scenes of a CSV table or STAC JSON file (by its suffix ``.csv`` / ``.json``/``.geojson``), checked:
    every scene has S2 and S1 inputs and a unique, valid name."""
    path = Path(path).absolute()  # absolute input paths: the same on every worker, whatever its folder
    if not path.is_file():
        raise InputError(f"scene file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        scenes = _csv_scenes(path)
    elif suffix in {".json", ".geojson"}:
        scenes = _stac_scenes(path)
    else:
        raise InputError(f"scene file {path.name}: give a .csv table (name,s2,s1[,cloud_mask]) or a STAC .json.")
    return _checked(scenes, path.name)


def resolve(ref: str, base: Path) -> str:
    """A path or URL of the scene file ``base``'s folder as GDAL opens it: relative → under ``base``; ``http(s)://``
    → ``/vsicurl/…``; absolute and ``/vsi…`` paths unchanged."""
    ref = ref.strip()
    if re.match(r"https?://", ref):
        return f"/vsicurl/{ref}"
    if ref.startswith("/vsi") or Path(ref).is_absolute():
        return ref
    return str(base / ref)


def _split_cell(cell: str | None, base: Path) -> tuple[str, ...]:
    return tuple(resolve(p, base) for p in (cell or "").split(PATH_SEPARATOR) if p.strip())


def _csv_scenes(path: Path) -> list[Scene]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in ("name", "s2", "s1") if c not in columns]
        if missing:
            raise InputError(
                f"scene table {path.name} lacks the column(s) {', '.join(missing)}; its header must be "
                "name,s2,s1 (and optionally cloud_mask)."
            )
        unknown = [c for c in columns if c not in ("name", "s2", "s1", "cloud_mask")]
        if unknown:
            raise InputError(
                f"scene table {path.name} has unknown column(s) {', '.join(unknown)}; the columns are "
                "name,s2,s1,cloud_mask."
            )
        rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    return [
        Scene(
            name=(row["name"] or "").strip(),
            s2=_split_cell(row["s2"], path.parent),
            s1=_split_cell(row["s1"], path.parent),
            cloud_mask=_split_cell(row.get("cloud_mask"), path.parent),
        )
        for row in rows
        if any((v or "").strip() for v in row.values() if isinstance(v, str))
    ]


def _asset_band(key: str, asset: dict) -> str | None:
    """The band an asset holds: by its key, else by its first ``eo:bands``/``bands`` entry's name or common name."""
    band = normalise_band_token(key)
    if band is not None:
        return band
    entries = asset.get("eo:bands") or asset.get("bands") or []
    if entries and isinstance(entries[0], dict):
        for field in ("name", "common_name", "eo:common_name"):
            value = entries[0].get(field)
            if isinstance(value, str) and (band := normalise_band_token(value)) is not None:
                return band
    return None


def _href(asset: dict, base: Path, item_id: str, key: str) -> str:
    href = asset.get("href")
    if not isinstance(href, str) or not href.strip():
        raise InputError(f"STAC item {item_id}: asset {key} has no href.")
    if href.startswith("file://"):
        href = href[len("file://") :]
    return resolve(href, base)


@dataclass
class _Item:
    id: str
    bbox: tuple[float, float, float, float] | None
    s2: dict[str, tuple[bool, str]]  # band → (is GeoTIFF, path)
    s1: dict[str, tuple[bool, str]]
    cloud: list[str]


def _item(item: dict, base: Path) -> _Item:
    item_id = str(item.get("id") or "")
    assets = item.get("assets")
    if not item_id or not isinstance(assets, dict):
        raise InputError("every STAC item of the scene file needs an id and assets.")
    parsed = _Item(item_id, _bbox(item), {}, {}, [])
    for key, asset in assets.items():
        if not isinstance(asset, dict):
            continue
        if key.lower() == "scl" or "cloud" in (asset.get("roles") or []):
            parsed.cloud.append(_href(asset, base, item_id, key))
            continue
        band = _asset_band(key, asset)
        if band is None:
            continue
        target = parsed.s1 if band in S1_BANDS else parsed.s2
        tiff = "tiff" in str(asset.get("type", "")).lower() or str(asset.get("href", "")).lower().endswith(".tif")
        if band not in target or (tiff and not target[band][0]):
            target[band] = (tiff, _href(asset, base, item_id, key))
    return parsed


def _bbox(item: dict) -> tuple[float, float, float, float] | None:
    bbox = item.get("bbox")
    if isinstance(bbox, list) and len(bbox) in (4, 6):
        return (bbox[0], bbox[1], bbox[-3], bbox[-2]) if len(bbox) == 6 else tuple(bbox)
    return None


def _overlap(a: Sequence[float] | None, b: Sequence[float] | None) -> float:
    """Intersection area of bbox ``b`` with ``a`` over the area of ``a`` (0 without bboxes)."""
    if a is None or b is None:
        return 0.0
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    area = (a[2] - a[0]) * (a[3] - a[1])
    return max(w, 0.0) * max(h, 0.0) / area if area > 0 else 0.0


def _paths(bands: dict[str, tuple[bool, str]]) -> tuple[str, ...]:
    return tuple(path for _band, (_tiff, path) in sorted(bands.items()))


def _stac_scenes(path: Path) -> list[Scene]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the STAC file {path.name} ({exc}); give a STAC ItemCollection JSON.") from None
    features = data.get("features") if data.get("type") == "FeatureCollection" else [data]
    if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
        raise InputError(f"{path.name} is no STAC ItemCollection (a FeatureCollection of Items).")
    items = [_item(f, path.parent) for f in features]
    radar = [i for i in items if i.s1 and not i.s2]
    scenes = []
    for item in (i for i in items if i.s2):
        s1 = item.s1
        if not s1:
            best = max(radar, key=lambda r: _overlap(item.bbox, r.bbox), default=None)
            if best is None or _overlap(item.bbox, best.bbox) == 0:
                raise InputError(f"STAC item {item.id} has S2 but no S1: no S1 item's bbox overlaps its bbox.")
            s1 = best.s1
        scenes.append(Scene(item.id, _paths(item.s2), _paths(s1), tuple(item.cloud)))
    if not scenes:
        raise InputError(f"{path.name} holds no STAC item with Sentinel-2 band assets (B02, blue, …).")
    return scenes


def _checked(scenes: Iterable[Scene], source: str) -> list[Scene]:
    scenes, seen = list(scenes), set()
    if not scenes:
        raise InputError(f"{source} lists no scenes.")
    for i, s in enumerate(scenes, start=1):
        if not _NAME.fullmatch(s.name) or s.name.lower() in RESERVED_NAMES:
            raise InputError(
                f"{source}, scene {i}: the name {s.name!r} must be a folder name of letters, "
                "digits, '.', '_' and '-', not starting with '.' and not "
                f"{', '.join(sorted(RESERVED_NAMES))}."
            )
        if s.name.lower() in seen:
            raise InputError(f"{source}: the scene name {s.name!r} is used twice; names must be unique.")
        seen.add(s.name.lower())
        if not s.s2 or not s.s1:
            raise InputError(f"{source}, scene {s.name}: give both S2 and S1 inputs.")
    return scenes

"""``mosaic prepare``: build a training dataset in the BigEarthNet v2 layout from your own rasters and polygons.

Inputs: Sentinel-2 (one stacked raster, or one file per band at native 10/20/60 m, or a folder of them),
Sentinel-1 VV/VH (one 2-band raster or two files; any CRS or grid: resampled onto the S2 10 m grid through a
rasterio ``WarpedVRT``), and a land-cover polygon layer (any OGR format) whose ``class_field`` is mapped to the
model's classes (CSV/JSON table, ``corine`` for CLC level-3 codes, or the class names themselves).

Identification: the engine's input inspector (:func:`~mosaic.backend.inference.inspector.inspect_inputs`, the
rules and options of ``mosaic predict``: ``--s2-offset``, ``--s2-scale``, ``--s2-order``, ``--s1-units``,
``--s1-scale``, ``--s1-order``) with the training convention as its target (:func:`dataset_target`: the
``s2_12`` bands when all twelve are given, else ``s2_10``; L2A reflectance × 10000 without offset; S1 VV, VH
in dB; 10 m). It refuses what it cannot use, and an S2 grid that is not ~10 m square pixels, before the
output folder exists. Each window is harmonised through the plan's conversions: S2 ``DN = round(ρ · 10000)``
clipped to 1…65535 (0 = nodata: fill, NaN and physically impossible values), S1 ``σ⁰`` in dB (NaN = nodata).

Steps: cut a grid of ``patch_size`` px cells every ``stride`` px on the S2 10 m grid; label each cell with every
class whose polygons cover ``> 0`` and ``≥ min_class_fraction`` of it; drop cells whose nodata fraction exceeds
``max_nodata`` or whose unlabelled fraction (area not covered by a mapped polygon) is ``≥ max_unlabelled`` (0.25,
as BigEarthNet); assign whole blocks of ``block_size × block_size`` cells to train/validation/test (seeded, by
patch count), dropping cells that straddle blocks of different splits, so no two splits share ground.

Output (built in a hidden temporary folder, renamed when complete):
``BigEarthNet-S2/<name>/<name>_<col>_<row>/<..>_<band>.tif`` at the input's native resolution (UInt16, nodata 0),
``BigEarthNet-S1/<s1 name>/<s1 name>_<tile>_<col>_<row>/<..>_<VV|VH>.tif`` (Float32 dB), ``metadata.parquet`` with the
official columns (``col`` / ``row`` count cells from the raster's upper-left corner), and ``prepare_report.json``
(with ``inputs``: what the inspector applied to the scene and why, per topic).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from tqdm import tqdm

from ..errors import InputError, OutputError
from ..inference.band_resolver import parse_order, resolve_bands
from ..inference.inspector import InputOptions, InputPlan, Target, inspect_inputs
from ..inference.metadata import ModalitySpec
from ..inference.radiometry import Conversion
from ..inputs.files import input_files, open_raster, raster_info, sampler
from ..inputs.options import add_input_arguments, input_options
from .bands import S1_BANDS, S2_NODATA, TARGET_GSD_M, band_stats, input_spec, s2_bands
from .classes import NOMENCLATURES, clc_to_ben19
from .readers import S1_DIR, S2_DIR

_S2_NAME = re.compile(r"(?<![A-Za-z0-9])(B0[1-9]|B1[0-2]|B8A)(?![A-Za-z0-9])", re.IGNORECASE)
_S1_NAME = re.compile(r"(?<![A-Za-z0-9])(VV|VH)(?![A-Za-z0-9])", re.IGNORECASE)
_SLIVER = 1e-6  #: area fractions below this are treated as zero (edge-touching polygons, float noise)
SPLIT_NAMES = ("train", "validation", "test")


@dataclass
class PrepareOptions:
    """Everything ``mosaic prepare`` needs; see the module docstring for the meaning of each step."""

    s2: list[Path]
    s1: list[Path]
    labels: Path
    class_field: str
    output: Path
    mapping: str | None = None  #: ``corine``, a CSV/JSON file, or None (values are class names)
    label_separator: str | None = None  #: split one attribute value into several classes (e.g. "; ")
    nomenclature: str = "ben19"
    layer: str | None = None
    inputs: InputOptions = field(default_factory=InputOptions)  #: how the inputs are identified (as predict's)
    patch_size: int = 120
    stride: int | None = None
    min_class_fraction: float = 0.0
    max_unlabelled: float = 0.25
    max_nodata: float = 0.0
    block_size: int = 8
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0
    name: str | None = None
    s1_name: str | None = None
    tile: str = "own"
    country: str = ""
    s1_resampling: str = "bilinear"
    overwrite: bool = False


@dataclass
class PrepareReport:
    """What ``prepare`` kept and dropped."""

    output: str
    cells: int
    kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  #: the inspector's ``applied``: topic → what and why


# ----------------------------------------------------------------------------------------------- inputs


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


def dataset_target(band_set: str = "s2_10") -> Target:
    """The training convention (:mod:`.bands`) as the input inspector's target: the S2 bands of ``band_set``
    (L2A, reflectance × 10000, offset 0, nodata 0), S1 VV, VH in dB, on a ``TARGET_GSD_M`` grid."""
    specs = [
        ModalitySpec.from_json(input_spec(list(bands), *band_stats(bands), s1=s1))
        for bands, s1 in ((s2_bands(band_set), False), (S1_BANDS, True))
    ]
    return Target(*specs, float(TARGET_GSD_M))


def identify_inputs(s2: list, s1: list, options: InputOptions) -> InputPlan:
    """The inspector's plan for the open S2 and S1 datasets, with :func:`dataset_target` of ``s2_12`` when the
    S2 input holds all twelve bands, else of ``s2_10`` (B01/B09 are then left out)."""
    s2_info, s1_info = [raster_info(ds) for ds in s2], [raster_info(ds) for ds in s1]
    order = parse_order(options.s2_order, "S2")
    try:
        band_set, picks = "s2_12", resolve_bands(s2_info, s2_bands("s2_12"), "S2", order)
    except InputError:  # not all twelve: the s2_10 bands, resolved (or refused) by the inspector
        band_set, picks = "s2_10", None
    return inspect_inputs(
        s2_info, s1_info, dataset_target(band_set), options, sampler(s2, s2_info), sampler(s1, s1_info), s2_picks=picks
    )


def refuse_resampling(plan: InputPlan) -> None:
    """``prepare`` cuts patches on the S2 input's own grid: refuse one the inspector would resample."""
    if not plan.grid.resample:
        return
    x, y = plan.grid.source_m
    crs = f" -t_srs EPSG:{plan.grid.epsg}" if plan.grid.epsg else ""
    raise InputError(
        f"the S2 pixels are {x:.3g} × {y:.3g} m on the ground, not {TARGET_GSD_M} m squares, and mosaic prepare cuts "
        f"patches on the input's own grid; resample the S2 input first, e.g. gdalwarp{crs} -tr {TARGET_GSD_M} "
        f"{TARGET_GSD_M} -r bilinear IN.tif OUT.tif"
    )


def load_mapping(mapping: str | None, class_names: tuple[str, ...]) -> dict[str, str | None] | None:
    """Source class value (as text) → model class name or None (unlabelled); None = values are class names."""
    if mapping is None:
        return None
    if mapping.lower() == "corine":
        return {str(code): name for code, name in clc_to_ben19().items()}
    path = Path(mapping)
    if not path.is_file():
        raise InputError(f"mapping table {path} not found; give a CSV/JSON file or 'corine'")
    if path.suffix.lower() == ".json":
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"mapping table {path.name} is not valid JSON ({exc.msg})") from None
        if not isinstance(table, dict):
            raise InputError(f"mapping table {path.name} must be a JSON object {{source value: class name or null}}")
        out = {str(k): (v or None) for k, v in table.items()}
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if frame.shape[1] < 2:
            raise InputError(f"mapping table {path.name} needs two columns: source value, model class name")
        out = {str(k).strip(): (str(v).strip() or None) for k, v in zip(frame.iloc[:, 0], frame.iloc[:, 1])}
    unknown = sorted({v for v in out.values() if v is not None and v not in class_names})
    if unknown:
        raise InputError(f"mapping table {path.name} names classes the model does not have: {', '.join(unknown)}")
    return out


def _value_text(value) -> str:
    """Attribute value as mapping key: integral floats as integers (CORINE codes read as 211.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def load_polygons(options: PrepareOptions, crs, class_names: tuple[str, ...]) -> gpd.GeoDataFrame:
    """The polygons in the raster CRS with a ``classes`` column (tuple of model class names; () = unlabelled)."""
    try:
        gdf = gpd.read_file(options.labels, layer=options.layer)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"cannot read the polygon layer {options.labels}: {str(exc).splitlines()[0]}") from None
    if gdf.empty:
        raise InputError(f"the polygon layer {options.labels} is empty")
    if options.class_field not in gdf.columns:
        fields = ", ".join(c for c in gdf.columns if c != gdf.geometry.name)
        raise InputError(f"the polygon layer has no attribute {options.class_field!r}; its attributes are: {fields}")
    geom = gdf.geometry
    if geom.isna().any() or geom.is_empty.any():
        raise InputError(f"{int((geom.isna() | geom.is_empty).sum())} feature(s) of {options.labels} have no geometry")
    if not geom.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise InputError(f"{options.labels} must hold polygons, found {sorted(set(geom.geom_type))}")
    if not geom.is_valid.all():
        raise InputError(
            f"{int((~geom.is_valid).sum())} polygon(s) of {options.labels} are invalid; repair them (e.g. QGIS "
            "'Fix geometries') and run again"
        )
    if gdf.crs is None:
        raise InputError(f"the polygon layer {options.labels} has no CRS; assign one and run again")
    gdf = gdf.to_crs(crs)
    mapping = load_mapping(options.mapping, class_names)
    classes, unmapped = [], set()
    for value in gdf[options.class_field]:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            classes.append(())
            continue
        parts = str(value).split(options.label_separator) if options.label_separator else [value]
        names = []
        for part in parts:
            key = _value_text(part)
            if mapping is None:
                if key not in class_names:
                    unmapped.add(key)
                names.append(key)
            elif key not in mapping:
                unmapped.add(key)
            elif mapping[key] is not None:
                names.append(mapping[key])
        classes.append(tuple(sorted(set(names))))
    if unmapped:
        shown = ", ".join(sorted(unmapped)[:10])
        raise InputError(
            f"{len(unmapped)} class value(s) of {options.class_field!r} have no mapping: {shown}; give a table "
            "with --mapping (CSV or JSON: source value → one of the model's classes, empty to ignore) or 'corine'"
        )
    gdf["classes"] = classes
    return gdf[["classes", gdf.geometry.name]]


# ----------------------------------------------------------------------------------------------- grid and labels


def cell_offsets(width: int, height: int, patch: int, stride: int) -> list[tuple[int, int]]:
    """``(row_px, col_px)`` of every full patch on the grid, row-major."""
    return [(r, c) for r in range(0, height - patch + 1, stride) for c in range(0, width - patch + 1, stride)]


def cell_fractions(
    cells: list[shapely.Polygon], polygons: gpd.GeoDataFrame, class_names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """``(class_fraction [N, C], labelled_fraction [N])``: union area of the polygons per cell / cell area."""
    cell_geoms = np.array(cells, dtype=object)
    cell_area = np.array([c.area for c in cells])
    index = {n: i for i, n in enumerate(class_names)}
    fractions = np.zeros((len(cells), len(class_names)))
    labelled = np.zeros(len(cells))
    poly_geoms = polygons.geometry.to_numpy()
    cell_idx, poly_idx = polygons.sindex.query(cell_geoms, predicate="intersects")
    pieces = shapely.intersection(cell_geoms[cell_idx], poly_geoms[poly_idx])
    per_class: dict[tuple[int, int], list] = {}
    per_cell: dict[int, list] = {}
    for c, p, piece in zip(cell_idx, poly_idx, pieces):
        names = polygons["classes"].iat[p]
        if not names:
            continue
        per_cell.setdefault(int(c), []).append(piece)
        for name in names:
            per_class.setdefault((int(c), index[name]), []).append(piece)
    for (c, k), parts in per_class.items():
        fractions[c, k] = shapely.union_all(parts).area / cell_area[c]
    for c, parts in per_cell.items():
        labelled[c] = shapely.union_all(parts).area / cell_area[c]
    return fractions, labelled


def block_splits(
    offsets: list[tuple[int, int]], patch: int, block_px: int, fractions: tuple[float, float, float], seed: int
) -> list[str | None]:
    """Split of each cell by geographic block; None for cells that straddle blocks of different splits.

    Blocks (``block_px`` squares from the upper-left corner) are shuffled with ``seed`` and assigned in turn to
    the split whose share of cells is furthest below its target fraction.
    """
    corners = [
        {(r // block_px, c // block_px) for r in (row, row + patch - 1) for c in (col, col + patch - 1)}
        for row, col in offsets
    ]
    home = Counter((row // block_px, col // block_px) for row, col in offsets)
    blocks = sorted(home)
    order = np.random.default_rng(seed).permutation(len(blocks))
    target = np.asarray(fractions, dtype=float) / sum(fractions)
    assigned = np.zeros(3)
    split_of: dict[tuple[int, int], str] = {}
    for i in order:
        block = blocks[i]
        need = target * (assigned.sum() + home[block]) - assigned
        k = int(np.argmax(need))
        split_of[block] = SPLIT_NAMES[k]
        assigned[k] += home[block]
    out: list[str | None] = []
    for (row, col), touched in zip(offsets, corners):
        own = split_of[(row // block_px, col // block_px)]
        others = {split_of[b] for b in touched if b in split_of}
        out.append(own if others == {own} else None)
    return out


# ----------------------------------------------------------------------------------------------- pixels


class _Band:
    """One S2 input band read by windows aligned with the 10 m reference grid (integer scale ``s`` = res / 10 m),
    harmonised with its ``conversion`` (stored → reflectance × 10000; ``nodata``: its source nodata or fill)."""

    def __init__(self, name: str, src, index: int, ref, exact_grid: bool, conversion: Conversion, nodata: float | None):
        self.name, self.src, self.index = name, src, index
        self.conversion, self.nodata = conversion, nodata
        self.scale = 1
        if exact_grid:
            res = src.res[0]
            scale = res / ref.res[0]
            dx = (src.transform.c - ref.transform.c) / res
            dy = (ref.transform.f - src.transform.f) / res
            if src.crs != ref.crs or abs(scale - round(scale)) > 1e-6 or abs(dx) > 1e-6 or abs(dy) > 1e-6:
                raise InputError(
                    f"S2 band file of {name} is not aligned with the 10 m bands (same CRS and upper-left corner, "
                    "resolution a whole multiple of 10 m); export the bands from one product"
                )
            self.scale = round(scale)

    def read(self, row: int, col: int, size: int) -> np.ndarray:
        """UInt16 DN of the training convention (:func:`training_dn`) of the patch at ``row, col``."""
        s = self.scale
        window = Window(col // s, row // s, size // s, size // s)
        inside = window.col_off + window.width <= self.src.width and window.row_off + window.height <= self.src.height
        if inside:
            stored = self.src.read(self.index, window=window)
        else:
            fill = self.nodata if self.nodata is not None else S2_NODATA
            stored = self.src.read(self.index, window=window, boundless=True, fill_value=fill)
        return training_dn(self.conversion.apply(stored))

    def window_transform(self, ref_transform, row: int, col: int):
        return ref_transform @ rasterio.Affine.translation(col, row) @ rasterio.Affine.scale(self.scale)


def training_dn(model: np.ndarray) -> np.ndarray:
    """S2 model values (reflectance × 10000, NaN = nodata) → UInt16 DN of the training data: rounded, valid
    values clipped to 1…65535, nodata ``S2_NODATA`` (0)."""
    valid = np.isfinite(model)
    out = np.full(model.shape, S2_NODATA, dtype=np.uint16)
    out[valid] = np.clip(np.rint(model[valid]), S2_NODATA + 1, np.iinfo(np.uint16).max)
    return out


def _check_overlap(ref, src, what: str) -> None:
    bounds = transform_bounds(src.crs, ref.crs, *src.bounds) if src.crs != ref.crs else src.bounds
    if not shapely.box(*bounds).intersects(shapely.box(*ref.bounds)):
        raise InputError(f"the {what} raster does not overlap the Sentinel-2 raster")


def _same_grid(a, b) -> bool:
    return a.crs == b.crs and a.transform.almost_equals(b.transform) and a.shape == b.shape


# ----------------------------------------------------------------------------------------------- main


def prepare_dataset(options: PrepareOptions) -> PrepareReport:
    """Build the dataset described by ``options``; see the module docstring."""
    stride = options.stride or options.patch_size
    if options.patch_size <= 0 or stride <= 0 or options.block_size <= 0:
        raise InputError("patch size, stride and block size must be positive")
    if options.nomenclature not in NOMENCLATURES:
        raise InputError(f"unknown nomenclature {options.nomenclature!r}; choose one of {sorted(NOMENCLATURES)}")
    class_names = NOMENCLATURES[options.nomenclature]
    output = Path(options.output)
    if output.exists() and not options.overwrite:
        raise OutputError(f"{output} exists already; choose another output folder or pass --overwrite")
    s2_paths, s1_paths = input_files(options.s2, "S2"), input_files(options.s1, "S1")
    tile = re.sub(r"[^A-Za-z0-9-]+", "-", options.tile) or "own"  # no "_": S1 names end in _<tile>_<col>_<row>
    with ExitStack() as stack:
        s2_ds = [stack.enter_context(open_raster(p)) for p in s2_paths]
        s1_ds = [stack.enter_context(open_raster(p)) for p in s1_paths]
        plan = identify_inputs(s2_ds, s1_ds, options.inputs)
        refuse_resampling(plan)
        for note in plan.notes:
            print(f"mosaic prepare: {note}", file=sys.stderr)
        name = options.name or _product_name(Path(s2_paths[plan.s2_picks[0].raster]))
        s1_name = options.s1_name or _product_name(Path(s1_paths[plan.s1_picks[0].raster]))
        ref = min((s2_ds[p.raster] for p in plan.s2_picks), key=lambda s: s.res[0])
        stacked = len({p.raster for p in plan.s2_picks}) == 1
        s2_bands = [
            _Band(p.band, s2_ds[p.raster], p.index, ref, not stacked, conv, nodata)
            for p, conv, nodata in zip(plan.s2_picks, plan.s2, plan.s2_nodata)
        ]
        lcm = math.lcm(*(band.scale for band in s2_bands))
        if options.patch_size % lcm or stride % lcm:
            raise InputError(f"patch size and stride must be multiples of {lcm} px to keep every band on whole pixels")
        s1_sources = {}
        for pick, conv, nodata in zip(plan.s1_picks, plan.s1, plan.s1_nodata):
            src = s1_ds[pick.raster]
            _check_overlap(ref, src, "Sentinel-1")
            if not _same_grid(src, ref):
                src = stack.enter_context(
                    WarpedVRT(
                        src,
                        crs=ref.crs,
                        transform=ref.transform,
                        width=ref.width,
                        height=ref.height,
                        resampling=Resampling[options.s1_resampling],
                        dtype="float32",
                        nodata=float("nan"),
                        src_nodata=nodata if nodata is not None else src.nodata,
                    )
                )
            s1_sources[pick.band] = (src, pick.index, conv)
        polygons = load_polygons(options, ref.crs, class_names)
        if not polygons.total_bounds.size or not shapely.box(*ref.bounds).intersects(
            shapely.box(*polygons.total_bounds)
        ):
            raise InputError("the polygon layer does not overlap the Sentinel-2 raster")
        offsets = cell_offsets(ref.width, ref.height, options.patch_size, stride)
        if not offsets:
            raise InputError(
                f"the S2 raster ({ref.width}×{ref.height} px) is smaller than one {options.patch_size} px patch"
            )
        cells = [_cell_box(ref.transform, r, c, options.patch_size) for r, c in offsets]
        fractions, labelled = cell_fractions(cells, polygons, class_names)
        splits = block_splits(
            offsets, options.patch_size, options.block_size * options.patch_size, options.split_fractions, options.seed
        )
        tmp = output.with_name(f".{output.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            report, rows = _write_patches(
                options,
                tmp,
                ref,
                s2_bands,
                s1_sources,
                offsets,
                fractions,
                labelled,
                splits,
                class_names,
                name,
                s1_name,
                tile,
            )
            if not rows:
                raise InputError(
                    f"no patch kept out of {len(offsets)} (dropped: {report.dropped}); check that the rasters and "
                    "polygons cover the same area, or relax --max-nodata / --max-unlabelled"
                )
            pd.DataFrame(rows).to_parquet(tmp / "metadata.parquet", index=False)
            report.output, report.inputs = str(output), dict(plan.applied)
            (tmp / "prepare_report.json").write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if output.exists():
        shutil.rmtree(output)
    tmp.rename(output)
    return report


def _product_name(path: Path) -> str:
    """A product name from an input file name: the stem with the band token removed."""
    stem = _stem(path)
    stem = _S2_NAME.sub("", _S1_NAME.sub("", stem)).strip("_-. ")
    return re.sub(r"[^A-Za-z0-9-]+", "_", stem).strip("_") or "own"


def _cell_box(transform, row: int, col: int, size: int) -> shapely.Polygon:
    x0, y0 = transform @ (col, row)
    x1, y1 = transform @ (col + size, row + size)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _write_patches(
    options, tmp, ref, s2_bands, s1_sources, offsets, fractions, labelled, splits, class_names, name, s1_name, tile
):
    """Read, filter (nodata → unlabelled → no class → split border) and write every cell; returns report and rows."""
    size, stride = options.patch_size, options.stride or options.patch_size
    report = PrepareReport(output="", cells=len(offsets), kept=0)
    dropped: Counter = Counter()
    rows = []
    for (row, col), frac, lab, split in tqdm(
        list(zip(offsets, fractions, labelled, splits)), desc="prepare", unit="patch", disable=len(offsets) < 64
    ):
        s2 = {band.name: band.read(row, col, size) for band in s2_bands}
        s1 = {
            b: conv.apply(src.read(i, window=Window(col, row, size, size))) for b, (src, i, conv) in s1_sources.items()
        }
        nodata = np.zeros((size, size), dtype=bool)
        for band in s2_bands:
            if band.scale == 1:
                nodata |= s2[band.name] == S2_NODATA
        for a in s1.values():
            nodata |= ~np.isfinite(a)
        present = [class_names[k] for k in np.flatnonzero((frac > _SLIVER) & (frac >= options.min_class_fraction))]
        if nodata.mean() > options.max_nodata:
            dropped["nodata"] += 1
        elif 1.0 - lab >= options.max_unlabelled:
            dropped["unlabelled"] += 1
        elif not present:
            dropped["no_class"] += 1
        elif split is None:
            dropped["split_border"] += 1
        else:
            c, r = col // stride, row // stride
            patch_id, s1_id = f"{name}_{c}_{r}", f"{s1_name}_{tile}_{c}_{r}"
            s2_dir = tmp / S2_DIR / name / patch_id
            s1_dir = tmp / S1_DIR / s1_name / s1_id
            for band in s2_bands:
                _write_tif(
                    s2_dir / f"{patch_id}_{band.name}.tif",
                    s2[band.name],
                    ref.crs,
                    band.window_transform(ref.transform, row, col),
                    nodata=0,
                )
            for b, a in s1.items():
                transform = ref.transform @ rasterio.Affine.translation(col, row)
                _write_tif(s1_dir / f"{s1_id}_{b}.tif", a, ref.crs, transform)
            rows.append(
                {
                    "patch_id": patch_id,
                    "labels": sorted(present),
                    "split": split,
                    "country": options.country,
                    "s1_name": s1_id,
                    "s2v1_name": None,
                    "contains_seasonal_snow": False,
                    "contains_cloud_or_shadow": False,
                }
            )
    report.kept = len(rows)
    report.dropped = dict(dropped)
    report.splits = dict(Counter(r["split"] for r in rows))
    report.class_counts = {n: sum(n in r["labels"] for r in rows) for n in class_names}
    return report, rows


def _write_tif(path: Path, array: np.ndarray, crs, transform, nodata=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": array.dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


# ----------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mosaic prepare``."""
    parser.add_argument(
        "--s2", nargs="+", required=True, help="a stacked S2 raster, a file per band (…_B02.tif), or a folder of them"
    )
    parser.add_argument("--s1", nargs="+", required=True, help="one 2-band VV,VH raster, or two files (…_VV, …_VH)")
    parser.add_argument("--labels", required=True, help="land-cover polygon layer (any OGR format)")
    parser.add_argument("--layer", default=None, help="layer name inside a multi-layer source (GeoPackage)")
    parser.add_argument("--class-field", required=True, help="attribute holding the land-cover class")
    parser.add_argument(
        "--mapping",
        default=None,
        help="'corine' (CLC level-3 codes), or a CSV/JSON table source value → class name; "
        "omitted: the attribute holds the class names",
    )
    parser.add_argument("--label-separator", default=None, help="split one attribute value into several classes")
    parser.add_argument("--nomenclature", default="ben19", choices=sorted(NOMENCLATURES))
    parser.add_argument("--output", "-o", required=True, help="dataset folder to create")
    parser.add_argument("--patch-size", type=int, default=120, help="patch side in 10 m pixels (120)")
    parser.add_argument("--stride", type=int, default=None, help="grid step in pixels (default: patch size)")
    parser.add_argument("--min-class-fraction", type=float, default=0.0, help="minimum area fraction of a label")
    parser.add_argument("--max-unlabelled", type=float, default=0.25, help="drop patches with ≥ this unlabelled area")
    parser.add_argument("--max-nodata", type=float, default=0.0, help="drop patches with more nodata than this")
    parser.add_argument("--block-size", type=int, default=8, help="split blocks, in patches per side (8)")
    parser.add_argument(
        "--split-fractions", type=float, nargs=3, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST")
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="S2 product name used in patch ids (default: from file names)")
    parser.add_argument("--s1-name", default=None, help="S1 product name used in S1 patch names")
    parser.add_argument("--tile", default="own", help="tile token of the S1 patch names")
    parser.add_argument("--country", default="", help="value of the metadata 'country' column")
    parser.add_argument("--s1-resampling", default="bilinear", choices=["nearest", "bilinear", "cubic"])
    add_input_arguments(parser)
    parser.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Build the dataset and print its report."""
    options = PrepareOptions(
        s2=[Path(p) for p in args.s2],
        s1=[Path(p) for p in args.s1],
        labels=Path(args.labels),
        class_field=args.class_field,
        output=Path(args.output),
        mapping=args.mapping,
        label_separator=args.label_separator,
        nomenclature=args.nomenclature,
        layer=args.layer,
        inputs=input_options(args),
        patch_size=args.patch_size,
        stride=args.stride,
        min_class_fraction=args.min_class_fraction,
        max_unlabelled=args.max_unlabelled,
        max_nodata=args.max_nodata,
        block_size=args.block_size,
        split_fractions=tuple(args.split_fractions),
        seed=args.seed,
        name=args.name,
        s1_name=args.s1_name,
        tile=args.tile,
        country=args.country,
        s1_resampling=args.s1_resampling,
        overwrite=args.overwrite,
    )
    report = prepare_dataset(options)
    print(json.dumps(asdict(report), indent=2))
    return 0

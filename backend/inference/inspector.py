"""The input inspector: identify every input before any tile is read, then harmonise it or refuse it.

``inspect_inputs(s2, s1, target, options, sample_s2, sample_s1)`` → :class:`InputPlan`, for ``mosaic predict``,
``mosaic prepare``, the dock and ``mosaic:classify`` alike (the front ends only gather
:class:`~.rasters.RasterInfo` facts and read samples). It decides, in this order:

1. **Band identity** (:mod:`.band_resolver`).
2. **Ground resolution and pixel shape** (:mod:`.ground`).
3. **Sentinel-2 radiometry** — ``reflectance ρ = (stored − A·Q/10000) / Q``, model value ``ρ·Q_m − A_m``:
   level (L1C is refused for an L2A model); the quantification ``Q`` (``--s2-scale``; auto: a GDAL scale, the
   product's metadata, 1 for float data whose 99th percentile is ≤ 2.5, else 10000); the DN offset ``A``
   (``--s2-offset``; auto: the product's processing baseline, see :mod:`.s2_product`; without one the data
   decide only when they are unambiguous). The darkest pixels check the choice: baseline ≥ 04.00 data hold no
   values below 1000 (``ρ ≥ 0``), so ``min`` over bands of the 1st percentile ≥ 900 means "+1000 DN". A
   baseline that disagrees with the data, or +1000-looking data without any baseline, is refused with the option
   that decides. Untagged fill (a frequent physically impossible value, e.g. −9999) is nodata.
4. **Sentinel-1 units** — a GDAL scale, else integers holding dB × 100 or × 10 (``--s1-scale``); dB, linear power
   or amplitude (``--s1-units``; auto refuses linear-looking data); zeros in a file without nodata are fill;
   values outside −60…+40 dB are nodata.
5. **Sentinel-1 order** — co-polarised backscatter (VV) is 5–10 dB above cross-polarised (VH) over land: a VV
   band more than 2 dB weaker than its VH band is refused with ``--s1-order vh,vv``; a stack without names
   whose two bands are within 2 dB is refused too (``--s1-order`` decides).
6. **Cloud layer** (optional) — a Sentinel-2 SCL layer, a binary mask or a cloud probability
   (:mod:`.clouds`; ``--cloud-mask-kind`` decides when the values do not).

:attr:`InputPlan.applied` says, per topic, what was decided and why (written into the outputs' metadata,
shown by the dock, printed by the CLI when not the plain case).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .band_resolver import BandPick, Hint, cli_hint, parse_order, resolve_bands
from .clouds import CloudOptions, CloudPlan, CloudSampler, inspect_cloud
from .ground import GridPlan, plan_grid
from .metadata import ModalitySpec, ModelMetadata
from .modalities import RunInputs
from .radiometry import DB_RANGE, REFLECTANCE_RANGE, Conversion, finite, frequent_fill, percentile
from .rasters import RasterInfo, Sampler
from .s1_units import check_units
from .s2_product import ProductFacts, product_facts

S2_OFFSETS = ("auto", "0", "1000")
S1_UNITS = ("auto", "db", "linear", "amplitude")
S1_ORDERS = ("auto", "vv,vh", "vh,vv")
LOOKS_OFFSET_DN = 900.0  #: min over bands of the 1st percentile (model DN, no offset removed) above this: +1000 DN
ORDER_MARGIN_DB = 2.0  #: co-pol minus cross-pol median below −this: swapped; within ±this: undecidable
CHOSEN = "chosen by the user"  #: why, in ``applied``, when an option decided
FLOAT_REFLECTANCE_P99 = 2.5  #: float S2 whose 99th percentile is at most this is 0–1 reflectance


@dataclass(frozen=True)
class InputOptions:
    """The user's choices; ``"auto"`` / None = let the inspector decide."""

    s2_offset: str = "auto"  #: "auto", "0" or "1000" (DN on a 10000 scale added to the stored values)
    s2_scale: float | None = None  #: stored value of reflectance 1 (10000 for L2A DN, 1 for 0–1 floats)
    s2_order: Sequence[str] | str | None = None  #: explicit band order of the S2 input
    s1_units: str = "auto"  #: "auto", "db", "linear" (power) or "amplitude"
    s1_scale: float | None = None  #: stored × s1_scale = the S1 value (0.01 for dB × 100 integers)
    s1_order: Sequence[str] | str | None = None  #: explicit band order of the S1 input ("vh,vv"); "auto" = None
    cloud: CloudOptions = field(default_factory=CloudOptions)  #: how to read the cloud layer, when one is given

    def __post_init__(self) -> None:
        if str(self.s2_offset) not in S2_OFFSETS:
            raise InputError(f"the S2 offset must be one of {', '.join(S2_OFFSETS)}, not {self.s2_offset!r}.")
        if self.s1_units not in S1_UNITS:
            raise InputError(f"S1 units must be one of {', '.join(S1_UNITS)}, not {self.s1_units!r}.")
        for name in ("s2_scale", "s1_scale"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InputError(f"the {name.replace('_', ' ')} must be a positive number, not {value!r}.")


@dataclass(frozen=True)
class InputPlan:
    """What the readers do: read ``s2_picks``/``s1_picks`` on ``grid``, treat ``*_nodata`` as the source
    nodata of each model band (None: none), convert with ``s2``/``s1`` :class:`~.radiometry.Conversion` s."""

    s2_picks: list[BandPick]
    s1_picks: list[BandPick]
    s2: list[Conversion]
    s1: list[Conversion]
    s2_nodata: list[float | None]
    s1_nodata: list[float | None]
    grid: GridPlan
    applied: dict[str, str] = field(default_factory=dict)  #: topic → what was done and why
    notes: list[str] = field(default_factory=list)  #: the entries of ``applied`` that are not the plain case
    cloud: CloudPlan | None = None  #: how the cloud layer marks cloudy pixels (None: no cloud layer given)
    inputs: RunInputs = field(default_factory=RunInputs)  #: the modalities given (one: no picks for the other)

    def tags(self) -> dict[str, str]:
        """``applied`` as GeoTIFF metadata items: ``MOSAIC_INPUT_<TOPIC>``."""
        return {f"MOSAIC_INPUT_{k.upper().replace(' ', '_')}": v for k, v in self.applied.items()}


@dataclass(frozen=True)
class Target:
    """What the inputs must become: the model's (or a dataset's) S2 and S1 specs and its grid's pixel size."""

    s2: ModalitySpec
    s1: ModalitySpec
    gsd_m: float

    @classmethod
    def of(cls, metadata: ModelMetadata) -> Target:
        return cls(metadata.s2, metadata.s1, metadata.gsd_m)


def inspect_inputs(
    s2: Sequence[RasterInfo],
    s1: Sequence[RasterInfo],
    target: Target | ModelMetadata,
    options: InputOptions,
    sample_s2: Sampler,
    sample_s1: Sampler,
    hint: Hint = cli_hint,
    s2_picks: list[BandPick] | None = None,
    s1_picks: list[BandPick] | None = None,
    cloud: RasterInfo | None = None,
    sample_cloud: CloudSampler | None = None,
) -> InputPlan:
    """Identify the inputs (see the module docstring); raises :class:`InputError` with one sentence.

    ``s2``/``s1``: either may be empty for a one-modality run (then the other's finest raster decides the grid).
    ``s2_picks``/``s1_picks``: a band mapping the user made by hand (the dock's), used instead of resolving.
    ``cloud``/``sample_cloud``: the optional cloud layer and its sampler (:func:`.clouds.inspect_cloud`).
    """
    target = target if isinstance(target, Target) else Target.of(target)
    inputs = RunInputs(bool(s2 or s2_picks), bool(s1 or s1_picks))
    s2_order = parse_order(options.s2_order, "S2")
    s1_order = parse_order(options.s1_order if options.s1_order != "auto" else None, "S1")
    s2_picks = (s2_picks or resolve_bands(s2, target.s2.bands, "S2", s2_order, hint)) if inputs.s2 else []
    s1_picks = (s1_picks or resolve_bands(s1, target.s1.bands, "S1", s1_order, hint)) if inputs.s1 else []
    applied: dict[str, str] = {}
    notes: list[str] = []
    if inputs.single:
        applied["inputs"] = f"{inputs.describe()}: every tile from the model's {inputs.single.upper()}-only head"
        notes.append(applied["inputs"])
    for modality, picks in (("S2", s2_picks), ("S1", s1_picks)):
        if not picks:
            continue
        how = {p.how for p in picks}
        text = {
            "name": "named by band descriptions or file names",
            "order": "in the order given",
            "position": "a stack without band names, taken in the model's order",
        }
        applied[f"{modality} bands"] = (
            ", ".join(p.band for p in picks)
            + ": "
            + (text[how.pop()] if len(how) == 1 else "named in part, the rest placed by the model's order")
        )
        if how - {"name"}:
            notes.append(applied[f"{modality} bands"])
    grid_modality, grid_rasters, grid_picks = ("S2", s2, s2_picks) if inputs.s2 else ("S1", s1, s1_picks)
    grid = plan_grid([grid_rasters[i] for i in sorted({p.raster for p in grid_picks})], target.gsd_m, grid_modality)
    applied[f"{grid_modality} grid"] = grid.describe()
    if grid.resample:
        notes.append(applied[f"{grid_modality} grid"])
    s2_conv, s2_nodata = (
        _s2(s2, s2_picks, target.s2, options, sample_s2, hint, applied, notes) if s2_picks else ([], [])
    )
    explicit = s1_order is not None or any(p.how == "order" for p in s1_picks)
    s1_conv, s1_nodata = _s1(s1, s1_picks, options, sample_s1, hint, applied, notes, explicit) if s1_picks else ([], [])
    cloud_plan = None
    if cloud is not None:
        cloud_plan = inspect_cloud(cloud, sample_cloud, options.cloud, hint)
        applied["cloud mask"] = cloud_plan.describe()  # no file or layer name: the front ends write the same tags
        notes.append(f"cloud mask {applied['cloud mask']}")
    return InputPlan(
        s2_picks, s1_picks, s2_conv, s1_conv, s2_nodata, s1_nodata, grid, applied, notes, cloud_plan, inputs
    )


# -------------------------------------------------------------------------------------------- Sentinel-2


def _s2(rasters, picks, spec: ModalitySpec, options, sample, hint, applied, notes):
    """S2 conversions and source nodata per model band: product level, quantification, untagged fills, DN offset,
    each checked against the pixels."""
    facts = product_facts([rasters[i] for i in sorted({p.raster for p in picks})])
    _check_s2_product(rasters, picks, facts, spec, options, hint)
    infos = [rasters[p.raster].bands[p.index - 1] for p in picks]
    raw = [sample(p.raster, p.index) for p in picks]
    scale = _s2_scale(rasters, picks, infos, raw, facts, spec, options)
    fills = _s2_fills(scale, infos, raw, spec, applied, notes)
    offset, why = _s2_offset(scale, picks, raw, fills, facts, options, hint)
    conv = scale.conversions(offset, fills)
    _check_reflectance(scale, conv, raw, options, hint)
    offset_text = f"{offset:g} DN offset removed" if offset else "no DN offset"
    applied["S2 radiometry"] = f"reflectance × {scale.q:g} ({scale.source}); {offset_text} ({why})"
    if offset or scale.q != 10000.0 or scale.gdal_scaled or options.s2_offset != "auto":
        notes.append(applied["S2 radiometry"])
    return conv, [f[0] if f else None for f in fills]


def _check_s2_product(rasters, picks, facts: list[ProductFacts], spec: ModalitySpec, options, hint: Hint) -> None:
    """Refuse another processing level than the model's, and 8-bit display images."""
    level = {f.level for f in facts if f.level}
    if len(level) == 1 and level != {spec.level}:
        source = next(f.source for f in facts if f.level)
        raise InputError(
            f"the S2 input is Level-{level.pop()[1:]} ({source}) but the model was trained on "
            f"Level-{spec.level[1:]}; give the {spec.level} product."
        )
    if any(rasters[p.raster].dtype == "uint8" for p in picks) and options.s2_scale is None:
        raise InputError(
            "the S2 input is 8-bit, a display image (e.g. true colour), not reflectance; give the "
            f"reflectance bands, or {hint('s2_scale', 'Q')} with the stored value of reflectance 1."
        )


@dataclass(frozen=True)
class _S2Scale:
    """How stored S2 values become the model's: quantification ``q`` (stored value of reflectance 1) and where it
    came from, or the files' GDAL scale/offset (``gdal_scaled``)."""

    q: float
    source: str
    gdal_scaled: bool
    infos: tuple
    spec: ModalitySpec

    def conversions(self, offset_dn: float, fills: list[tuple[float, ...]]) -> list[Conversion]:
        """Per band: GDAL-scaled ``ρ = stored · scale + offset``, else ``ρ = (stored − offset_dn · q/10000) / q``;
        then the model's ``ρ · Q_model − add_offset``."""
        q_m, add = self.spec.quantification_value, self.spec.add_offset
        lo, hi = (r * q_m - add for r in REFLECTANCE_RANGE)
        out = []
        for b, fill in zip(self.infos, fills):
            if self.gdal_scaled:
                gain, bias = b.scale * q_m, b.offset * q_m - add
            else:
                gain, bias = q_m / self.q, -offset_dn * q_m / 10000.0 - add
            out.append(Conversion(gain, bias, 0.0, fill, (lo, hi)))
        return out


def _s2_scale(rasters, picks, infos, raw, facts: list[ProductFacts], spec: ModalitySpec, options) -> _S2Scale:
    """The quantification: the user's, the files' GDAL scale, the product's, 1 for 0–1 floats, else 10000."""
    gdal_scaled = options.s2_scale is None and options.s2_offset == "auto" and all(b.scaled for b in infos)
    if options.s2_scale is not None:
        q, source = float(options.s2_scale), CHOSEN
    elif gdal_scaled:
        q, source = 1.0 / infos[0].scale, "the GDAL scale/offset of the files"
    elif any(f.quantification for f in facts):
        f = next(f for f in facts if f.quantification)
        q, source = float(f.quantification), f.source
    elif (
        all(not rasters[p.raster].is_integer for p in picks)
        and (percentile(np.concatenate([a.ravel() for a in raw]), 99) or 0) <= FLOAT_REFLECTANCE_P99
    ):
        q, source = 1.0, "float values of 0–1 reflectance"
    else:
        q, source = 10000.0, "integer reflectance × 10000"
    return _S2Scale(q, source, gdal_scaled, tuple(infos), spec)


def _s2_fills(scale: _S2Scale, infos, raw, spec: ModalitySpec, applied, notes) -> list[tuple[float, ...]]:
    """Fill values per band: the declared nodata, the model's (S2 0) and a frequent physically impossible value."""
    base = [tuple(v for v in (b.nodata, spec.nodata) if v is not None and not math.isnan(v)) for b in infos]
    fills, found = [], set()
    for conv, a, fill in zip(scale.conversions(0.0, base), raw, base):
        with np.errstate(invalid="ignore"):
            impossible = np.isfinite(a) & ~np.isin(a, fill) & np.isnan(conv.apply(a))  # not counting known nodata
        extra = frequent_fill(a, impossible)
        fills.append(fill + ((extra,) if extra is not None and extra not in fill else ()))
        if extra is not None and extra not in fill:
            found.add(extra)
    if found:
        applied["S2 fill"] = f"untagged fill value(s) {', '.join(f'{v:g}' for v in sorted(found))} read as nodata"
        notes.append(applied["S2 fill"])
    return fills


def _s2_offset(scale: _S2Scale, picks, raw, fills, facts, options, hint: Hint) -> tuple[float, str]:
    """The DN offset (processing baseline 04.00+: 1000) and why: the user's, none for GDAL-scaled files, else the
    product facts checked against the darkest pixels."""
    q_m = scale.spec.quantification_value
    dark = [percentile(c.apply(a), 1) for c, a in zip(scale.conversions(0.0, fills), raw)]
    if all(d is None for d in dark):
        raise InputError("the S2 input holds no valid pixels (all nodata or fill); check the files.")
    if options.s2_offset != "auto":
        return float(options.s2_offset), CHOSEN
    if scale.gdal_scaled:
        return 0.0, scale.source
    darkest = min(d for d in dark if d is not None) + scale.spec.add_offset  # in DN of the pre-04.00 convention
    looks_offset = darkest >= LOOKS_OFFSET_DN * q_m / 10000.0
    band_of_dark = picks[int(np.nanargmin([np.inf if d is None else d for d in dark]))].band
    return _offset_from_facts(facts, looks_offset, darkest, band_of_dark, q_m, hint)


def _check_reflectance(scale: _S2Scale, conv: list[Conversion], raw, options, hint: Hint) -> None:
    """Refuse values whose median is no reflectance (0.005–1.2) as read, unless the user chose the scale."""
    median = percentile(np.concatenate([c.apply(a).ravel() for c, a in zip(conv, raw)]), 50)
    rho = None if median is None else (median + scale.spec.add_offset) / scale.spec.quantification_value
    if options.s2_scale is None and rho is not None and not 0.005 <= rho <= 1.2:
        raise InputError(
            f"the S2 values do not look like reflectance × {scale.q:g} (median reflectance {rho:.3g} as read "
            f"with {scale.source}); {hint('s2_scale', 'Q')} with the stored value of reflectance 1 "
            "(10000 for L2A digital numbers, 1 for 0–1 reflectance)."
        )


def _offset_from_facts(
    facts: list[ProductFacts], looks_offset: bool, darkest: float, band: str, q_m: float, hint: Hint
) -> tuple[float, str]:
    """The DN offset the product facts give, checked against the darkest pixels."""
    said = [(f, f.offset) for f in facts if f.offset is not None]
    values = {o for _, o in said}
    dark = f"the darkest pixels of {band} sit at {darkest * 10000.0 / q_m:.0f} DN"
    if len(values) > 1:
        a, b = said[0][0], next(f for f, o in said if o != said[0][1])
        raise InputError(
            f"the S2 files disagree on their DN offset ({a.describe()} vs {b.describe()}); "
            f"{hint('s2_offset', '0')} or {hint('s2_offset', '1000')}."
        )
    if not said:
        if looks_offset:
            raise InputError(
                f"the S2 input names no processing baseline and {dark}, as in products of baseline 04.00 or later "
                f"(since 25 January 2022: +1000 DN); {hint('s2_offset', '1000')} to remove it, or "
                f"{hint('s2_offset', '0')} if the values have no offset."
            )
        return 0.0, f"no processing baseline found; {dark}, as without an offset"
    source, offset = said[0][0], -said[0][1]
    if offset and not looks_offset:
        raise InputError(
            f"the S2 input is of {source.describe()}, whose values carry +1000 DN, but {dark}: they "
            f"look harmonised already; {hint('s2_offset', '0')} if so, or "
            f"{hint('s2_offset', '1000')}."
        )
    if not offset and looks_offset:
        raise InputError(
            f"the S2 input is of {source.describe()}, without a DN offset, but {dark}, as with +1000 "
            f"DN; {hint('s2_offset', '1000')} if so, or {hint('s2_offset', '0')}."
        )
    return offset, source.describe()


# -------------------------------------------------------------------------------------------- Sentinel-1


def _s1(rasters, picks, options, sample, hint, applied, notes, explicit_order: bool):
    infos = [rasters[p.raster].bands[p.index - 1] for p in picks]
    raw = [sample(p.raster, p.index) for p in picks]
    integer = all(rasters[p.raster].is_integer for p in picks)
    # fill: the declared nodata, else exact zeros (swath edges)
    fills = [_s1_fill(b.nodata) for b in infos]
    zeros = [b.band for b, info, a in zip(picks, infos, raw) if info.nodata is None and (a == 0).any()]
    if zeros:
        applied["S1 fill"] = f"zeros of {', '.join(zeros)} (no nodata declared) read as nodata"
        notes.append(applied["S1 fill"])
    # scale
    if options.s1_scale is not None:
        gains = [(float(options.s1_scale), 0.0)] * len(picks)
        scale_text = f"scaled by {options.s1_scale:g} ({CHOSEN})"
    elif all(b.scaled for b in infos):
        gains = [(b.scale, b.offset) for b in infos]
        scale_text = f"scaled by {infos[0].scale:g} (the GDAL scale of the files)"
    elif integer:
        values = finite(np.concatenate([np.where(np.isin(a, f), np.nan, a).ravel() for a, f in zip(raw, fills)]))
        gains, scale_text = _integer_scale(values, hint)
        gains = [gains] * len(picks)
    else:
        gains, scale_text = [(1.0, 0.0)] * len(picks), ""
    # units
    units = options.s1_units
    scaled = [np.where(np.isin(a, f), np.nan, a) * g + o for a, f, (g, o) in zip(raw, fills, gains)]
    if units == "auto":
        for p, s in zip(picks, scaled):
            check = check_units(s)
            if check is not None and check.looks_linear:
                raise InputError(
                    f"S1 band {p.band} ({rasters[p.raster].name}) looks like linear power or amplitude, not dB "
                    f"({check.describe()}); {hint('s1_units', 'linear')} for power (10·log10), "
                    f"{hint('s1_units', 'amplitude')} for amplitude (20·log10), or {hint('s1_units', 'db')} to use "
                    "it as it is."
                )
        units = "db"
    log = {"db": 0.0, "linear": 10.0, "amplitude": 20.0}[units]
    conv = [Conversion(g, o, log, f, DB_RANGE) for (g, o), f in zip(gains, fills)]
    unit_text = {"db": "dB", "linear": "linear power → dB (10·log10)", "amplitude": "amplitude → dB (20·log10)"}
    applied["S1 units"] = unit_text[units] + (f"; {scale_text}" if scale_text else "")
    if units != "db" or scale_text:
        notes.append(applied["S1 units"])
    _check_order(picks, [c.apply(a) for c, a in zip(conv, raw)], explicit_order, hint, applied, notes)
    return conv, [f[0] if f else b.nodata for f, b in zip(fills, infos)]  # a declared NaN stays the source nodata


def _s1_fill(nodata: float | None) -> tuple[float, ...]:
    """Stored values that mean "no data": the declared nodata (NaN needs no entry), or 0 when none is declared."""
    if nodata is None:
        return (0.0,)
    return () if math.isnan(nodata) else (nodata,)


def _integer_scale(values: np.ndarray, hint: Hint) -> tuple[tuple[float, float], str]:
    """``(gain, bias)`` for integer S1 values: as they are when they fit dB, or dB × 100 / × 10 when exactly one
    of those puts the median in −35…−3 dB; refused otherwise."""
    if values.size == 0:
        return (1.0, 0.0), ""
    median = float(np.median(values))
    if -60.0 <= median <= 40.0:
        return (1.0, 0.0), ""
    fits = [s for s in (0.01, 0.1) if -35.0 <= median * s <= -3.0]
    if len(fits) == 1 and (values < 0).mean() > 0.5:
        return (fits[0], 0.0), f"integers scaled by {fits[0]:g} (dB × {1 / fits[0]:g}, median {median:.0f})"
    raise InputError(
        f"the S1 values are integers with median {median:.0f}, not dB; {hint('s1_scale', '0.01')} "
        f"for dB × 100 (or {hint('s1_scale', '0.1')} for dB × 10), or give calibrated σ⁰ in dB."
    )


def _check_order(
    picks: list[BandPick], db: list[np.ndarray], explicit: bool, hint: Hint, applied: dict, notes: list
) -> None:
    """Refuse an S1 pair whose co-polarised band is not clearly stronger than its cross-polarised one."""
    names = [p.band for p in picks]
    co = next((n for n in ("VV", "HH") if n in names), None)
    cross = next((n for n in ("VH", "HV") if n in names), None)
    stored = [p.band for p in sorted(picks, key=lambda p: (p.raster, p.index))]  # the input's own order
    applied["S1 order"] = ", ".join(stored) + (f" ({CHOSEN})" if explicit else "")
    if explicit or co is None or cross is None:
        return
    m_co, m_cross = (percentile(db[names.index(n)], 50) for n in (co, cross))
    if m_co is None or m_cross is None:
        return
    diff = m_co - m_cross
    swapped = ",".join(reversed(names)).lower()
    if diff < -ORDER_MARGIN_DB:
        raise InputError(
            f"the S1 band read as {co} is {-diff:.1f} dB weaker than the one read as {cross} (medians {m_co:.1f} "
            f"and {m_cross:.1f} dB), but {cross} lies 5–10 dB below {co} over land: the bands look swapped; "
            f"{hint('s1_order', swapped)} (or {hint('s1_order', ','.join(names).lower())} to keep them)."
        )
    if diff < ORDER_MARGIN_DB and any(p.how != "name" for p in picks):
        raise InputError(
            f"the S1 stack names no bands and its two bands are {abs(diff):.1f} dB apart, too close to tell {co} "
            f"from {cross}; {hint('s1_order', ','.join(names).lower())} or {hint('s1_order', swapped)}."
        )
    applied["S1 order"] += f"; {co} {diff:.1f} dB above {cross}"

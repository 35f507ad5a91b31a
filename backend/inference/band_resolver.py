"""The one band resolver: which band of which input raster feeds each model band.

Used by ``mosaic predict``, ``mosaic prepare``, the dock and ``mosaic:classify`` alike. Rules, in order:

1. **Explicit order** (``--s2-order`` / ``--s1-order``, the dock's and Processing's band order): one band name per
   input band, rasters taken in the order given, bands in file order. It wins over every name.
2. **Names**: each band is named by its description, then (single-band rasters) its file name, then its layer
   name (:func:`~.bandnames.recognise_band`: ``B02``, ``B2``, ``blue``…). When names cover every model band, they
   are used; a model band named twice is refused.
3. **A stack without names** holding exactly the model's band count is taken in the model's order (``position``).
4. **A stack with some names** (exactly the model's band count): the names are used, and the unnamed bands are
   placed only where that is unambiguous (``inferred``): every name sits at its model-order position (the stack
   follows the model's order), or one band is unnamed and one model band is missing. Otherwise it is refused.

Anything else is refused in one sentence naming the bands that are missing and how to name them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import InputError
from .bandnames import KNOWN_BANDS, normalise_band_token, recognise_band
from .rasters import RasterInfo

#: ``hint(option, value)`` → how a front end tells the user to set ``option`` (e.g. ``s2_order``) to ``value``, as
#: an imperative that completes "…; <hint> to remove it" (``pass --s2-offset 1000``, ``set "S2 DN offset" to 1000``)
Hint = Callable[[str, str], str]


def cli_hint(option: str, value: str) -> str:
    """``cli_hint("s2_offset", "1000")`` → ``"pass --s2-offset 1000"``."""
    return f"pass --{option.replace('_', '-')} {value}"


@dataclass(frozen=True)
class BandPick:
    """Model band ``band`` is band ``index`` (1-based) of raster ``raster``; ``how`` it was identified."""

    band: str
    raster: int
    index: int
    how: str


def parse_order(order: str | Sequence[str] | None, modality: str) -> tuple[str, ...] | None:
    """``"vh,vv"`` or ``["VH", "VV"]`` → ``("VH", "VV")``; None stays None; an unknown name is refused."""
    if order is None or order == "" or (not isinstance(order, str) and not list(order)):
        return None
    names = [n.strip() for n in (order.split(",") if isinstance(order, str) else order)]
    parsed = tuple(normalise_band_token(n) for n in names)
    bad = [n for n, p in zip(names, parsed) if p is None or p not in KNOWN_BANDS]
    if bad:
        example = "VV,VH" if modality == "S1" else "B02,B03,B04"
        raise InputError(
            f"the {modality} band order names {', '.join(map(repr, bad))}, which is no {modality} band; "
            f"use names such as {example}."
        )
    return parsed


def resolve_bands(
    rasters: Sequence[RasterInfo],
    bands: Sequence[str],
    modality: str,
    order: Sequence[str] | None = None,
    hint: Hint = cli_hint,
) -> list[BandPick]:
    """One :class:`BandPick` per model band in model order (see the module docstring for the rules)."""
    if not rasters:
        raise InputError(f"no {modality} raster given; give the {modality} bands {', '.join(bands)}.")
    option = f"{modality.lower()}_order"
    if order is not None:
        return _from_order(rasters, bands, modality, order)
    named: dict[str, tuple[int, int]] = {}
    for r, raster in enumerate(rasters):
        for i in range(1, raster.count + 1):
            name = band_name(raster, i)
            if name is None or name not in bands:
                continue
            if name in named:
                first = rasters[named[name][0]].name
                raise InputError(f"{modality} band {name} is given twice ({first}, {raster.name}); keep one.")
            named[name] = (r, i)
    if all(b in named for b in bands):
        return [BandPick(b, *named[b], "name") for b in bands]
    stacks = [r for r, raster in enumerate(rasters) if raster.count == len(bands) and raster.count > 1]
    if len(rasters) == 1 and stacks:
        return _complete_stack(rasters[0], bands, modality, named, hint(option, ",".join(bands).lower()))
    missing = [b for b in bands if b not in named]
    several = [raster for raster in rasters if raster.count > 1]
    if several and len(rasters) == 1:
        raise InputError(
            f"{several[0].name} holds {several[0].count} bands but the model needs {len(bands)} {modality} bands "
            f"({', '.join(bands)}); name them in the band descriptions or give a stack of exactly these bands."
        )
    unnamed = [raster.name for raster in rasters if raster.count == 1 and band_name(raster, 1) is None]
    where = f" (no band name recognised in {', '.join(unnamed[:3])}{', …' if len(unnamed) > 3 else ''})"
    raise InputError(
        f"{modality} band(s) {', '.join(missing)} not found{where if unnamed else ''}; name files like "
        f"..._{missing[0]}.tif or give one raster with the bands {', '.join(bands)} in this order."
    )


def band_name(raster: RasterInfo, band: int) -> str | None:
    """The band name (one of :data:`~.bandnames.KNOWN_BANDS`) that band ``band`` (1-based) of ``raster`` carries:
    from its most specific text naming one (description, then file name and name of a single-band raster)."""
    return next((n for n in (recognise_band(t, KNOWN_BANDS) for t in raster.texts(band)) if n), None)


def _complete_stack(raster: RasterInfo, bands: Sequence[str], modality: str, named: dict, option: str) -> list:
    """Rules 3 and 4 for one stack holding exactly ``len(bands)`` bands."""
    if not named:
        return [BandPick(b, 0, i + 1, "position") for i, b in enumerate(bands)]
    at = {name: index for name, (_, index) in named.items()}
    if all(at[b] == bands.index(b) + 1 for b in at):  # the names follow the model's order: so does the rest
        return [BandPick(b, 0, i + 1, "name" if b in at else "inferred") for i, b in enumerate(bands)]
    free = [i for i in range(1, raster.count + 1) if i not in at.values()]
    missing = [b for b in bands if b not in at]
    if len(free) == 1 and len(missing) == 1:
        at[missing[0]] = free[0]
        return [BandPick(b, 0, at[b], "inferred" if b == missing[0] else "name") for b in bands]
    raise InputError(
        f"{raster.name} names {len(at)} of its {raster.count} bands, not in the model's order, so the bands "
        f"{', '.join(missing)} cannot be placed; name every band in the descriptions or {option} with the "
        "stack's real order."
    )


def _from_order(
    rasters: Sequence[RasterInfo], bands: Sequence[str], modality: str, order: Sequence[str]
) -> list[BandPick]:
    """Rule 1: ``order`` names every input band, rasters in the given order."""
    slots = [(r, i) for r, raster in enumerate(rasters) for i in range(1, raster.count + 1)]
    if len(order) != len(slots):
        raise InputError(
            f"the {modality} band order {','.join(order)} names {len(order)} bands but the {modality} "
            f"input holds {len(slots)}; name each of them, in order."
        )
    if len(set(order)) != len(order):
        raise InputError(f"the {modality} band order {','.join(order)} names a band twice; name each band once.")
    missing = [b for b in bands if b not in order]
    if missing:
        raise InputError(
            f"the {modality} band order {','.join(order)} lacks {', '.join(missing)}, which the model "
            "needs; name every band of the input, in order."
        )
    return [BandPick(b, *slots[order.index(b)], "order") for b in bands]

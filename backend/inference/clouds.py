"""Cloud masks: what a cloud layer holds, identified once for every front end, and which pixels it marks cloudy.

A cloud layer is one of three kinds (``--cloud-mask-kind``, auto when left out):

- ``scl``: a Sentinel-2 L2A scene classification layer (integer classes 0–11). The classes in
  :attr:`CloudOptions.scl_classes` are cloudy (default :data:`DEFAULT_SCL_CLASSES`: cloud shadows 3, cloud medium
  probability 8, cloud high probability 9, thin cirrus 10; add snow or ice 11 for snow).
- ``mask``: a binary mask; every value other than 0 is cloudy.
- ``probability``: a cloud probability, 0–1 (floats) or 0–100 (integers, as ESA's ``MSK_CLDPRB``); a pixel is
  cloudy when ``value / scale >= threshold`` (default :data:`DEFAULT_THRESHOLD`, s2cloudless' default).

Auto decides from a decimated sample (the inspector's), in this order: integers in 0–11 with ``SCL`` in the band
description, file name or layer name → ``scl``; at most two values, both in {0, 1} or {0, 255} → ``mask``; floats in
0–1 → ``probability`` (scale 1); integers in 0–100 above 11 → ``probability`` (scale 100). Anything else is refused
with the option that decides. Nodata of the layer, and pixels outside it, are not cloudy: where S2 itself has no
data the engine counts the pixel as S2-blind anyway.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, ModelError
from .band_resolver import Hint, cli_hint
from .modalities import RunInputs
from .rasters import RasterInfo

CLOUD_KINDS = ("auto", "scl", "mask", "probability")
#: Sentinel-2 L2A scene classification values → class names (ESA's L2A product specification)
SCL_CLASSES = {
    0: "no data",
    1: "saturated or defective",
    2: "dark area pixels",
    3: "cloud shadows",
    4: "vegetation",
    5: "not vegetated",
    6: "water",
    7: "unclassified",
    8: "cloud medium probability",
    9: "cloud high probability",
    10: "thin cirrus",
    11: "snow or ice",
}
DEFAULT_SCL_CLASSES = (3, 8, 9, 10)
DEFAULT_THRESHOLD = 0.4  #: cloud probability (0–1) at or above which a pixel is cloudy
DEFAULT_CLOUD_FRACTION = 0.3  #: a tile whose S2-blind fraction exceeds this goes to the S1-only head
_SCL_NAME = re.compile(r"(?<![a-z])scl(?![a-z])", re.IGNORECASE)
#: ``sample(band)`` → a decimated read of band ``band`` (1-based) of the cloud layer, float64, nodata as NaN
CloudSampler = Callable[[int], np.ndarray]


@dataclass(frozen=True)
class CloudOptions:
    """The user's choices about the cloud layer."""

    kind: str = "auto"  #: one of :data:`CLOUD_KINDS`
    scl_classes: tuple[int, ...] = DEFAULT_SCL_CLASSES  #: SCL values that count as cloudy
    threshold: float = DEFAULT_THRESHOLD  #: probability (0–1) at or above which a pixel is cloudy

    def __post_init__(self) -> None:
        if self.kind not in CLOUD_KINDS:
            raise InputError(f"the cloud mask kind must be one of {', '.join(CLOUD_KINDS)}, not {self.kind!r}.")
        bad = [c for c in self.scl_classes if c not in SCL_CLASSES]
        if bad or not self.scl_classes:
            raise InputError(f"SCL cloud classes must be among 0–11 (e.g. 3,8,9,10), not {bad or 'none'}.")
        if not (math.isfinite(self.threshold) and 0.0 < self.threshold <= 1.0):
            raise InputError(f"the cloud probability threshold must be in (0, 1], not {self.threshold!r}.")


def names_scl(text: str) -> bool:
    """True when ``text`` (a band description, file or layer name) names a scene classification layer: ``SCL`` as
    a word (``T33UUP_20240612_SCL_20m.jp2``, ``Band 13: SCL``)."""
    return _SCL_NAME.search(text) is not None


def require_s1_head(heads: Sequence[str], model_name: str) -> None:
    """Refuse a cloud layer for a model without an S1-only head (exported before per-modality heads)."""
    if "s1" not in heads:
        raise ModelError(
            f"{model_name} has no S1-only head (it was exported before per-modality heads), so it cannot classify "
            "cloudy tiles from radar; re-export it with a current MoSAiC, or leave out the cloud mask."
        )


def require_cloud_use(heads: Sequence[str], inputs: RunInputs, model_name: str) -> None:
    """Refuse a cloud layer where it cannot be used: without S2 (it marks what S2 cannot see), and in a run of both
    modalities for a model without an S1-only head. With S2 alone, cloudy tiles are nodata."""
    if not inputs.s2:
        raise InputError(
            "a cloud mask marks what Sentinel-2 cannot see, so it needs the Sentinel-2 bands; leave it out of a "
            "Sentinel-1-only run."
        )
    if inputs.s1:
        require_s1_head(heads, model_name)


def parse_scl_classes(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"3,8,9,10"`` → ``(3, 8, 9, 10)``; a value that is no integer is refused in one sentence."""
    if not isinstance(text, str):
        return tuple(int(v) for v in text)
    try:
        return tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise InputError(
            f"SCL cloud classes are comma-separated integers 0–11 (e.g. 3,8,9,10), not {text!r}."
        ) from None


@dataclass(frozen=True)
class CloudPlan:
    """Band ``band`` of the cloud layer is of ``kind``; :meth:`cloudy` marks its pixels."""

    band: int
    kind: str
    nodata: float | None  #: the layer's declared nodata (read as NaN by the readers)
    scl_classes: tuple[int, ...] = ()
    threshold: float = math.nan  #: in stored units (probability × scale)

    def cloudy(self, stored: np.ndarray) -> np.ndarray:
        """bool of ``stored`` (any shape; NaN = nodata, never cloudy): True where the pixel is cloudy."""
        x = np.asarray(stored)
        with np.errstate(invalid="ignore"):
            if self.kind == "scl":
                return np.isin(x, self.scl_classes)
            if self.kind == "mask":
                return np.isfinite(x) & (x != 0)
            return x >= self.threshold

    def describe(self) -> str:
        if self.kind == "scl":
            names = ", ".join(f"{SCL_CLASSES[c]} ({c})" for c in self.scl_classes)
            return f"band {self.band}: Sentinel-2 scene classification; cloudy: {names}"
        if self.kind == "mask":
            return f"band {self.band}: binary mask; cloudy: values other than 0"
        return f"band {self.band}: cloud probability; cloudy: values at or above {self.threshold:g}"


def inspect_cloud(info: RasterInfo, sample: CloudSampler, options: CloudOptions, hint: Hint = cli_hint) -> CloudPlan:
    """Identify the cloud layer ``info`` (see the module docstring); :class:`InputError` in one sentence otherwise."""
    band = _cloud_band(info)
    values = sample(band)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InputError(f"the cloud mask {info.name} holds no valid pixels; check the file or leave it out.")
    lo, hi = float(values.min()), float(values.max())
    integral = bool(np.all(values == np.round(values)))
    distinct = np.unique(values)
    nodata = info.bands[band - 1].nodata
    kind = options.kind
    seen = f"values {lo:g}–{hi:g}, {info.dtype}"
    ask = ", ".join(hint("cloud_mask_kind", k) for k in CLOUD_KINDS[1:])
    named_scl = any(names_scl(t) for t in [*info.texts(band), info.name])
    binary = distinct.size <= 2 and (set(distinct) <= {0.0, 1.0} or set(distinct) <= {0.0, 255.0})
    if kind == "auto":
        if named_scl and integral and lo >= 0 and hi <= 11:
            kind = "scl"
        elif binary:
            kind = "mask"
        elif (not info.is_integer and lo >= 0 and hi <= 1) or (integral and lo >= 0 and 11 < hi <= 100):
            kind = "probability"
        else:
            raise InputError(f"cannot tell what the cloud mask {info.name} holds ({seen}); {ask}.")
    if kind == "scl":
        if not (integral and lo >= 0 and hi <= 11):
            raise InputError(
                f"the cloud mask {info.name} is no Sentinel-2 scene classification ({seen}; SCL "
                f"holds classes 0–11); {ask}."
            )
        return CloudPlan(band, "scl", nodata, scl_classes=tuple(options.scl_classes))
    if kind == "mask":
        if distinct.size > 2:
            raise InputError(
                f"the cloud mask {info.name} is not binary ({distinct.size} distinct values, {seen}); {ask}."
            )
        return CloudPlan(band, "mask", nodata)
    scale = 1.0 if hi <= 1 and not info.is_integer else 100.0
    if lo < 0 or hi > scale:
        raise InputError(f"the cloud mask {info.name} holds no probabilities ({seen}; 0–1 or 0–100 expected); {ask}.")
    return CloudPlan(band, "probability", nodata, threshold=options.threshold * scale)


def _cloud_band(info: RasterInfo) -> int:
    """The band that holds the mask: the only one, or the one whose description names SCL."""
    if info.count == 1:
        return 1
    named = [i for i, b in enumerate(info.bands, start=1) if names_scl(b.description)]
    if len(named) == 1:
        return named[0]
    raise InputError(
        f"the cloud mask {info.name} has {info.count} bands and none is described as SCL; give a "
        "single-band cloud layer."
    )

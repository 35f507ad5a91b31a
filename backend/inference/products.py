"""Per-cell products derived from class probabilities (shared by every sink; NaN probabilities = nodata)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LABEL_NODATA = np.uint32(0xFFFFFFFF)  #: nodata of every label band (top class, bitmask, source), UInt32
#: value of the source band (labels.tif band 3) of each head that can decide a cell
SOURCE_CODES = {"fused": 1, "s1": 2, "s2": 3}
MIXED_SOURCE = 4  #: a cell averaged over tiles that different heads decided (stride < patch size)
#: source value → legend text
SOURCE_NAMES = {1: "fused S1+S2", 2: "S1 only (radar)", 3: "S2 only (optical)", 4: "mixed (overlapping tiles)"}
#: source value → colour: fused grey, radar orange, optical blue, mixed purple
SOURCE_COLORS = {1: "#bdbdbd", 2: "#e6550d", 3: "#3182bd", 4: "#756bb1"}


def _nodata(p: np.ndarray) -> np.ndarray:
    return np.isnan(p[0])


def top_class(p: np.ndarray) -> np.ndarray:
    """Index of the most probable class, ``argmax_c p[c]``, as uint32 ``[h, w]``; :data:`LABEL_NODATA` where nodata."""
    out = np.argmax(np.nan_to_num(p, nan=-1.0), axis=0).astype(np.uint32)
    out[_nodata(p)] = LABEL_NODATA
    return out


def label_bitmask(p: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Multi-label set as uint32 ``[h, w]``: ``Σ_c 2^c · [p[c] >= t_c]``; :data:`LABEL_NODATA` where nodata.

    At most 31 classes (the schema's limit), so a real label set never equals the nodata value.
    """
    t = np.asarray(thresholds, dtype=np.float32)[:, None, None]
    bits = (np.uint32(1) << np.arange(p.shape[0], dtype=np.uint32))[:, None, None]
    with np.errstate(invalid="ignore"):
        out = np.where(p >= t, bits, np.uint32(0)).sum(axis=0, dtype=np.uint32)
    out[_nodata(p)] = LABEL_NODATA
    return out


def source_band(p: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The head that decided each cell as uint32 ``[h, w]`` (:data:`SOURCE_CODES`, :data:`MIXED_SOURCE`);
    :data:`LABEL_NODATA` where nodata."""
    out = source.astype(np.uint32)
    out[_nodata(p)] = LABEL_NODATA
    return out


def confidence(p: np.ndarray) -> np.ndarray:
    """Maximum class probability ``max_c p[c]``, float32 ``[h, w]``; NaN where nodata."""
    return np.max(p, axis=0).astype(np.float32)

"""Per-cell products derived from class probabilities (shared by every sink; NaN probabilities = nodata)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LABEL_NODATA = np.uint32(0xFFFFFFFF)  #: nodata of both label bands (top class and bitmask), UInt32


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


def confidence(p: np.ndarray) -> np.ndarray:
    """Maximum class probability ``max_c p[c]``, float32 ``[h, w]``; NaN where nodata."""
    return np.max(p, axis=0).astype(np.float32)

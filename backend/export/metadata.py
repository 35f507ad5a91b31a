"""The metadata an exported model carries (schema v3): built from a checkpoint's parts, checked, and the tuned
thresholds and test metrics of ``mosaic evaluate`` read back."""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

from ..data import bands as band_defs
from ..data.classes import class_colors
from ..errors import InputError
from ..inference.metadata import HEAD_OUTPUTS, SCHEMA_VERSION


def build_metadata(parts: dict) -> dict:
    """Complete metadata (schema v3) from the model-specific ``parts`` (``MosaicModule.export_metadata()``).

    ``parts`` holds ``class_names``, ``s2_bands``, ``s1_bands``, ``upsampling``, ``norm_mean``/``norm_std``
    (``{"s2": [...], "s1": [...]}``; default: the published BigEarthNet v2 statistics for the upsampling),
    ``strategy``, ``patch_size_px``, ``training`` (``dataset``, ``licence``, ...), ``metrics`` and optionally
    ``thresholds`` (tuned on validation), ``class_colors``, ``backbone`` and ``modalities``. Without thresholds
    every class gets 0.5 and ``thresholds_tuned`` is false; without colours, CORINE colours (:func:`class_colors`).
    ``heads`` (``{"s1": {"thresholds": [...] or None, "metrics": {...}}, "s2": ...}``, optional) describes the
    per-modality heads of the graph; their thresholds default to 0.5 like the fused ones.
    """
    from ..version import __version__

    names = list(parts["class_names"])
    upsampling = parts.get("upsampling", "nearest")
    inputs = {}
    for key, default_bands in (("s2", band_defs.s2_bands()), ("s1", band_defs.S1_BANDS)):
        bands = list(parts.get(f"{key}_bands", default_bands))
        mean, std = band_defs.band_stats(bands, upsampling)
        mean = parts.get("norm_mean", {}).get(key, mean)
        std = parts.get("norm_std", {}).get(key, std)
        inputs[key] = band_defs.input_spec(bands, mean, std, s1=key == "s1")
    thresholds = parts.get("thresholds")
    architecture = {k: parts[k] for k in ("backbone", "modalities") if k in parts}
    heads = {
        head: {
            "output": HEAD_OUTPUTS[head],
            "thresholds": [float(t) for t in spec["thresholds"]] if thresholds is not None else [0.5] * len(names),
            "metrics": _finite(spec.get("metrics")),
        }
        for head, spec in (parts.get("heads") or {}).items()
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "mosaic_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "class_names": names,
        "class_colors": list(parts.get("class_colors") or class_colors(names)),
        "thresholds": [float(t) for t in thresholds] if thresholds is not None else [0.5] * len(names),
        "thresholds_tuned": thresholds is not None,
        "inputs": inputs,
        "output": {"name": "probabilities", "activation": "sigmoid"},
        "patch_size_px": int(parts.get("patch_size_px", band_defs.PATCH_SIZE_PX)),
        "gsd_m": float(band_defs.TARGET_GSD_M),
        "upsampling": upsampling,
        "strategy": str(parts["strategy"]),
        "training": dict(parts.get("training") or {}),
        "metrics": _finite(parts.get("metrics")),
        **({"architecture": architecture} if architecture else {}),
        **({"heads": heads} if heads else {}),
    }


def _finite(metrics: dict | None) -> dict[str, float]:
    """The finite values of ``metrics`` as floats (JSON has no NaN)."""
    return {k: float(v) for k, v in (metrics or {}).items() if math.isfinite(float(v))}


def read_evaluation(path: str | os.PathLike, class_names: list[str]) -> dict:
    """The ``metrics.json`` of ``mosaic evaluate`` (tuned thresholds + test metrics), checked against the classes."""
    import json

    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
        thresholds, names = list(result["thresholds"]), list(result["class_names"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{path} is not a metrics.json written by `mosaic evaluate`; check the path.") from None
    if names != list(class_names) or len(thresholds) != len(names):
        raise InputError(f"{path} was computed for other classes than this checkpoint's; evaluate this checkpoint.")
    return result

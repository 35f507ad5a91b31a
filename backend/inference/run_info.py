"""What a model runs as: its precision, the execution providers it has, a fallback note, and its int8 copy.

``model_run_info(model)`` → :class:`ModelRunInfo`, for every front end: ``mosaic predict`` prints its
:meth:`~ModelRunInfo.notes` before the run, the dock shows them beside the model. A run's own
:class:`~.engine.RunSummary` records the providers and precision it used.

The int8 copy of a model is a file of ``mosaic export --precision int8`` in the same folder whose metadata equals
the model's in everything but ``precision`` and where the inputs are normalised (same classes, bands, statistics,
heads, training, thresholds): it is suggested
when the model is not int8 and runs on the CPU, where int8's integer kernels make it faster (on a GPU the float
graph is the fast one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from .metadata import ModelMetadata
from .model import OnnxModel, read_metadata
from .providers import CPU

#: file names an int8 copy is looked for among (``model_int8.onnx``, ``model.int8.onnx``, ``int8/…``: the stem
#: holds ``int8``); others are not opened
INT8_MARK = "int8"


@dataclass(frozen=True)
class ModelRunInfo:
    """A loaded model's precision, providers (best first), where it runs, the fallback note of a missing provider
    (None: none) and its int8 copy beside it (None: none, or not useful here)."""

    name: str
    precision: str
    providers: tuple[str, ...]
    device: str
    provider_note: str | None
    int8_copy: Path | None
    int8_ap: tuple[float, float] | None = None  #: the copy's recorded test AP macro and its fp32 graph's

    @property
    def on_cpu(self) -> bool:
        return self.providers[:1] == (CPU,)

    def summary(self) -> str:
        """``"model.onnx: fp32, runs on CPU (CPUExecutionProvider)"``."""
        return f"{self.name}: {self.precision}, runs on {self.device}"

    def suggestion(self) -> str | None:
        """One sentence pointing to the int8 copy (None without one)."""
        if self.int8_copy is None:
            return None
        ap = ""
        if self.int8_ap is not None:
            ap = f" (test AP macro {self.int8_ap[0]:.4f}, fp32 graph {self.int8_ap[1]:.4f})"
        return (
            f"{self.int8_copy.name} beside it is the int8 copy of this model{ap}: on the CPU it runs about twice as "
            "fast; use it instead."
        )

    def notes(self) -> list[str]:
        """What to tell the user before a run: the summary, the provider fallback, the int8 suggestion."""
        return [self.summary(), *(n for n in (self.provider_note, self.suggestion()) if n)]


def int8_copy(path: str | os.PathLike, metadata: ModelMetadata) -> Path | None:
    """The int8 copy of the model at ``path`` in its folder: a ``.onnx`` whose name holds ``int8`` and whose metadata
    is ``metadata`` with ``precision`` int8; None when there is none (unreadable candidates are skipped)."""
    path = Path(path)
    for candidate in sorted(path.parent.glob("*.onnx")):
        if candidate == path or INT8_MARK not in candidate.stem.lower():
            continue
        try:
            other = read_metadata(candidate)
        except ModelError:
            continue
        if other.precision == "int8" and is_copy_of(other, metadata):
            return candidate
    return None


def is_copy_of(copy: ModelMetadata, model: ModelMetadata) -> bool:
    """Whether ``copy`` is ``model`` exported at another precision (:func:`_model_facts` equal)."""
    return _model_facts(copy) == _model_facts(model)


def _model_facts(metadata: ModelMetadata) -> dict:
    """The metadata a copy shares with its model: all but ``precision``, when it was written and where the inputs are
    normalised (an int8 copy leaves that to the engine)."""
    facts = {k: v for k, v in metadata.raw.items() if k not in ("precision", "created_utc", "inputs")}
    inputs = {
        m: {**spec, "normalisation": {**spec["normalisation"], "in_graph": None}}
        for m, spec in metadata.raw["inputs"].items()
    }
    return {**facts, "inputs": inputs}


def model_run_info(model: OnnxModel) -> ModelRunInfo:
    """:class:`ModelRunInfo` of a loaded model; the int8 copy is looked for only when the model is not int8 and
    runs on the CPU."""
    meta = model.metadata
    providers = tuple(model.providers)
    copy = int8_copy(model.path, meta) if meta.precision != "int8" and providers[:1] == (CPU,) else None
    ap = read_metadata(copy).precision_metrics.get("test/ap_macro") if copy is not None else None
    return ModelRunInfo(model.path.name, meta.precision, providers, model.device, model.provider_note, copy, ap)

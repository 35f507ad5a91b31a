"""The catalogue of published models as the plugin shows it: the rows of ``mosaic models list --json``
(:func:`~mosaic.backend.published.catalogue.catalogue_rows`) read in QGIS's own Python (the catalogue and the cache
check need only the standard library), in an analyst's words."""

from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication

from ..backend.published import catalogue
from ..backend.published.download import default_cache, imported_model_path
from .backend_env import published_catalogue

THREE_HEADS = ("fused", "s1", "s2")
DEFAULT_MODEL = "resnet50-v0.2.0"  #: offered first: the ResNet-50 three-head model of the newer band order


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicPublished", text)


def catalogue_rows() -> list[dict]:
    """One row per name of the catalogue in use (``mosaic models list --json``): three-head models first; raises
    the backend's ``InputError`` (one sentence) for a catalogue setting that is not a catalogue."""
    return catalogue.catalogue_rows(catalogue.load_catalogue(published_catalogue()), default_cache())


def three_head_rows(all_rows: list[dict]) -> list[dict]:
    """The rows of three-head models (an S1+S2, an S1-only and an S2-only checkpoint)."""
    return [r for r in all_rows if tuple(r["heads"]) == THREE_HEADS]


def default_index(names: list[str]) -> int:
    """Which row to select first: :data:`DEFAULT_MODEL` where listed, else the first."""
    return names.index(DEFAULT_MODEL) if DEFAULT_MODEL in names else 0


def heads_text(row: dict) -> str:
    """``S1+S2, S1, S2`` (three heads) or the one checkpoint's inputs."""
    inputs = {"s1s2": tr("S1+S2"), "s1": tr("S1"), "s2": tr("S2")}
    if tuple(row["heads"]) == THREE_HEADS:
        return ", ".join(inputs[m] for m in ("s1s2", "s1", "s2"))
    return inputs.get(row["modalities"], row["modalities"])


def published_ap(row: dict, head: str = "fused") -> float | None:
    """The published test macro AP of ``head`` (None where the catalogue records none)."""
    value = row["published_metrics"].get(head, {}).get("ap_macro")
    return None if value is None else float(value)


def onnx_path(name: str) -> Path:
    """Where ``mosaic models get NAME`` writes the imported model (``<cache>/onnx/NAME.onnx``)."""
    return imported_model_path(default_cache(), name)

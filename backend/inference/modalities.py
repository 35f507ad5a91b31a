"""Which modalities a run is given, and the head that classifies a run of one modality.

A run of both S2 and S1 picks a head per tile (:func:`~.engine.choose_head`: fused, or a per-modality head where
one modality is missing or S2 is cloudy). A run of one modality classifies every tile with that modality's own
head: S2 only → the S2-only head, S1 only → the S1-only head, on tiles where that modality has data (at most
``max_nodata`` of the tile missing); the other tiles are nodata. The one-modality head is the model's per-modality
classifier (``probabilities_s2`` / ``probabilities_s1``, models exported with per-modality heads) or, for a model
trained on that modality alone (``architecture.modalities`` ``"s2"`` or ``"s1"``), its fused head, which then reads
that input only. Models without such a head are refused in one sentence before anything is read.

The front ends ask :func:`one_modality_heads` which one-modality runs a model supports (the dock offers only
those), and :func:`run_head` the head of a run (``None``: both modalities, per-tile heads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError, ModelError
from .metadata import ModelMetadata

MODALITIES = ("s2", "s1")  #: in the engine's reading order
MODALITY_NAMES = {"s2": "Sentinel-2", "s1": "Sentinel-1"}


@dataclass(frozen=True)
class RunInputs:
    """The modalities a run is given; at least one."""

    s2: bool = True
    s1: bool = True

    def __post_init__(self) -> None:
        if not (self.s2 or self.s1):
            raise InputError("give the Sentinel-2 bands, the Sentinel-1 bands or both; none were given.")

    @classmethod
    def of(cls, modalities: Sequence[str]) -> RunInputs:
        """``("s2",)`` → ``RunInputs(s2=True, s1=False)``; unknown names are refused."""
        unknown = set(modalities) - set(MODALITIES)
        if unknown:
            raise InputError(f"modalities are s2 and s1, not {', '.join(sorted(unknown))}.")
        return cls("s2" in modalities, "s1" in modalities)

    @property
    def modalities(self) -> tuple[str, ...]:
        """The given modalities in reading order, e.g. ``("s2", "s1")``."""
        return tuple(m for m in MODALITIES if getattr(self, m))

    @property
    def single(self) -> str | None:
        """The only modality of a one-modality run (``"s2"`` or ``"s1"``); None when both are given."""
        return self.modalities[0] if len(self.modalities) == 1 else None

    def describe(self) -> str:
        """``"S2 and S1"``, ``"S2 only"`` or ``"S1 only"``."""
        return f"{self.single.upper()} only" if self.single else "S2 and S1"


def modality_head(metadata: ModelMetadata, modality: str) -> str | None:
    """The head that classifies from ``modality`` alone: the model's per-modality head (``"s2"``/``"s1"``), or the
    fused head of a model trained on that modality only; None when the model has neither."""
    if modality in metadata.heads:
        return modality
    if metadata.raw.get("architecture", {}).get("modalities") == modality:
        return "fused"
    return None


def one_modality_heads(metadata: ModelMetadata) -> dict[str, str]:
    """``{modality: head}`` of every one-modality run the model supports, e.g. ``{"s2": "s2", "s1": "s1"}`` for a
    model with per-modality heads, ``{}`` for a fused-only S1+S2 model."""
    return {m: h for m in MODALITIES if (h := modality_head(metadata, m)) is not None}


def run_head(metadata: ModelMetadata, inputs: RunInputs, model_name: str) -> str | None:
    """The head that classifies every tile of a one-modality run; None for a run of both modalities (per-tile
    heads). A model without a head for the one modality given is a :class:`ModelError` in one sentence."""
    if inputs.single is None:
        return None
    head = modality_head(metadata, inputs.single)
    if head is None:
        given, other = MODALITY_NAMES[inputs.single], MODALITY_NAMES[next(m for m in MODALITIES if m != inputs.single)]
        raise ModelError(
            f"{model_name} has no {inputs.single.upper()}-only head (it was exported before per-modality heads, or "
            f"trained on other inputs), so it cannot classify {given} alone; give the {other} bands as well, or use "
            "a model with per-modality heads."
        )
    return head

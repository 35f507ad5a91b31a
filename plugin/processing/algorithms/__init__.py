"""The algorithms of the ``mosaic`` Processing provider."""

from __future__ import annotations


def all_algorithms() -> list:
    """Fresh instances of every MoSAiC algorithm (the provider calls this on every refresh)."""
    from .assess import AssessAlgorithm
    from .classify import ClassifyAlgorithm
    from .classify_many import ClassifyManyAlgorithm
    from .inspect_model import InspectModelAlgorithm
    from .prepare import PrepareAlgorithm
    from .sample import SampleAlgorithm
    from .train import TrainAlgorithm

    return [
        ClassifyAlgorithm(),
        ClassifyManyAlgorithm(),
        PrepareAlgorithm(),
        TrainAlgorithm(),
        InspectModelAlgorithm(),
        SampleAlgorithm(),
        AssessAlgorithm(),
    ]

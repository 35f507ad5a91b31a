"""The multi-label map, class by class: each class's presence/absence assessed like a two-class map.

For class k the map says present or absent in every cell (band 2 of labels.tif), the analyst says which classes the
cell holds. With the sample's strata (usually the top classes, so Stehman 2014 applies; Olofsson et al. 2014 when
the strata were the presence of k), per class:

- user's accuracy of *present* = **precision** (of the area mapped with k, the share that holds k), producer's
  accuracy of *present* = **recall**, **F1** = 2PR / (P + R) (no standard error), overall accuracy of presence;
- the area proportion and area holding k (areas of several classes overlap);
- **average precision** where the map's probabilities exist: the area under the precision-recall curve of class
  k's probability, each unit weighted by the area it stands for (``W_h / n_h``), so it estimates the map's AP over
  its cells: AP = Σ_t (R_t − R_{t−1}) P_t over the distinct probabilities t (scikit-learn's definition);
- over all assessed classes, the **label accuracy** (1 − Hamming loss): the stratified mean of the share of classes
  a cell has right, with its standard error (Stehman eq. 25).

Assessed classes: those present in the map or in the reference of at least one sample unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .estimates import Assessment, Estimate
from .labelled_sample import LabelledSample
from .stehman import StratifiedSample
from .strata import ABSENT, PRESENT
from .top_class import assess_codes


@dataclass(frozen=True)
class ClassPresence:
    """One class's presence/absence assessment."""

    name: str
    assessment: Assessment  #: over the classes ("absent", "present") that occur
    average_precision: float  #: NaN without probabilities or without a unit holding the class

    def _present(self, values: tuple[Estimate, ...]) -> Estimate:
        if PRESENT not in self.assessment.classes:
            return Estimate(float("nan"), float("nan"))
        return values[self.assessment.classes.index(PRESENT)]

    @property
    def precision(self) -> Estimate:
        return self._present(self.assessment.users)

    @property
    def recall(self) -> Estimate:
        return self._present(self.assessment.producers)

    @property
    def area_proportion(self) -> Estimate:
        if PRESENT not in self.assessment.classes:
            return Estimate(0.0, 0.0)
        return self._present(self.assessment.area_proportions)

    @property
    def f1(self) -> float:
        p, r = self.precision.estimate, self.recall.estimate
        return float("nan") if not p + r > 0 else 2 * p * r / (p + r)


@dataclass(frozen=True)
class MultilabelAssessment:
    label_accuracy: Estimate
    classes: tuple[ClassPresence, ...]
    total_area: float
    area_unit: str

    def to_json(self) -> dict:
        """The shape of ``assessment.json`` for the presence of each class: user's accuracy = precision, producer's
        = recall, area = the area holding the class; overall accuracy = the label accuracy."""
        shell = Assessment(
            estimator="",
            classes=tuple(c.name for c in self.classes),
            overall=self.label_accuracy,
            users=tuple(c.precision for c in self.classes),
            producers=tuple(c.recall for c in self.classes),
            area_proportions=tuple(c.area_proportion for c in self.classes),
            proportions=np.zeros((0, 0)),
            counts=np.zeros((0, 0), dtype=np.int64),
            total_area=self.total_area,
            area_unit=self.area_unit,
        )
        return shell.to_json()


def average_precision(scores: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> float:
    """Weighted average precision Σ (R_t − R_{t−1}) P_t over the distinct scores, highest first (NaN without a
    positive)."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")
    s, t, w = np.asarray(scores, dtype=float)[order], np.asarray(truth, dtype=float)[order], np.asarray(weights)[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last unit of each run of equal scores
    tp, fp = np.cumsum(w * t)[last], np.cumsum(w * (1 - t))[last]
    if len(tp) == 0 or tp[-1] <= 0:
        return float("nan")
    precision, recall = tp / (tp + fp), tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def assess_presence(sample: LabelledSample) -> MultilabelAssessment:
    """The multi-label assessment of a sample with ``mapped_presence`` and ``reference_presence``."""
    mapped, reference = sample.mapped_presence, sample.reference_presence
    assessed = np.flatnonzero(mapped.any(axis=0) | reference.any(axis=0))
    design = StratifiedSample(sample.strata, sample.stratum_areas)
    unit_weights = (design.weights / design.n)[sample.strata]
    classes = []
    for k in assessed:
        assessment = assess_codes(
            (ABSENT, PRESENT),
            sample.strata,
            sample.stratum_areas,
            mapped[:, k].astype(np.int64),
            reference[:, k].astype(np.int64),
            sample.area_unit,
        )
        ap = float("nan")
        if sample.probabilities is not None:
            ap = average_precision(sample.probabilities[:, k], reference[:, k], unit_weights)
        classes.append(ClassPresence(sample.classes[k], assessment, ap))
    agreement = (mapped[:, assessed] == reference[:, assessed]).mean(axis=1)
    return MultilabelAssessment(
        design.mean(agreement), tuple(classes), float(np.sum(sample.stratum_areas)), sample.area_unit
    )

"""Which estimator a sample takes: Olofsson et al. (2014) when its strata are the map classes, Stehman (2014) else.

The strata are the map classes when every stratum's units share one map class and no two strata share one. Given the
sample, both estimators then give the same numbers (Stehman's reduce to Olofsson's); the report names the one whose
equations apply to the design.
"""

from __future__ import annotations

import numpy as np

from .estimates import Assessment
from .labelled_sample import LabelledSample
from .olofsson import olofsson
from .stehman import stehman


def stratum_classes(strata: np.ndarray, mapped: np.ndarray) -> dict[int, int] | None:
    """Stratum → its map class when the strata are the map classes (one class per stratum, one stratum per class),
    else None."""
    pairs = set(zip(strata.tolist(), mapped.tolist()))
    by_stratum = dict(pairs)
    if len(by_stratum) != len(pairs) or len(set(by_stratum.values())) != len(by_stratum):
        return None
    return by_stratum


def assess_codes(
    classes: tuple[str, ...],
    strata: np.ndarray,
    stratum_areas: np.ndarray,
    mapped: np.ndarray,
    reference: np.ndarray,
    area_unit: str,
) -> Assessment:
    """The assessment of the classes that occur in the sample (map or reference), in ``classes`` order."""
    involved = np.union1d(mapped, reference)
    recode = np.full(len(classes), -1, dtype=np.int64)
    recode[involved] = np.arange(len(involved))
    names = tuple(classes[k] for k in involved)
    mapped, reference = recode[mapped], recode[reference]
    strata_to_class = stratum_classes(strata, mapped)
    if strata_to_class is None:
        return stehman(names, strata, stratum_areas, mapped, reference, area_unit)
    mapped_areas = np.zeros(len(names))
    for h, k in strata_to_class.items():
        mapped_areas[k] = stratum_areas[h]
    # a stratum without units has no area (labelled_sample refuses it otherwise): it adds nothing
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(counts, (mapped, reference), 1)
    return olofsson(names, counts, mapped_areas, area_unit)


def assess_top_class(sample: LabelledSample) -> Assessment:
    """Accuracy and area of the top-class map from a sample with top-class references."""
    return assess_codes(
        sample.classes, sample.strata, sample.stratum_areas, sample.mapped, sample.reference, sample.area_unit
    )

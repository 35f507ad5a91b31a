"""Stehman (2014) stratified estimators, for strata that differ from the map classes.

Stehman, S. V. (2014). Estimating area and map accuracy for stratified random sampling when the strata are
different from the map classes. International Journal of Remote Sensing 35(13), 4923–4939.

Every quantity is a population mean of a unit-level variable ``y_u`` or a ratio of two such means, estimated from the
stratum means ``ȳ_h`` with the strata's area shares ``W_h = N_h / N``:

- mean (eq. 2): Ŷ = Σ_h W_h ȳ_h, V̂(Ŷ) = Σ_h W_h² s²_yh / n_h (eq. 25)
- ratio R = Y / X: R̂ = Σ_h W_h ȳ_h / Σ_h W_h x̄_h,
  V̂(R̂) = X̂⁻² Σ_h W_h² (s²_yh + R̂² s²_xh − 2 R̂ s_xyh) / n_h (eq. 28)

with sample variances and covariances of divisor ``n_h − 1``. The finite population correction ``1 − n_h/N_h`` is
left out (its effect is below the printed digits of the paper's example, and areas need not be pixel counts), so
with strata equal to the map classes these are exactly Olofsson et al.'s (2014) formulas.

Indicators: overall accuracy y = [map = ref] (eq. 12); area proportion of class k y = [ref = k] (eq. 14); cell
p_ij y = [map = i, ref = j] (eq. 16); user's accuracy of k y = [map = k = ref], x = [map = k] (eqs. 18/19);
producer's accuracy of k y = [map = k = ref], x = [ref = k] (eqs. 22/23).
"""

from __future__ import annotations

import numpy as np

from .estimates import Assessment, Estimate, safe_ratio

NAME = "Stehman (2014)"


class StratifiedSample:
    """The strata of the sample units (``strata[u]`` in ``0..H-1``) and their area shares ``W_h``."""

    def __init__(self, strata: np.ndarray, stratum_areas: np.ndarray):
        self.strata = np.asarray(strata, dtype=np.int64)
        areas = np.asarray(stratum_areas, dtype=float)
        self.weights = areas / areas.sum()
        self.n = np.bincount(self.strata, minlength=len(areas)).astype(float)

    def _means(self, values: np.ndarray) -> np.ndarray:
        return safe_ratio(np.bincount(self.strata, weights=values, minlength=len(self.n)), self.n)

    def _covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Within-stratum sample covariance of ``a`` and ``b`` (divisor ``n_h − 1``)."""
        da = a - self._means(a)[self.strata]
        db = b - self._means(b)[self.strata]
        sums = np.bincount(self.strata, weights=da * db, minlength=len(self.n))
        return np.nan_to_num(safe_ratio(sums, self.n - 1))

    def mean(self, y) -> Estimate:
        """Stratified estimate of the population mean of ``y`` (eqs. 2 and 25)."""
        y = np.asarray(y, dtype=float)
        variance = np.nansum(self.weights**2 * safe_ratio(self._covariance(y, y), self.n))
        return Estimate(float(np.nansum(self.weights * self._means(y))), float(np.sqrt(variance)))

    def ratio(self, y, x) -> Estimate:
        """Combined ratio estimate of ``mean(y) / mean(x)`` (eq. 28); NaN when ``x`` is 0 in the whole sample."""
        y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
        y_hat = np.nansum(self.weights * self._means(y))
        x_hat = np.nansum(self.weights * self._means(x))
        if x_hat == 0:
            return Estimate(float("nan"), float("nan"))
        r = y_hat / x_hat
        terms = self._covariance(y, y) + r**2 * self._covariance(x, x) - 2 * r * self._covariance(x, y)
        variance = np.nansum(self.weights**2 * safe_ratio(terms, self.n)) / x_hat**2
        return Estimate(float(r), float(np.sqrt(variance)))


def stehman(
    classes: tuple[str, ...],
    strata: np.ndarray,
    stratum_areas: np.ndarray,
    mapped: np.ndarray,
    reference: np.ndarray,
    area_unit: str,
) -> Assessment:
    """The assessment from per-unit stratum, map and reference codes (class codes index ``classes``) and the area
    of each stratum (``area_unit``)."""
    design = StratifiedSample(strata, stratum_areas)
    mapped, reference = np.asarray(mapped), np.asarray(reference)
    k_range = range(len(classes))
    correct = mapped == reference
    p = np.array([[design.mean((mapped == i) & (reference == j)).estimate for j in k_range] for i in k_range])
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(counts, (mapped, reference), 1)
    return Assessment(
        estimator=NAME,
        classes=tuple(classes),
        overall=design.mean(correct),
        users=tuple(design.ratio(correct & (mapped == k), mapped == k) for k in k_range),
        producers=tuple(design.ratio(correct & (reference == k), reference == k) for k in k_range),
        area_proportions=tuple(design.mean(reference == k) for k in k_range),
        proportions=p,
        counts=counts,
        total_area=float(np.sum(stratum_areas)),
        area_unit=area_unit,
    )

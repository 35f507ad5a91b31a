"""Olofsson et al. (2014) stratified estimators, for strata that are the map classes.

Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V., Woodcock, C. E., Wulder, M. A. (2014). Good practices for
estimating area and assessing accuracy of land change. Remote Sensing of Environment 148, 42–57.

Notation: ``n_ij`` sample units mapped ``i`` with reference ``j``; ``n_i.`` the units in stratum (map class) ``i``;
``W_i = A_i / A`` its share of the mapped area.

- p̂_ij = W_i n_ij / n_i. (eq. 4);  overall accuracy Ô = Σ_j p̂_jj (eq. 1)
- user's accuracy Û_i = p̂_ii / p̂_i. = n_ii / n_i. (eq. 2);  producer's accuracy P̂_j = p̂_jj / p̂_.j (eq. 3)
- V̂(Ô) = Σ_i W_i² Û_i (1 − Û_i) / (n_i. − 1) (eq. 5);  V̂(Û_i) = Û_i (1 − Û_i) / (n_i. − 1) (eq. 6)
- V̂(P̂_j) = N̂_.j⁻² [N_j.² (1 − P̂_j)² Û_j (1 − Û_j) / (n_j. − 1)
  + P̂_j² Σ_{i≠j} N_i.² (n_ij / n_i.)(1 − n_ij / n_i.) / (n_i. − 1)], with N̂_.j = Σ_i N_i. n_ij / n_i. (eq. 7)
- area proportion p̂_.k = Σ_i W_i n_ik / n_i., S(p̂_.k) = √(Σ_i W_i² (n_ik/n_i.)(1 − n_ik/n_i.) / (n_i. − 1));
  area Â_k = A p̂_.k with S(Â_k) = A S(p̂_.k)

Map classes without mapped area and without sample units add nothing (a class only in the reference).
"""

from __future__ import annotations

import numpy as np

from .estimates import Assessment, Estimate, safe_ratio

NAME = "Olofsson et al. (2014)"


def olofsson(classes: tuple[str, ...], counts: np.ndarray, mapped_areas: np.ndarray, area_unit: str) -> Assessment:
    """The assessment from the sample counts ``counts[i, j]`` (map ``i``, reference ``j``) and the mapped area of
    each class ``mapped_areas[i]`` (its stratum; any unit, ``area_unit``)."""
    counts = np.asarray(counts, dtype=float)
    areas = np.asarray(mapped_areas, dtype=float)
    total = float(areas.sum())
    weights = areas / total
    n_row = counts.sum(axis=1)
    share = safe_ratio(counts, n_row[:, None])  # n_ij / n_i.
    share = np.nan_to_num(share)  # rows without units have no mapped area (checked by the caller)
    dof = safe_ratio(1.0, n_row - 1)  # 1 / (n_i. − 1)
    dof = np.nan_to_num(dof)
    p = weights[:, None] * share
    users = np.diag(share).copy()
    users[n_row == 0] = np.nan
    users_var = users * (1 - users) * dof
    overall = Estimate(float(np.trace(p)), float(np.sqrt(np.nansum(weights**2 * users_var))))
    reference_total = p.sum(axis=0)  # p̂_.j
    producers = safe_ratio(np.diag(p), reference_total)
    # eq. 7 with areas for N: the unit cancels
    n_hat = areas @ share
    cell_var = share * (1 - share) * dof[:, None]  # (n_ij/n_i.)(1 − n_ij/n_i.)/(n_i. − 1)
    others = (areas[:, None] ** 2 * cell_var).sum(axis=0) - areas**2 * np.diag(cell_var)
    own = areas**2 * (1 - producers) ** 2 * np.nan_to_num(users_var)
    producers_var = safe_ratio(own + producers**2 * others, n_hat**2)
    proportion_se = np.sqrt((weights[:, None] ** 2 * cell_var).sum(axis=0))
    return Assessment(
        estimator=NAME,
        classes=tuple(classes),
        overall=overall,
        users=tuple(Estimate(float(u), float(np.sqrt(v))) for u, v in zip(users, users_var)),
        producers=tuple(Estimate(float(q), float(np.sqrt(v))) for q, v in zip(producers, producers_var)),
        area_proportions=tuple(Estimate(float(q), float(s)) for q, s in zip(reference_total, proportion_se)),
        proportions=p,
        counts=counts.astype(np.int64),
        total_area=total,
        area_unit=area_unit,
    )

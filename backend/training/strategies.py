"""Training strategies: which loss terms are active and with which default weight.

Loss terms (see :mod:`mosaic.backend.training.losses`; ``v1``/``v2`` are two augmented views of each S1+S2 pair):

============== ===================================================================================
``intra_s1``   NT-Xent between the ``intra_s1`` projections of the two S1 views
``intra_s2``   NT-Xent between the ``intra_s2`` projections of the two S2 views
``inter``      S1 ↔ S2 contrast of the ``inter_s1``/``inter_s2`` projections, mean over both views
``mulsupcon_fused`` in-batch MulSupCon over the 2B views of the ``fused`` projection (labelled rows)
``mulsupcon_s1``    in-batch MulSupCon over the 2B S1 views (``intra_s1`` projection, labelled rows)
``mulsupcon_s2``    in-batch MulSupCon over the 2B S2 views (``intra_s2`` projection, labelled rows)
``bce``        BCE of the classifier on the fused feature of view ``v1`` (labelled rows)
``bce_s1``     BCE of the S1-only classifier on the pooled S1 feature ``h_s1`` of ``v1`` (labelled rows)
``bce_s2``     BCE of the S2-only classifier on the pooled S2 feature ``h_s2`` of ``v1`` (labelled rows)
============== ===================================================================================

Every classifier sees one augmented view per sample and step, ``v1``, in every strategy: a second view would give
the strategies with contrastive terms twice the augmented copies per classifier step of the supervised one.

``bce_s1`` and ``bce_s2`` train the per-modality heads that the exported model carries beside the fused one (an
S1-only tile under cloud is classified by the S1 head). They are on with weight 1 in every S1+S2 strategy and
absent from single-modality runs (where the fused head already sees one modality) and from early fusion (one
encoder, no per-modality feature). By default (``modality_heads: probe``) they are detached probes in every
strategy: the heads are trained and exported, but no gradient of theirs reaches the encoders, so every strategy
optimises its own objective alone (the article's, for MoSAiC). ``modality_heads: joint`` (an ablation) lets them
train the encoders too.

Total loss ``L = Σ_t w_t · L_t``. Self-supervised strategies (``simclr``, ``iai_simclr``) and ``mulsupcon``
train the classifier as an *online probe* on detached features, so it measures the representation without
shaping it (validation AP and the exported model then work for every strategy): the fusion MLP + classifier on the
detached encoder features, or, for ``mulsupcon`` (whose representation includes the fusion MLP), the classifier on
the detached fused feature. Their per-modality heads are probes too: the S1 / S2 classifier on the detached
``h_s1`` / ``h_s2``.

MoSAiC-1 and MoSAiC-2 are our reading of the paper (its exact weights are not public):

* ``mosaic1`` — one joint objective, every term weight 1 (the plain sum of the paper's seven terms; the
  per-modality heads' ``bce_s1`` and ``bce_s2`` train detached probes).
* ``mosaic2`` — the same terms, balanced per *objective family* so that each family weighs 1 in total:
  intra-modal (``intra_s1 = intra_s2 = ½``), inter-modal (``inter = 1``), multi-label contrast
  (``mulsupcon_fused = ½``, ``mulsupcon_s1 = mulsupcon_s2 = ¼``) and classification (``bce = 1``). The plain sum
  gives the contrastive families 6 of 7 parts of the gradient; MoSAiC-2 gives the classifier a quarter of it.
  The per-modality heads' ``bce_s1 = bce_s2 = 1`` train detached probes (not part of the paper's objective).
* ``mosaic2_terms`` — a second reading of MoSAiC-2 as a different *term set* rather than other weights: every
  weight 1 like MoSAiC-1, but the multi-label contrast acts inside each modality branch (``mulsupcon_s1``,
  ``mulsupcon_s2``) instead of on the fused representation (no ``mulsupcon_fused``), so the fused feature is shaped
  by BCE alone while each encoder also learns label structure from its own modality.

Baseline details that follow their reference code: ``mulsupcon`` keeps the official momentum key encoder and label
queue (``mulsupcon_queue`` keys, default 2048; ``mulsupcon_momentum`` 0.999; 0 = in-batch only) and the official
projection (``fused_head: mulsupcon``, 256-d); ``iai_simclr`` contrasts S1 with S2 on a third, independently
augmented pair (``inter_views: third``; ``intra`` reuses the two intra-modal views, the earlier reading and the
default of the MoSAiC strategies), draws its intra-modal views with the official augmentations (``views:
iai_simclr``) and uses ResNets without the stem max-pool (``max_pool: false``). MoSAiC's MulSupCon terms are
in-batch (no queue, no momentum encoder; this project's reading, the article does not say).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError

TERMS: tuple[str, ...] = (
    "intra_s1",
    "intra_s2",
    "inter",
    "mulsupcon_fused",
    "mulsupcon_s1",
    "mulsupcon_s2",
    "bce",
    "bce_s1",
    "bce_s2",
)
#: The BCE term of each classification head (``fused``, and the per-modality ``s1`` / ``s2`` heads).
CLASSIFIER_TERMS: dict[str, str] = {"bce": "fused", "bce_s1": "s1", "bce_s2": "s2"}
#: The per-modality heads' terms with their default weight in every S1+S2 strategy.
MODALITY_BCE: dict[str, float] = {"bce_s1": 1.0, "bce_s2": 1.0}
#: Modalities each term needs (the per-modality heads exist in S1+S2 networks only).
TERM_MODALITIES: dict[str, tuple[str, ...]] = {
    "intra_s1": ("s1",),
    "intra_s2": ("s2",),
    "inter": ("s1", "s2"),
    "mulsupcon_fused": (),
    "mulsupcon_s1": ("s1",),
    "mulsupcon_s2": ("s2",),
    "bce": (),
    "bce_s1": ("s1", "s2"),
    "bce_s2": ("s1", "s2"),
}
#: Projection heads each term uses.
TERM_HEADS: dict[str, tuple[str, ...]] = {
    "intra_s1": ("intra_s1",),
    "intra_s2": ("intra_s2",),
    "inter": ("inter_s1", "inter_s2"),
    "mulsupcon_fused": ("fused",),
    "mulsupcon_s1": ("intra_s1",),
    "mulsupcon_s2": ("intra_s2",),
    "bce": (),
    "bce_s1": (),
    "bce_s2": (),
}


@dataclass(frozen=True)
class Strategy:
    """Default term weights of a strategy, whether its classifier is a detached linear probe, its MulSupCon queue
    size (0: in-batch), where its inter-modal pair comes from (``intra`` views or a ``third`` pair), how its two
    views are augmented in pre-training (``protocol``: the protocol's ``augment``; ``iai_simclr``: IaI-SimCLR's
    official intra-modal augmentations), whether its ResNets keep the stem max-pool and which projection its
    ``fused`` head is (``shared`` or ``mulsupcon``, the official MulSupCon one)."""

    weights: Mapping[str, float]
    linear_probe: bool = False
    modalities: tuple[str, ...] = field(default=("s1s2",))
    mulsupcon_queue: int = 0
    inter_views: str = "intra"
    views: str = "protocol"
    max_pool: bool = True
    fused_head: str = "shared"


STRATEGIES: dict[str, Strategy] = {
    "supervised": Strategy({"bce": 1.0, **MODALITY_BCE}, modalities=("s1", "s2", "s1s2")),
    "simclr": Strategy(
        {"intra_s1": 1.0, "intra_s2": 1.0, "bce": 1.0, **MODALITY_BCE},
        linear_probe=True,
        modalities=("s1", "s2", "s1s2"),
    ),
    "iai_simclr": Strategy(
        {"intra_s1": 1.0, "intra_s2": 1.0, "inter": 1.0, "bce": 1.0, **MODALITY_BCE},
        linear_probe=True,
        inter_views="third",
        views="iai_simclr",
        max_pool=False,
    ),
    "mulsupcon": Strategy(
        {"mulsupcon_fused": 1.0, "bce": 1.0, **MODALITY_BCE},
        linear_probe=True,
        modalities=("s1", "s2", "s1s2"),
        mulsupcon_queue=2048,
        fused_head="mulsupcon",
    ),
    "mosaic1": Strategy(dict.fromkeys(TERMS, 1.0)),
    "mosaic2": Strategy(
        {
            "intra_s1": 0.5,
            "intra_s2": 0.5,
            "inter": 1.0,
            "mulsupcon_fused": 0.5,
            "mulsupcon_s1": 0.25,
            "mulsupcon_s2": 0.25,
            "bce": 1.0,
            **MODALITY_BCE,
        }
    ),
    "mosaic2_terms": Strategy(
        {
            "intra_s1": 1.0,
            "intra_s2": 1.0,
            "inter": 1.0,
            "mulsupcon_s1": 1.0,
            "mulsupcon_s2": 1.0,
            "bce": 1.0,
            **MODALITY_BCE,
        }
    ),
}


def resolve_weights(strategy: str, modalities: str, weights: Mapping[str, float] | None) -> dict[str, float]:
    """The active ``{term: weight}`` (weights > 0) of ``strategy``; ``weights`` replaces the defaults entirely.

    Raises :class:`ConfigError` for an unknown strategy or term, or a term whose modality is not used.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    spec = STRATEGIES[strategy]
    if modalities not in spec.modalities:
        raise ConfigError(f"strategy {strategy!r} needs modalities {' or '.join(spec.modalities)}, not {modalities!r}")
    used = ("s1", "s2") if modalities == "s1s2" else (modalities,)
    chosen = dict(weights) if weights is not None else dict(spec.weights)
    unknown = sorted(set(chosen) - set(TERMS))
    if unknown:
        raise ConfigError(f"unknown loss term(s) {unknown} in loss_weights; use: {', '.join(TERMS)}")
    if weights is None:  # defaults of a two-modality strategy trimmed to the used modality (simclr on S1)
        chosen = {t: w for t, w in chosen.items() if set(TERM_MODALITIES[t]) <= set(used)}
    active = {t: float(w) for t, w in chosen.items() if w > 0}
    for term in active:
        if not set(TERM_MODALITIES[term]) <= set(used):
            needs = "+".join(TERM_MODALITIES[term])
            raise ConfigError(f"loss term {term!r} needs {needs} but modalities={modalities!r}")
    if not active:
        raise ConfigError("every loss weight is 0: give at least one term a positive weight")
    return active


def heads_for(terms: Mapping[str, float]) -> tuple[str, ...]:
    """The projection heads the active ``terms`` use (so unused heads are not built: DDP needs every parameter)."""
    return tuple(sorted({h for t in terms for h in TERM_HEADS[t]}))


def modality_classifiers_for(terms: Mapping[str, float]) -> tuple[str, ...]:
    """The per-modality classification heads (``s1``, ``s2``) the active ``terms`` train (``bce_s1``, ``bce_s2``)."""
    return tuple(head for term, head in CLASSIFIER_TERMS.items() if head != "fused" and term in terms)

"""Contrastive and supervised losses of MoSAiC and of its baselines, as pure functions of embeddings.

Notation: ``B`` samples, embeddings ``z`` of dimension ``D``, temperature ``τ``, cosine similarity
``s(a, b) = a·b / (‖a‖‖b‖)``, multi-hot labels ``y ∈ {0,1}^{B×C}``. Every function L2-normalises its embeddings
itself, so callers pass raw projection-head outputs. All losses are means over anchors (dimensionless, nats).

Under DDP, gather the embeddings of all ranks first with :func:`gather_with_grad` (autograd kept) and evaluate
the loss on the global batch on every rank: each rank then holds the same loss value, and the gradient that
reaches a local embedding is ``world_size × ∂L/∂z``; DDP's gradient averaging divides by ``world_size`` again,
so the parameter gradients equal those of one process on the concatenated batch.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as nnf
from torch import Tensor

Weighting = Literal["label", "sample"]
InterForm = Literal["pooled", "cross"]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` of every DDP rank along dim 0 (rank order), keeping autograd; identity without DDP.

    All ranks must pass the same shape (use ``drop_last=True`` for training loaders).
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return x
    if torch.distributed.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def gather_no_grad(x: Tensor) -> Tensor:
    """Concatenate a tensor without gradient (labels, masks) of every DDP rank along dim 0."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return x
    world = torch.distributed.get_world_size()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    torch.distributed.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def _masked_log_softmax(scores: Tensor, valid: Tensor) -> Tensor:
    """Row-wise log-softmax of ``scores`` over the entries where ``valid`` is True (others get 0)."""
    scores = scores.masked_fill(~valid, float("-inf"))
    return torch.log_softmax(scores, dim=1).masked_fill(~valid, 0.0)


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """SimCLR NT-Xent over the ``2B`` views (Chen et al. 2020; equals lightly's ``NTXentLoss``).

    With ``u = normalize([z1; z2])`` (``2B × D``) and ``p(k)`` the other view of anchor ``k``::

        L = -1/(2B) Σ_k log( exp(u_k·u_p(k)/τ) / Σ_{j≠k} exp(u_k·u_j/τ) )
    """
    u = nnf.normalize(torch.cat([z1, z2], dim=0).float(), dim=1)
    n = u.shape[0]
    valid = ~torch.eye(n, dtype=torch.bool, device=u.device)
    log_prob = _masked_log_softmax(u @ u.T / temperature, valid)
    rows = torch.arange(n, device=u.device)
    return -log_prob[rows, rows.roll(n // 2)].mean()


def supcon(
    features: Tensor, labels: Tensor | None = None, mask: Tensor | None = None, temperature: float = 0.1
) -> Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, HobbitLong ``SupConLoss`` with ``base_temperature = τ``).

    ``features`` ``[B, V, D]`` (V views, normalised here); ``mask[i, j] = 1`` where sample ``j`` is a positive
    of ``i`` (from ``labels``: equal single label / equal multi-hot set; neither: only the other views, i.e.
    NT-Xent). The mask is tiled over the ``N = B·V`` views; with ``P(a)`` the positives of view ``a`` other
    than ``a`` itself::

        L = -1/N Σ_a 1/|P(a)| Σ_{p∈P(a)} log( exp(u_a·u_p/τ) / Σ_{k≠a} exp(u_a·u_k/τ) )

    An anchor without positives contributes 0 but is counted in ``N``.
    """
    if labels is not None and mask is not None:
        raise ValueError("supcon takes labels or mask, not both")
    b, v, _ = features.shape
    if mask is None:
        if labels is None:
            mask = torch.eye(b, device=features.device)
        elif labels.dim() == 1:
            mask = (labels[:, None] == labels[None, :]).float()
        else:
            mask = (labels[:, None, :] == labels[None, :, :]).all(-1).float()
    u = nnf.normalize(features.float(), dim=2).transpose(0, 1).reshape(b * v, -1)
    n = b * v
    not_self = ~torch.eye(n, dtype=torch.bool, device=u.device)
    log_prob = _masked_log_softmax(u @ u.T / temperature, not_self)
    positives = mask.float().repeat(v, v) * not_self
    per_anchor = (log_prob * positives).sum(1) / positives.sum(1).clamp(min=1.0)
    return -per_anchor.mean()


def query_key_supcon(query: Tensor, key: Tensor, mask: Tensor, temperature: float = 0.1) -> Tensor:
    """SupCon in the query → key layout of the official MulSupCon code (its ``SupCon``, patterns any / all).

    ``scores = normalize(query)·normalize(key)ᵀ/τ`` (``B × K``), log-softmax over all keys, ``mask[i, k] = 1``
    where key ``k`` is a positive of query ``i``::

        L = -1/B Σ_i 1/|P(i)| Σ_{k∈P(i)} log softmax_k(scores_i)
    """
    log_prob = torch.log_softmax(_cosine(query, key) / temperature, dim=1)
    mask = mask.float()
    return -((log_prob * mask).sum(1) / mask.sum(1)).mean()


def _cosine(a: Tensor, b: Tensor) -> Tensor:
    return nnf.normalize(a.float(), dim=1) @ nnf.normalize(b.float(), dim=1).T


def _label_rows(log_prob: Tensor, anchor_labels: Tensor, key_labels: Tensor, valid: Tensor) -> Tensor:
    """Row losses ``[A, C]``: ``-mean over valid keys carrying c of log_prob[a, k]`` (0 where no such key)."""
    key_labels = key_labels.float()
    valid = valid.float()
    total = (log_prob * valid) @ key_labels
    count = valid @ key_labels
    return -(total / count.clamp(min=1.0)) * anchor_labels.float() * (count > 0)


def _reduce_rows(rows: Tensor, anchor_labels: Tensor, weighting: Weighting, n_anchors: Tensor | None = None) -> Tensor:
    n_labels = anchor_labels.float().sum(1)
    if weighting == "label":
        return rows.sum() / n_labels.sum().clamp(min=1.0)
    if weighting == "sample":
        count = rows.shape[0] if n_anchors is None else n_anchors.clamp(min=1.0)
        return (rows.sum(1) / n_labels.clamp(min=1.0)).sum() / count
    raise ValueError(f"unknown MulSupCon weighting {weighting!r}; use 'label' or 'sample'")


def mulsupcon(
    query: Tensor,
    key: Tensor,
    labels: Tensor,
    temperature: float = 0.1,
    weighting: Weighting = "label",
    key_labels: Tensor | None = None,
) -> Tensor:
    """Multi-label supervised contrastive loss (Zhang & Wu 2024), layout of the official ``WeightedSupCon``.

    ``scores = normalize(query)·normalize(key)ᵀ/τ`` with log-softmax over all ``K`` keys. Each (anchor ``i``,
    label ``c`` with ``y_ic = 1``) is one row whose positives ``P_c`` are all keys carrying ``c`` (``i``'s own
    key among them)::

        ℓ_ic = -1/|P_c| Σ_{k∈P_c} log softmax_k(scores_i)
        "label":  L = Σ_ic y_ic ℓ_ic / Σ_ic y_ic                       (mean over all rows)
        "sample": L = 1/B Σ_i 1/|y_i| Σ_c y_ic ℓ_ic                     (zero-label samples: keys, counted in B)

    ``key_labels`` (``[K, C]``, default ``labels``, i.e. ``K = B``) labels keys beyond the batch: the official
    momentum variant passes the batch's keys followed by the queue, ``key = [k; queue]``,
    ``key_labels = [y; queue labels]`` (rows with no key carrying ``c`` contribute 0).
    """
    log_prob = torch.log_softmax(_cosine(query, key) / temperature, dim=1)
    valid = torch.ones_like(log_prob, dtype=torch.bool)
    key_labels = labels if key_labels is None else key_labels
    return _reduce_rows(_label_rows(log_prob, labels, key_labels, valid), labels, weighting)


def mulsupcon_views(
    z1: Tensor,
    z2: Tensor,
    labels: Tensor,
    temperature: float = 0.1,
    weighting: Weighting = "label",
    rows: Tensor | None = None,
) -> Tensor:
    """Symmetric in-batch MulSupCon over the ``2B`` views (used in training; no momentum queue).

    ``u = normalize([z1; z2])``; every view ``a`` is an anchor once per label ``c`` it carries; its positives
    are the other views ``k ≠ a`` carrying ``c`` (its own other view always among them) and the softmax runs
    over all ``k ≠ a`` — the SupCon-style ``2B`` form of :func:`mulsupcon`, weighted as there with ``2B``
    anchors. With one distinct label per sample it equals :func:`nt_xent`.

    ``rows`` (bool ``[B]``) restricts anchors and keys to those samples, with the same value as indexing
    ``z1[rows], z2[rows], labels[rows]`` (0 when none) but without the host synchronisation indexing needs.
    """
    u = torch.cat([z1, z2], dim=0)
    y = torch.cat([labels, labels], dim=0)
    n = u.shape[0]
    valid = ~torch.eye(n, dtype=torch.bool, device=u.device)
    if rows is None:
        log_prob = _masked_log_softmax(_cosine(u, u) / temperature, valid)
        return _reduce_rows(_label_rows(log_prob, y, y, valid), y, weighting)
    kept = torch.cat([rows, rows]).bool()
    valid = valid & kept[None, :]
    y = y * kept[:, None].to(y.dtype)
    log_prob = _masked_log_softmax(_cosine(u, u) / temperature, valid)
    return _reduce_rows(_label_rows(log_prob, y, y, valid), y, weighting, n_anchors=kept.sum().float())


def inter_modal(z_s1: Tensor, z_s2: Tensor, temperature: float = 0.5, form: InterForm = "pooled") -> Tensor:
    """S1 ↔ S2 contrast: the co-registered S1 and S2 embeddings of one place are the positive pair.

    ``"pooled"`` (IaI-SimCLR's ``NT_Xent_SingGPU``): :func:`nt_xent` over the ``2B`` pooled S1 and S2
    embeddings, so same-modality samples are negatives too. ``"cross"`` (CLIP-style, cross-modal negatives
    only), with ``S = normalize(z_s1)·normalize(z_s2)ᵀ/τ``::

        L = ½ [ CE(S, diag) + CE(Sᵀ, diag) ]
    """
    if form == "pooled":
        return nt_xent(z_s1, z_s2, temperature)
    if form == "cross":
        scores = _cosine(z_s1, z_s2) / temperature
        target = torch.arange(scores.shape[0], device=scores.device)
        return 0.5 * (nnf.cross_entropy(scores, target) + nnf.cross_entropy(scores.T, target))
    raise ValueError(f"unknown inter-modal form {form!r}; use 'pooled' or 'cross'")


def bce(logits: Tensor, labels: Tensor, rows: Tensor | None = None) -> Tensor:
    """Multi-label binary cross-entropy with logits, mean over samples and classes::

    L = -1/(B·C) Σ_ic [ y_ic log σ(x_ic) + (1 - y_ic) log(1 - σ(x_ic)) ]

    ``rows`` (bool ``[B]``): the mean over those samples only (0 when none), as ``bce(logits[rows], labels[rows])``
    but without the host synchronisation indexing needs.
    """
    if rows is None:
        return nnf.binary_cross_entropy_with_logits(logits.float(), labels.float())
    per_sample = nnf.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none").mean(1)
    weight = rows.float()
    return (per_sample * weight).sum() / weight.sum().clamp(min=1.0)

"""``import_reben``: published reBEN checkpoints → one ordinary ONNX model of this project (schema v3).

The graph (:mod:`.heads`) takes this project's inputs and does inside what the checkpoints were trained with:
band selection and order per version, nearest-upsampled BigEarthNet v2.0 statistics, sigmoid. The metadata says
what the engine needs (bands, units, the L2A DN convention without the +1000 offset, 120 px at 10 m, nearest
upsampling, the 19 classes in the checkpoints' alphabetical order, thresholds: 0.5 or tuned with ``tune_on``) and
where the weights come from: ``training.published`` per head (model id, reBEN version, band order, licence MIT,
SHA-256 of ``model.safetensors``, model page and revision where known). The model cards' test metrics are recorded
as ``published/test/<name>`` (published, not measured here); metrics measured by ``tune_on`` are ``test/<name>``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..data.bands import S1_BANDS, s2_bands
from ..errors import OutputError
from . import reben
from .catalogue import Catalogue, load_catalogue
from .checkpoint import PublishedCheckpoint, read_checkpoint
from .download import read_source

PUBLISHED_PREFIX = "published/test/"  #: metric names of the model cards' test results


@dataclass(frozen=True)
class ImportRequest:
    """What ``mosaic import reben`` does: ``folders`` (one per checkpoint) → ``output``.

    ``version``: the reBEN version of folders whose path names none; ``tune_on``: a dataset folder (BigEarthNet v2
    layout) whose validation split tunes the thresholds; ``catalogue``: where published metrics and model pages are
    looked up (default: the bundled one).
    """

    folders: Sequence[str]
    output: str
    version: str | None = None
    tune_on: str | None = None
    overwrite: bool = False
    catalogue: str | None = None
    batch_size: int = 32


def import_reben(request: ImportRequest, progress: Callable[..., None] | None = None) -> Path:
    """Import the checkpoints of ``request`` into one ONNX model; returns its path. ``progress(event, **fields)``
    gets ``import`` events with ``stage`` ``reading`` / ``tuning`` / ``exporting``."""
    from ..export.metadata import build_metadata
    from ..export.onnx_file import export_onnx
    from .heads import assign_heads, build_model

    def report(stage: str, **fields) -> None:
        if progress is not None:
            progress("import", stage=stage, **fields)

    output = Path(request.output)
    if output.exists() and not request.overwrite:
        raise OutputError(f"{output} exists already; pass --overwrite to replace it.")
    report("reading", folders=[str(f) for f in request.folders])
    heads = assign_heads([read_checkpoint(f, request.version) for f in request.folders])
    model = build_model(heads, s2_bands(), S1_BANDS)
    evaluation = None
    if request.tune_on:
        report("tuning", data=str(request.tune_on))
        from .tuning import tune_thresholds_on

        evaluation = tune_thresholds_on(model, request.tune_on, request.batch_size)
    report("exporting", output=str(output))
    parts = metadata_parts(heads, load_catalogue(request.catalogue), evaluation, request.tune_on)
    return export_onnx(model, build_metadata(parts), output, overwrite=request.overwrite)


def metadata_parts(
    heads: dict[str, PublishedCheckpoint],
    catalogue: Catalogue,
    evaluation: dict | None = None,
    tuned_on: str | os.PathLike | None = None,
) -> dict:
    """The model-specific metadata (input of :func:`~mosaic.backend.export.metadata.build_metadata`)."""
    s2, s1 = list(s2_bands()), list(S1_BANDS)
    (s2_mean, s2_std), (s1_mean, s1_std) = reben.statistics(s2), reben.statistics(s1)
    published = {head: _published_metrics(ckpt, catalogue) for head, ckpt in heads.items()}
    measured = {"fused": {}} if evaluation is None else {"fused": evaluation["metrics"], **evaluation["heads"]}
    training = {
        "dataset": reben.DATASET,
        "licence": reben.DATASET_LICENCE,
        "source": "published reBEN checkpoints (BIFOLD, TU Berlin), imported by `mosaic import reben`",
        "published": {head: provenance(ckpt, catalogue) for head, ckpt in heads.items()},
        "published_metrics": "published/test/<name>: the model card's results on the official BigEarthNet v2.0 "
        "test split at threshold 0.5, as published; not measured by MoSAiC",
    }
    if evaluation is not None:
        training["thresholds_tuned_on"] = (
            f"{Path(tuned_on).name}: validation split ({evaluation['validation_patches']} patches); test/<name> "
            f"measured by MoSAiC on its test split ({evaluation['test_patches']} patches)"
        )
    parts = {
        "class_names": list(reben.CLASS_NAMES),
        "s2_bands": s2,
        "s1_bands": s1,
        "upsampling": reben.UPSAMPLING,
        "norm_mean": {"s2": s2_mean, "s1": s1_mean},
        "norm_std": {"s2": s2_std, "s1": s1_std},
        "strategy": "supervised",
        "modalities": heads["fused"].modalities,
        "backbone": heads["fused"].model_id.architecture,
        "patch_size_px": reben.PATCH_SIZE_PX,
        "training": training,
        "metrics": {**published["fused"], **measured["fused"]},
        "heads": {
            head: {
                "metrics": {**published[head], **(measured[head]["metrics"] if evaluation is not None else {})},
                "thresholds": evaluation["heads"][head]["thresholds"] if evaluation is not None else None,
            }
            for head in heads
            if head != "fused"
        },
    }
    if evaluation is not None:
        parts["thresholds"] = evaluation["thresholds"]
    return parts


def _published_metrics(ckpt: PublishedCheckpoint, catalogue: Catalogue) -> dict[str, float]:
    """The catalogued model card metrics of ``ckpt`` as ``published/test/<name>``; none when the catalogue pins
    other weights (a different SHA-256) or has none."""
    entry = catalogue.entries.get(str(ckpt.model_id))
    if entry is None or (entry.sha256 is not None and entry.sha256 != ckpt.sha256):
        return {}
    return {f"{PUBLISHED_PREFIX}{k}": float(v) for k, v in entry.published_metrics.items()}


def provenance(ckpt: PublishedCheckpoint, catalogue: Catalogue) -> dict:
    """Where a head's weights come from: id, version, band order, licence, SHA-256, model page and revision."""
    entry = catalogue.entries.get(str(ckpt.model_id))
    source = read_source(ckpt.folder)
    out = {
        "model_id": str(ckpt.model_id),
        "reben_version": ckpt.model_id.version,
        "architecture": ckpt.model_id.architecture,
        "band_order": list(ckpt.bands),
        "licence": reben.LICENCE,
        "weights_sha256": ckpt.sha256,
    }
    if entry is not None:
        out["model_page"] = entry.card
    if source:
        out["downloaded_from"] = source.get("url", "")
        out["revision"] = source.get("commit") or source.get("revision", "")
    return out

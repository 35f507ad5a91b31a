"""The datasets a checkpoint was trained on, rebuilt for evaluation, threshold tuning and calibration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..training.checkpoints import read_checkpoint


def checkpoint_dataset(
    checkpoint: str | os.PathLike,
    split: str,
    class_names: list[str],
    data_root: str | os.PathLike | None = None,
    dataset_options: dict[str, Any] | None = None,
):
    """The ``split`` of the dataset ``checkpoint`` was trained on (or of ``data_root``), in the checkpoint's band
    set, options and seed (SEN12MS draws its validation scenes with it), and for the validation split of a run with
    ``protocol.validation_labels: label_fraction`` the same label-scarce subset the run selected its checkpoint on;
    :class:`InputError` when the folder is unknown or the split is empty."""
    from ..data import make_dataset

    data_h = dict(read_checkpoint(checkpoint).get("datamodule_hyper_parameters") or {})
    root = data_root or data_h.get("root")
    if not root:
        raise InputError(f"{checkpoint} does not record its dataset folder; pass --data-root")
    options = {"seed": data_h.get("seed", 0), **(data_h.get("options") or {}), **(dataset_options or {})}
    validation = (data_h.get("splits") or {}).get("validation", "validation")
    fraction = data_h.get("label_fraction")
    if split == validation and data_h.get("label_scarce_validation") and fraction is not None:
        options.setdefault("label_fraction", fraction)
    ds = make_dataset(
        data_h.get("dataset", "bigearthnet_v2"),
        root=str(root),
        split=split,
        s2_bands=data_h.get("s2_band_set", "s2_10"),
        class_names=class_names,
        **options,
    )
    if len(ds) == 0:
        raise InputError(f"the {split!r} split of {root} is empty; choose another --split / --val-split")
    return ds


def cloudy_dataset(checkpoint, split: str, class_names: list[str], data_root=None, dataset_options=None):
    """BigEarthNet's snow / cloud / shadow patches of the checkpoint's dataset (``None`` when it has none): all of
    them, or only those of ``split`` when training used them (``include_snow_cloud``)."""
    from ..data.bigearthnet import SNOW_CLOUD_METADATA

    data_h = dict(read_checkpoint(checkpoint).get("datamodule_hyper_parameters") or {})
    root = data_root or data_h.get("root")
    extra = Path(root) / SNOW_CLOUD_METADATA if root else None
    if data_h.get("dataset", "bigearthnet_v2") != "bigearthnet_v2" or extra is None or not extra.is_file():
        return None
    options = {**(data_h.get("options") or {}), **(dataset_options or {})}
    trained_on_them = bool(options.get("include_snow_cloud"))
    options.update(metadata_path=str(extra), include_snow_cloud=False)
    return checkpoint_dataset(checkpoint, split if trained_on_them else "all", class_names, data_root, options)

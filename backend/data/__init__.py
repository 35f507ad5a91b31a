"""Datasets, data modules' building blocks, band and class definitions, subsets and augmentations.

Kept import-light: import the sub-module you need (``mosaic.backend.data.bands`` needs nothing but Python);
:func:`make_dataset` imports the dataset module it builds on demand.

Stable public API (the trainer codes against these names; every dataset returns the sample dict of
``docs/contracts.md``: ``s2``, ``s1``, ``label``, ``labelled``, ``patch_id``, and exposes ``class_names``,
``s2_bands``, ``s1_bands``, ``upsampling``, ``patch_size_px``, ``labels`` (``np.ndarray [N, n_classes]``) and
``labelled_mask`` (``np.ndarray [N]`` bool))::

    from mosaic.backend.data.bigearthnet import BigEarthNetV2
    BigEarthNetV2(root, split="train", s2_bands="s2_10", upsampling="nearest", include_snow_cloud=False,
                  lmdb_path=None, label_fraction=None, seed=0, keep_unlabelled=False, metadata_path=None,
                  class_names=None)
        # root: folder with BigEarthNet-S1/, BigEarthNet-S2/, metadata.parquet (official or `mosaic prepare`).
        # lmdb_path: read pixels from a reBEN / `mosaic pack` LMDB instead of the GeoTIFF folders.
        # split: "train" | "validation" | "test" | "all".
        # label_fraction (train split; validation for a label-scarce validation): a stratified seeded subset; with
        # keep_unlabelled=True the other training patches stay in the dataset with labelled=False.

    from mosaic.backend.data.sen12ms import Sen12MS
    Sen12MS(root, split="all", s2_bands="s2_10", seasons=None, label_threshold=0.1, drop_unlabelled=False,
            test_scenes=None, validation_fraction=0.1, seed=0, label_fraction=None, keep_unlabelled=False)

    from mosaic.backend.data.subsets import label_fraction_subset
    label_fraction_subset(labels, fraction, seed=0) -> np.ndarray[bool]   # iterative stratification mask

    from mosaic.backend.data.transforms import ModalityAugment, PairAugment
    augment = PairAugment(aligned=True, size=120, scale=(0.5, 1.0), ratio=(3/4, 4/3), hflip=0.5, vflip=0.5,
                          rot90=True, s2_brightness=0.1, s2_contrast=0.1, s1_noise_db=0.5)
    s2_view, s1_view = augment(s2, s1, generator=None)  # batched [B, C, H, W] tensors, any device;
                                                        # the generator must live on the batch's device
    ModalityAugment("s2" | "s1", **same options)(x, generator=None) -> x   # one modality (SimCLR views)

    from mosaic.backend.data import make_dataset
    make_dataset("bigearthnet_v2" | "sen12ms", **kwargs)  # the class above, by name (for configs)

    Sen12MS samples are 256 × 256 px (``patch_size_px``); BigEarthNetV2 samples 120 × 120.

Command-line modules: ``prepare`` (own-region dataset builder), ``pack`` (folders → LMDB), ``stats``
(per-band mean/std), ``bench`` (loader patches/s).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Dataset name → (module of this package, class name).
DATASETS: dict[str, tuple[str, str]] = {
    "bigearthnet_v2": ("bigearthnet", "BigEarthNetV2"),
    "sen12ms": ("sen12ms", "Sen12MS"),
}


def make_dataset(name: str, **kwargs: Any):
    """Build the dataset registered as ``name`` (see :data:`DATASETS`) with the constructor's ``kwargs``."""
    from ..errors import ConfigError

    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}")
    module, cls = DATASETS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(**kwargs)

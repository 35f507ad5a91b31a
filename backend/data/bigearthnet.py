"""BigEarthNet v2.0 (reBEN) as a torch Dataset, from the official GeoTIFF folders or a reBEN LMDB.

Rows come from ``metadata.parquet`` (official splits); patches with seasonal snow or cloud/shadow live in
``metadata_for_patches_with_snow_cloud_or_shadow.parquet`` and are added only with ``include_snow_cloud=True``.
Labels are mapped **by name** onto :data:`~mosaic.backend.data.classes.BEN19_CLASSES` (canonical order).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, InputError
from . import bands as band_defs
from .bands import PATCH_SIZE_PX, S1_BANDS, Upsampling
from .classes import BEN19_CLASSES
from .readers import FolderReader, LmdbReader, stack_bands
from .subsets import label_scarce_rows

METADATA = "metadata.parquet"
SNOW_CLOUD_METADATA = "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
SPLITS = ("train", "validation", "test", "all")


def multi_hot(label_lists: Iterable[Sequence[str]], class_names: Sequence[str]) -> np.ndarray:
    """``float32 [N, C]`` multi-hot matrix of label-name lists, columns in ``class_names`` order (mapped by name)."""
    lists = pd.Series(list(label_lists), dtype=object)
    out = np.zeros((len(lists), len(class_names)), dtype=np.float32)
    names = lists.explode().dropna()
    index = pd.Index(class_names).get_indexer(names.to_numpy())
    if (index < 0).any():
        unknown = sorted(set(names.to_numpy()[index < 0]))
        raise InputError(f"label {unknown[0]!r} is not one of the {len(class_names)} classes of this dataset")
    out[names.index.to_numpy(), index] = 1.0
    return out


def load_metadata(
    root: str | Path, include_snow_cloud: bool = False, metadata_path: str | Path | None = None
) -> pd.DataFrame:
    """The metadata table (official columns) of a BigEarthNet v2 dataset, optionally with snow/cloud patches."""
    path = Path(metadata_path) if metadata_path else Path(root) / METADATA
    if not path.is_file():
        raise InputError(f"no {path.name} at {path.parent}: point root at a BigEarthNet v2 dataset folder")
    tables = [pd.read_parquet(path)]
    if include_snow_cloud:
        extra = path.parent / SNOW_CLOUD_METADATA
        if not extra.is_file():
            raise InputError(f"include_snow_cloud needs {extra.name} beside {path.name} in {path.parent}")
        tables.append(pd.read_parquet(extra))
    meta = pd.concat(tables, ignore_index=True)
    missing = {"patch_id", "labels", "split", "s1_name"} - set(meta.columns)
    if missing:
        raise InputError(f"{path} lacks the column(s) {sorted(missing)} of the BigEarthNet v2 metadata")
    return meta


class BigEarthNetV2(Dataset):
    """BigEarthNet v2.0 S1 + S2 patches with 19-class multi-labels; samples as in ``docs/contracts.md``.

    Args:
        root: folder with ``metadata.parquet`` (and ``BigEarthNet-S1/``, ``BigEarthNet-S2/`` unless ``lmdb_path``).
        split: ``train``, ``validation``, ``test`` or ``all``.
        s2_bands: ``s2_10`` (10 bands, default) or ``s2_12``.
        upsampling: ``nearest`` (reference) or ``bilinear`` for the 20/60 m bands.
        include_snow_cloud: also use the patches with seasonal snow or cloud/shadow.
        lmdb_path: read pixels from this reBEN-format LMDB instead of the GeoTIFF folders.
        label_fraction: keep labels for a stratified fraction of the *train* split (``None`` = all).
        seed: seed of the label subset.
        keep_unlabelled: with ``label_fraction``, keep the other train patches with ``labelled=False`` and an
            all-zero label (for the self-supervised terms) instead of dropping them.
        metadata_path: a metadata parquet other than ``root/metadata.parquet``.
        class_names: label nomenclature in canonical order (default: the 19 BigEarthNet classes; e.g.
            ``SEN12MS_CLASSES`` for a dataset built by ``mosaic prepare --nomenclature sen12ms10``).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        s2_bands: str = "s2_10",
        upsampling: Upsampling = "nearest",
        include_snow_cloud: bool = False,
        lmdb_path: str | Path | None = None,
        label_fraction: float | None = None,
        seed: int = 0,
        keep_unlabelled: bool = False,
        metadata_path: str | Path | None = None,
        class_names: Sequence[str] | None = None,
    ):
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if upsampling not in ("nearest", "bilinear"):
            raise ConfigError(f"upsampling must be 'nearest' or 'bilinear', got {upsampling!r}")
        try:
            self.s2_bands = band_defs.s2_bands(s2_bands)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.root = Path(root)
        self.split = split
        self.upsampling: Upsampling = upsampling
        self.s1_bands = S1_BANDS
        self.class_names = tuple(class_names) if class_names else BEN19_CLASSES
        self.patch_size_px = PATCH_SIZE_PX
        meta = load_metadata(root, include_snow_cloud, metadata_path)
        if split != "all":
            meta = meta[meta["split"] == split]
        meta = meta.reset_index(drop=True)
        rows, labels, labelled = label_scarce_rows(
            multi_hot(meta["labels"], self.class_names), split, label_fraction, seed, keep_unlabelled
        )
        meta = meta.iloc[rows].reset_index(drop=True)
        self.metadata = meta
        self.labels = labels
        self.labelled_mask = labelled
        self._patch_ids = meta["patch_id"].tolist()
        self._s1_names = meta["s1_name"].tolist()
        self.reader = LmdbReader(lmdb_path) if lmdb_path else FolderReader(self.root)
        if self._patch_ids:
            self._check_first_patch()

    def _check_first_patch(self) -> None:
        """Fail early (with a clear message) when the pixels of the first patch are not where expected."""
        first = self._patch_ids[0]
        if isinstance(self.reader, LmdbReader):
            if not self.reader.has(first) or not self.reader.has(self._s1_names[0]):
                raise InputError(f"patch {first} (or its S1 partner) is not in the LMDB {self.reader.path}")
        else:
            self.reader.s1(self._s1_names[0], self.s1_bands)

    def __len__(self) -> int:
        return len(self._patch_ids)

    def patch_id(self, index: int) -> str:
        """The reBEN ``patch_id`` (S2 patch name) of sample ``index``."""
        return self._patch_ids[index]

    def read_native(self, indices: Sequence[int]) -> Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
        """``(S2 arrays, S1 arrays)`` as stored (``{band: array}``, native resolution) for each of ``indices``; from
        an LMDB in one transaction, the arrays then valid until the next pair is asked for."""
        if isinstance(self.reader, LmdbReader):
            keys = [k for i in indices for k in (self._patch_ids[i], self._s1_names[i])]
            blobs = self.reader.read_many(keys)
            for s2 in blobs:
                yield s2, next(blobs)
        else:
            for i in indices:
                yield (
                    self.reader.s2(self._patch_ids[i], self.s2_bands),
                    self.reader.s1(self._s1_names[i], self.s1_bands),
                )

    def __getitem__(self, index: int) -> dict:
        patch_id = self._patch_ids[index]
        s2 = stack_bands(self.reader.s2(patch_id, self.s2_bands), self.s2_bands, self.patch_size_px, self.upsampling)
        s1 = stack_bands(self.reader.s1(self._s1_names[index], self.s1_bands), self.s1_bands, self.patch_size_px)
        return {
            "s2": torch.from_numpy(s2),
            "s1": torch.from_numpy(s1),
            "label": torch.from_numpy(self.labels[index]),
            "labelled": torch.tensor(bool(self.labelled_mask[index])),
            "patch_id": patch_id,
        }

"""Fixtures of the published-model tests: checkpoints in the published format (made with configilm at random weights,
``published_files``), and the reference each imported model must equal: the official configilm model applied to
the mosaic's seven real patches read with configilm's own BigEarthNet v2 reader (reBEN LMDB), its
``stack_and_interpolate`` (nearest) and its statistics (``band_combi_to_mean_std``), normalised with torchvision's
``Normalize`` as configilm's transform does."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from .published_files import CARD_ORDERS, write_published

PATCHES = ("37_88", "37_89", "37_90", "38_87", "38_88", "38_89", "38_90")  #: col_row of the mosaic's 7 real patches


def cell_of(col_row: str) -> tuple[int, int]:
    """(row, col) of a patch's cell in a stride-120 prediction of the T33UUP mosaic (top-left patch 37_87)."""
    col, row = (int(v) for v in col_row.split("_"))
    return row - 87, col - 37


class Reference:
    """Official probabilities ``[19]`` per mosaic patch for a configilm model and a band order."""

    def __init__(self, ben_v2: Path, lmdb_copy: Path) -> None:
        import pandas as pd

        self.root, self.lmdb = ben_v2, lmdb_copy
        meta = pd.concat(
            pd.read_parquet(ben_v2 / f)
            for f in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
        )
        self.patch_ids = {p: meta.patch_id[meta.patch_id.str.endswith(f"T33UUP_{p}")].iloc[0] for p in PATCHES}

    def patches(self, order: list[str]) -> torch.Tensor:
        """``[7, C, 120, 120]`` normalised patches in ``order``, as configilm's data module feeds them."""
        from configilm.extra.BENv2_utils import BENv2LDMBReader, band_combi_to_mean_std, stack_and_interpolate
        from torchvision.transforms import Normalize

        reader = BENv2LDMBReader(
            image_lmdb_file=self.lmdb,
            metadata_file=self.root / "metadata.parquet",
            metadata_snow_cloud_file=self.root / "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
            bands=list(order),
            process_bands_fn=partial(stack_and_interpolate, img_size=120, upsample_mode="nearest"),
        )
        mean, std = band_combi_to_mean_std(list(order))
        normalise = Normalize(list(mean), list(std))
        return torch.stack([normalise(reader[self.patch_ids[p]][0]) for p in PATCHES])

    def probabilities(self, model, order: list[str]) -> np.ndarray:
        """``[7, 19]`` sigmoid outputs of the configilm ``model`` on :meth:`patches`."""
        with torch.no_grad():
            return torch.sigmoid(model(self.patches(order))).numpy()


@pytest.fixture(scope="session")
def reference(ben_v2, tmp_path_factory) -> Reference:
    """The official reference on a copy of the sample's LMDB: py-lmdb opens one environment per path and process,
    and the project's own reader may hold the original open already (earlier tests in the same session)."""
    copy = shutil.copytree(ben_v2 / "BigEarthNet-V2-LMDB", tmp_path_factory.mktemp("lmdb") / "BigEarthNet-V2-LMDB")
    return Reference(ben_v2, copy)


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    """``make(arch, band_config, version, seed, folder_name=None)`` → (folder, configilm model), cached per key."""
    root = tmp_path_factory.mktemp("published")
    made: dict = {}

    def make(arch: str, band_config: str, version: str, seed: int = 0, folder_name: str | None = None):
        key = (arch, band_config, version, seed, folder_name)
        if key not in made:
            folder = root / (folder_name or f"{arch}-{band_config}-v{version}")
            made[key] = (folder, write_published(folder, arch, band_config, seed))
        return made[key]

    return make


def card_order(version: str, band_config: str) -> list[str]:
    return CARD_ORDERS[version][band_config]

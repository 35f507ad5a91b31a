"""SEN12MS (Schmitt et al. 2019) in its official folder layout, as multi-label classification patches.

Layout: ``<root>/ROIs<id>_<season>/{s1,s2,lc}_<scene>/ROIs<id>_<season>_{s1,s2,lc}_<scene>_p<patch>.tif``;
256 × 256 px at 10 m. S1: 2 bands VV, VH (dB). S2: 13 L1C bands B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11
B12 (all resampled to 10 m in the release). LC: 4 MODIS layers, the IGBP classes (1..17) in band 1.

Labels: per patch, ``fraction[k] = #pixels with an IGBP code of group k / #pixels with a valid code (1..17)``,
groups = :data:`~mosaic.backend.data.classes.SEN12MS_IGBP_GROUPS` (the simplified 10 classes); a class is present
when ``fraction ≥ label_threshold`` (0.1, as the SEN12MS classification baseline). A patch where no class reaches
the threshold is kept with an all-zero label (``labelled=True``) unless ``drop_unlabelled``.

Inputs as the official classification code (github.com/schmitt-muc/SEN12MS ``classification/dataset.py``): S2 L1C
DN as stored, S1 dB as stored. A model trained on SEN12MS clips S1 to [-25, 0] dB in its own graph
(:data:`~mosaic.backend.data.bands.INPUT_RANGES`), as the official loader's ``np.clip`` does, so an exported model
clips what it is given at inference too (NaN stays NaN and becomes the band mean in the network, where the official
code first sets it to 0 dB); normalised by the model with the official SEN12MS statistics
(:data:`~mosaic.backend.data.bands.SEN12MS_STATS`).

Splits (default ``test_scenes=None``): the official lists (``resources/sen12ms``, see its ``SOURCE.md``). Test = the
18,106 patches of ``test_list.csv`` (26 hold-out scenes); other patches of those scenes are in no split. Train =
every patch of the other scenes except :data:`EXCLUDED_PATCHES` (removed by the official code). Or pass own test
scenes as ``test_scenes`` (``"ROIs1158_spring/106"``-style names, or bare ``"ROIs1158_spring"`` for a whole season):
whole scenes, no exclusion. Validation is a seeded ``validation_fraction`` of the train scenes (whole scenes, held
out from training; the repository publishes no validation list).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import rasterio
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, InputError
from . import bands as band_defs
from .bands import S1_BANDS
from .classes import SEN12MS_CLASSES, SEN12MS_IGBP_GROUPS
from .readers import GDAL_ENV
from .subsets import label_scarce_rows

S2_L1C_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
PATCH_SIZE_PX = 256
SPLITS_DIR = Path(__file__).resolve().parents[2] / "resources" / "sen12ms"
#: (season, scene, patch) left out of the official lists: NaN in its S1 data
EXCLUDED_PATCHES = frozenset({("ROIs1868_summer", "146", "202")})
_NAME = re.compile(r"^(ROIs\d+_[a-z]+)_s1_(\d+)_p(\d+)\.tif$")


def igbp_fractions(igbp: np.ndarray) -> np.ndarray:
    """``float64 [10]`` fraction of the valid pixels (codes 1..17) in each simplified class, canonical order."""
    counts = np.bincount(igbp.ravel().astype(np.int64), minlength=18)[:18]
    valid = counts[1:].sum()
    if valid == 0:
        return np.zeros(len(SEN12MS_CLASSES))
    return np.array([counts[list(SEN12MS_IGBP_GROUPS[name])].sum() / valid for name in SEN12MS_CLASSES])


@lru_cache(maxsize=1)
def official_test_list() -> dict[str, frozenset[str]]:
    """The official test list: hold-out scene (``season/scene``) → its test patch numbers (as strings)."""
    with open(SPLITS_DIR / "test_list.csv", newline="", encoding="ascii") as fh:
        return {row["scene"]: frozenset(row["patches"].split()) for row in csv.DictReader(fh)}


def in_official_lists(item: tuple[str, str, str]) -> bool:
    """Whether ``(season, scene, patch)`` is in the official train or test list."""
    season, scene, patch = item
    listed = official_test_list().get(f"{season}/{scene}")
    return item not in EXCLUDED_PATCHES and (listed is None or patch in listed)


def scene_split(
    scenes: list[str], test_scenes: Iterable[str] | None, validation_fraction: float, seed: int
) -> dict[str, str]:
    """Scene (``season/scene``) → split; test = ``test_scenes`` (scene or whole season), validation seeded."""
    tests = set(test_scenes or ())
    out = {s: "test" for s in scenes if s in tests or s.split("/")[0] in tests}
    rest = sorted(s for s in scenes if s not in out)
    n_val = round(validation_fraction * len(rest))
    val = set(np.random.default_rng(seed).permutation(rest)[:n_val].tolist()) if n_val else set()
    out.update({s: "validation" if s in val else "train" for s in rest})
    return out


class Sen12MS(Dataset):
    """SEN12MS triplets as multi-label samples (``docs/contracts.md`` dict; patches are 256 × 256 px).

    Args:
        root: folder holding the seasonal ``ROIs*_<season>`` folders.
        split: ``all``, ``train``, ``validation`` or ``test`` (scene-level, see module docstring).
        s2_bands: ``s2_10`` or ``s2_12`` (taken from the 13 L1C bands; B10 is never used).
        seasons: restrict to these seasonal folders (default: all present).
        label_threshold: minimum class fraction for a label (0.1).
        drop_unlabelled: drop patches where no class reaches the threshold (default: keep, all-zero label).
        test_scenes: ``None``: the official lists (module docstring); else own test scenes or seasons.
        validation_fraction, seed: validation scenes drawn from the train scenes.
        label_fraction, keep_unlabelled: label-scarce train (or validation) subset, as for BigEarthNet v2.
        class_names: the nomenclature the caller expects (``mosaic evaluate`` passes the checkpoint's); must be
            the simplified 10 IGBP classes, the only one SEN12MS provides.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "all",
        s2_bands: str = "s2_10",
        seasons: Iterable[str] | None = None,
        label_threshold: float = 0.1,
        drop_unlabelled: bool = False,
        test_scenes: Iterable[str] | None = None,
        validation_fraction: float = 0.1,
        seed: int = 0,
        label_fraction: float | None = None,
        keep_unlabelled: bool = False,
        class_names: Iterable[str] | None = None,
    ):
        if split not in ("all", "train", "validation", "test"):
            raise ConfigError(f"split must be all, train, validation or test, got {split!r}")
        if not 0.0 < label_threshold <= 1.0:
            raise ConfigError(f"label_threshold must be in (0, 1], got {label_threshold!r}")
        try:
            self.s2_bands = band_defs.s2_bands(s2_bands)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.root = Path(root)
        self.s1_bands = S1_BANDS
        self.class_names = SEN12MS_CLASSES
        if class_names is not None and tuple(class_names) != SEN12MS_CLASSES:
            raise ConfigError(
                f"SEN12MS has the {len(SEN12MS_CLASSES)} simplified IGBP classes, not the {len(tuple(class_names))} "
                "classes asked for: evaluate a model trained on SEN12MS"
            )
        self.upsampling = "nearest"  # every SEN12MS band is already on the 10 m grid
        self.patch_size_px = PATCH_SIZE_PX
        self._s2_index = [S2_L1C_BANDS.index(b) + 1 for b in self.s2_bands]
        items = self._scan(seasons)
        if not items:
            raise InputError(f"no SEN12MS patches (ROIs*_<season>/s1_<scene>/*_p<n>.tif) found under {self.root}")
        if test_scenes is None:
            items = [it for it in items if in_official_lists(it)]
            test_scenes = official_test_list()
        splits = scene_split(sorted({f"{s}/{c}" for s, c, _ in items}), test_scenes, validation_fraction, seed)
        items = [it for it in items if split == "all" or splits[f"{it[0]}/{it[1]}"] == split]
        labels = np.stack([self._labels(it, label_threshold) for it in items]) if items else np.zeros((0, 10))
        keep = labels.any(axis=1) if drop_unlabelled else np.ones(len(items), dtype=bool)
        items = [it for it, k in zip(items, keep) if k]
        rows, self.labels, self.labelled_mask = label_scarce_rows(
            labels[keep].astype(np.float32), split, label_fraction, seed, keep_unlabelled
        )
        self._items = [items[i] for i in rows]

    def _scan(self, seasons: Iterable[str] | None) -> list[tuple[str, str, str]]:
        """(season folder, scene, patch) of every S1 patch file present."""
        wanted = set(seasons) if seasons else None
        items = []
        for folder in sorted(self.root.glob("ROIs*_*")):
            if wanted is not None and folder.name not in wanted:
                continue
            for path in sorted(folder.glob("s1_*/*.tif")):
                match = _NAME.match(path.name)
                if match and match.group(1) == folder.name:
                    items.append((folder.name, match.group(2), match.group(3)))
        return items

    def _path(self, item: tuple[str, str, str], kind: str) -> Path:
        season, scene, patch = item
        return self.root / season / f"{kind}_{scene}" / f"{season}_{kind}_{scene}_p{patch}.tif"

    def _read(self, item: tuple[str, str, str], kind: str, indexes: list[int]) -> np.ndarray:
        path = self._path(item, kind)
        try:
            with rasterio.Env(**GDAL_ENV), rasterio.open(path) as src:
                return src.read(indexes)
        except rasterio.errors.RasterioIOError:
            raise InputError(f"cannot read {path}: every SEN12MS patch needs its s1, s2 and lc file") from None

    def _labels(self, item: tuple[str, str, str], threshold: float) -> np.ndarray:
        return (igbp_fractions(self._read(item, "lc", [1])[0]) >= threshold).astype(np.float32)

    def patch_id(self, index: int) -> str:
        """``ROIs<id>_<season>_<scene>_p<patch>``."""
        season, scene, patch = self._items[index]
        return f"{season}_{scene}_p{patch}"

    def scene(self, index: int) -> str:
        """The scene of sample ``index``: ``ROIs<id>_<season>/<scene>`` (IaI-SimCLR's location sampler groups by it)."""
        season, scene, _ = self._items[index]
        return f"{season}/{scene}"

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> dict:
        item = self._items[index]
        s2 = self._read(item, "s2", self._s2_index).astype(np.float32)
        s1 = self._read(item, "s1", [1, 2]).astype(np.float32)  # the model clips it (bands.INPUT_RANGES)
        return {
            "s2": torch.from_numpy(s2),
            "s1": torch.from_numpy(s1),
            "label": torch.from_numpy(self.labels[index]),
            "labelled": torch.tensor(bool(self.labelled_mask[index])),
            "patch_id": self.patch_id(index),
        }

"""BigEarthNet v2 dataset on the real 24-pair sample: splits, labels by name, folders == LMDB, contract types."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mosaic.backend.data import make_dataset
from mosaic.backend.data.bigearthnet import BigEarthNetV2, multi_hot
from mosaic.backend.data.classes import BEN19_CLASSES
from mosaic.backend.data.readers import FolderReader, LmdbReader
from mosaic.backend.errors import ConfigError, InputError

PATCH_37_88 = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_37_88"


@pytest.fixture(scope="module")
def lmdb_path(ben_v2):
    return ben_v2 / "BigEarthNet-V2-LMDB"


def test_official_splits_exclude_snow_cloud_by_default(ben_v2):
    sizes = {s: len(BigEarthNetV2(ben_v2, s)) for s in ("train", "validation", "test", "all")}
    assert sizes == {"train": 6, "validation": 6, "test": 6, "all": 18}
    with_flagged = {s: len(BigEarthNetV2(ben_v2, s, include_snow_cloud=True)) for s in ("train", "validation", "test")}
    assert with_flagged == {"train": 8, "validation": 8, "test": 8}
    flagged = BigEarthNetV2(ben_v2, "all", include_snow_cloud=True).metadata
    assert int((flagged.contains_seasonal_snow | flagged.contains_cloud_or_shadow).sum()) == 6


def test_sample_contract_and_label_by_name(ben_v2):
    ds = BigEarthNetV2(ben_v2, "train")
    i = ds.metadata.index[ds.metadata.patch_id == PATCH_37_88][0]
    sample = ds[i]
    assert sample["patch_id"] == PATCH_37_88
    assert sample["s2"].dtype == torch.float32 and sample["s2"].shape == (10, 120, 120)
    assert sample["s1"].dtype == torch.float32 and sample["s1"].shape == (2, 120, 120)
    assert sample["labelled"].dtype == torch.bool and bool(sample["labelled"])
    # labels from the independent GeoJSON of the sample: Broad-leaved forest; Coniferous forest; Inland waters;
    # Mixed forest; Pastures -> canonical (paper) order indices 4, 8, 9, 10, 17
    assert torch.nonzero(sample["label"]).flatten().tolist() == [4, 8, 9, 10, 17]
    assert ds.class_names == BEN19_CLASSES and ds.s1_bands == ("VV", "VH")
    # physical units, not normalised: S2 reflectance × 10000, S1 dB
    assert 1 <= float(sample["s2"].min()) and float(sample["s2"].max()) <= 20000
    assert -40 < float(sample["s1"].min()) < float(sample["s1"].max()) < 25


def test_multi_hot_maps_by_name_not_position():
    y = multi_hot([["Marine waters", "Urban fabric"]], BEN19_CLASSES)
    assert np.flatnonzero(y[0]).tolist() == [0, 18]
    alphabetical = tuple(sorted(BEN19_CLASSES))
    y_alpha = multi_hot([["Marine waters", "Urban fabric"]], alphabetical)
    assert np.flatnonzero(y_alpha[0]).tolist() == [
        alphabetical.index("Marine waters"),
        alphabetical.index("Urban fabric"),
    ]
    with pytest.raises(InputError, match="not one of the 19 classes"):
        multi_hot([["Tundra"]], BEN19_CLASSES)


def test_folders_and_lmdb_give_identical_samples(ben_v2, lmdb_path):
    folders = BigEarthNetV2(ben_v2, "all", s2_bands="s2_12", include_snow_cloud=True)
    packed = BigEarthNetV2(ben_v2, "all", s2_bands="s2_12", include_snow_cloud=True, lmdb_path=lmdb_path)
    assert len(folders) == len(packed) == 24
    for i in range(len(folders)):
        a, b = folders[i], packed[i]
        assert a["patch_id"] == b["patch_id"]
        assert torch.equal(a["s2"], b["s2"]) and torch.equal(a["s1"], b["s1"]) and torch.equal(a["label"], b["label"])


def test_folder_reader_reads_official_geotiffs(ben_v2, lmdb_path):
    pid = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"
    folder = FolderReader(ben_v2).s2(pid, ("B01", "B05", "B08"))
    packed = LmdbReader(lmdb_path).s2(pid)
    assert {b: a.shape for b, a in folder.items()} == {"B01": (20, 20), "B05": (60, 60), "B08": (120, 120)}
    for band, array in folder.items():
        assert array.dtype == np.uint16 and np.array_equal(array, packed[band])


def test_label_fraction_modes(ben_v2):
    subset = BigEarthNetV2(ben_v2, "train", label_fraction=0.5, seed=1)
    assert len(subset) == 3 and bool(subset.labelled_mask.all())
    kept = BigEarthNetV2(ben_v2, "train", label_fraction=0.5, seed=1, keep_unlabelled=True)
    assert len(kept) == 6 and int(kept.labelled_mask.sum()) == 3
    unlabelled = [kept[i] for i in range(6) if not kept.labelled_mask[i]]
    assert all(not bool(s["labelled"]) and float(s["label"].sum()) == 0 for s in unlabelled)
    labelled_ids = {kept[i]["patch_id"] for i in range(6) if kept.labelled_mask[i]}
    assert labelled_ids == set(subset.metadata.patch_id)


def test_bad_configuration_is_reported(ben_v2, tmp_path):
    with pytest.raises(ConfigError, match="split"):
        BigEarthNetV2(ben_v2, "training")
    with pytest.raises(ConfigError, match="unknown S2 band set"):
        BigEarthNetV2(ben_v2, s2_bands="rgb")
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        BigEarthNetV2(ben_v2, label_fraction=0.0)
    with pytest.raises(ConfigError, match="train and validation splits only"):
        BigEarthNetV2(ben_v2, "test", label_fraction=0.1)
    with pytest.raises(InputError, match=r"metadata\.parquet"):
        BigEarthNetV2(tmp_path)
    with pytest.raises(InputError, match="not an LMDB"):
        BigEarthNetV2(ben_v2, lmdb_path=tmp_path)
    with pytest.raises(ConfigError, match="unknown dataset"):
        make_dataset("imagenet", root=ben_v2)


def test_make_dataset_builds_by_name(ben_v2):
    ds = make_dataset("bigearthnet_v2", root=ben_v2, split="validation", upsampling="bilinear")
    assert isinstance(ds, BigEarthNetV2) and len(ds) == 6 and ds.upsampling == "bilinear"

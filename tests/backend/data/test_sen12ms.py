"""SEN12MS reader on a miniature written by the test in the official layout (no real SEN12MS data exists here).

Each patch is 256 × 256 px: S1 2 bands Float32 dB, S2 13 L1C bands UInt16 (band k holds ``100·k + patch``), LC 4
bands UInt16 with the IGBP classes in band 1 laid out so the expected 10-class fractions are known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from mosaic.backend.data.classes import SEN12MS_CLASSES
from mosaic.backend.data.sen12ms import Sen12MS, igbp_fractions, scene_split
from mosaic.backend.errors import ConfigError, InputError

SIZE = 256


def _igbp(parts: dict[int, float]) -> np.ndarray:
    """A 256 × 256 IGBP layer whose rows are filled class by class in the given pixel fractions."""
    flat = np.zeros(SIZE * SIZE, dtype=np.uint16)
    start = 0
    for code, share in parts.items():
        n = round(share * SIZE * SIZE)
        flat[start : start + n] = code
        start += n
    return flat.reshape(SIZE, SIZE)


# (season, scene, patch) -> IGBP fractions
PATCHES = {
    ("ROIs1158_spring", 1, 10): {1: 0.6, 12: 0.3, 14: 0.1},  # Forest 0.6, Croplands 0.4
    ("ROIs1158_spring", 1, 11): {17: 0.95, 13: 0.05},  # Water only (Urban 0.05 < 0.1)
    ("ROIs1868_summer", 5, 20): {8: 0.1, 10: 0.9},  # Savanna exactly 0.1 (kept), Grassland
    ("ROIs1970_fall", 7, 30): {2: 0.2, 6: 0.2, 11: 0.2, 15: 0.2, 16: 0.2},  # five classes at 0.2
}


def _write(path, array, dtype):
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="GTiff", width=SIZE, height=SIZE, count=array.shape[0], dtype=dtype,
        crs="EPSG:32633", transform=from_origin(300000, 5000000, 10, 10),
    ) as dst:  # fmt: skip
        dst.write(array.astype(dtype))


@pytest.fixture(scope="module")
def sen12ms_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sen12ms")
    for (season, scene, patch), parts in PATCHES.items():
        for kind in ("s1", "s2", "lc"):
            path = root / season / f"{kind}_{scene}" / f"{season}_{kind}_{scene}_p{patch}.tif"
            if kind == "s1":
                array = np.stack([np.full((SIZE, SIZE), -10.0 - patch / 100), np.full((SIZE, SIZE), -17.5)])
                _write(path, array, "float32")
            elif kind == "s2":
                array = np.stack([np.full((SIZE, SIZE), 100 * k + patch) for k in range(1, 14)])
                _write(path, array, "uint16")
            else:
                array = np.stack([_igbp(parts), *[np.full((SIZE, SIZE), 3)] * 3])
                _write(path, array, "uint16")
    return root


def _labels(ds):
    return {ds.patch_id(i): [SEN12MS_CLASSES[k] for k in np.flatnonzero(ds.labels[i])] for i in range(len(ds))}


def test_igbp_fractions_group_into_ten_classes():
    frac = dict(zip(SEN12MS_CLASSES, igbp_fractions(_igbp({1: 0.25, 5: 0.25, 12: 0.25, 14: 0.125, 0: 0.125}))))
    # code 0 is not a valid IGBP class: fractions are over the 7/8 valid pixels
    assert frac["Forest"] == pytest.approx(0.5 / 0.875) and frac["Croplands"] == pytest.approx(0.375 / 0.875)
    assert sum(frac.values()) == pytest.approx(1.0)


def test_multi_labels_with_threshold(sen12ms_root):
    ds = Sen12MS(sen12ms_root)
    assert _labels(ds) == {
        "ROIs1158_spring_1_p10": ["Forest", "Croplands"],
        "ROIs1158_spring_1_p11": ["Water"],
        "ROIs1868_summer_5_p20": ["Savanna", "Grassland"],
        "ROIs1970_fall_7_p30": ["Forest", "Shrubland", "Wetlands", "Snow/Ice", "Barren"],
    }
    strict = Sen12MS(sen12ms_root, label_threshold=0.5)
    assert _labels(strict)["ROIs1158_spring_1_p10"] == ["Forest"]


def test_zero_label_patches_kept_or_dropped(sen12ms_root):
    kept = Sen12MS(sen12ms_root, label_threshold=0.25)
    i = [kept.patch_id(j) for j in range(len(kept))].index("ROIs1970_fall_7_p30")
    sample = kept[i]
    assert float(sample["label"].sum()) == 0 and bool(sample["labelled"])
    dropped = Sen12MS(sen12ms_root, label_threshold=0.25, drop_unlabelled=True)
    assert len(dropped) == 3 and "ROIs1970_fall_7_p30" not in _labels(dropped)


def test_sample_bands_and_contract(sen12ms_root):
    ds = Sen12MS(sen12ms_root, s2_bands="s2_10")
    sample = ds[0]  # ROIs1158_spring_1_p10
    assert sample["s2"].shape == (10, 256, 256) and sample["s2"].dtype.is_floating_point
    # s2_10 = B02 B03 B04 B05 B06 B07 B08 B8A B11 B12 = L1C band numbers 2..9, 12, 13 (B10 skipped)
    assert sample["s2"][:, 0, 0].tolist() == [100 * k + 10 for k in (2, 3, 4, 5, 6, 7, 8, 9, 12, 13)]
    full = Sen12MS(sen12ms_root, s2_bands="s2_12")[0]["s2"][:, 5, 5].tolist()
    assert full == [100 * k + 10 for k in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13)]
    assert sample["s1"][:, 0, 0].tolist() == pytest.approx([-10.1, -17.5])
    assert sample["label"].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert ds.class_names == SEN12MS_CLASSES and ds.patch_size_px == 256


def test_scene_level_splits(sen12ms_root):
    test = Sen12MS(sen12ms_root, split="test", test_scenes=["ROIs1158_spring/1"])
    assert sorted(_labels(test)) == ["ROIs1158_spring_1_p10", "ROIs1158_spring_1_p11"]
    season = Sen12MS(sen12ms_root, split="test", test_scenes=["ROIs1970_fall"])
    assert list(_labels(season)) == ["ROIs1970_fall_7_p30"]
    split = scene_split([f"S/{i}" for i in range(40)], ["S/0"], 0.25, seed=3)
    assert split["S/0"] == "test" and sum(v == "validation" for v in split.values()) == 10
    assert split == scene_split([f"S/{i}" for i in range(40)], ["S/0"], 0.25, seed=3)
    with pytest.raises(ConfigError, match="test_scenes"):
        Sen12MS(sen12ms_root, split="test")


def test_label_fraction_on_train(sen12ms_root):
    ds = Sen12MS(sen12ms_root, split="train", validation_fraction=0.0, label_fraction=0.5, keep_unlabelled=True)
    assert len(ds) == 4 and int(ds.labelled_mask.sum()) == 2
    assert not ds.labels[~ds.labelled_mask].any() and ds.labels[ds.labelled_mask].any(axis=1).all()
    with pytest.raises(ConfigError, match=r"train split only \(got split='all'\)"):
        Sen12MS(sen12ms_root, label_fraction=0.5)


def test_missing_data_is_an_input_error(tmp_path, sen12ms_root):
    with pytest.raises(InputError, match="no SEN12MS patches"):
        Sen12MS(tmp_path)
    broken = tmp_path / "ROIs1158_spring" / "s1_3" / "ROIs1158_spring_s1_3_p1.tif"
    broken.parent.mkdir(parents=True)
    broken.write_bytes((sen12ms_root / "ROIs1158_spring" / "s1_1" / "ROIs1158_spring_s1_1_p10.tif").read_bytes())
    with pytest.raises(InputError, match="needs its s1, s2 and lc"):
        Sen12MS(tmp_path)

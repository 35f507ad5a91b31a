"""SEN12MS reader on a miniature written by the test in the official layout (no real SEN12MS data exists here).

Each patch is 256 × 256 px: S1 2 bands Float32 dB, S2 13 L1C bands UInt16 (band k holds ``100·k + patch``), LC 4
bands UInt16 with the IGBP classes in band 1 laid out so the expected 10-class fractions are known exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import yaml
from rasterio.transform import from_origin

from mosaic.backend.data.bands import S1_BANDS, S1_CLIP_DB, band_stats, s2_bands
from mosaic.backend.data.bigearthnet import BigEarthNetV2
from mosaic.backend.data.classes import SEN12MS_CLASSES, SEN12MS_IGBP_GROUPS
from mosaic.backend.data.readers import LmdbReader, stack_bands
from mosaic.backend.data.sen12ms import (
    SPLITS_DIR,
    Sen12MS,
    igbp_fractions,
    in_official_lists,
    official_test_list,
    scene_split,
)
from mosaic.backend.errors import ConfigError, InputError

SIZE = 256
CONFIGS = Path(__file__).resolve().parents[3] / "configs"
SEN12MS_CONFIG = CONFIGS / "data" / "sen12ms.yaml"
STRATEGY_CONFIGS = sorted(CONFIGS.glob("*.yaml"))


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
        path,
        "w",
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=array.shape[0],
        dtype=dtype,
        crs="EPSG:32633",
        transform=from_origin(300000, 5000000, 10, 10),
    ) as dst:
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
    assert len(Sen12MS(sen12ms_root, split="test")) == 0  # the official hold-out scenes are not in the miniature


def test_label_fraction_on_train(sen12ms_root):
    ds = Sen12MS(sen12ms_root, split="train", validation_fraction=0.0, label_fraction=0.5, keep_unlabelled=True)
    assert len(ds) == 4 and int(ds.labelled_mask.sum()) == 2
    assert not ds.labels[~ds.labelled_mask].any() and ds.labels[ds.labelled_mask].any(axis=1).all()
    with pytest.raises(ConfigError, match=r"train and validation splits only \(got split='all'\)"):
        Sen12MS(sen12ms_root, label_fraction=0.5)


def test_missing_data_is_an_input_error(tmp_path, sen12ms_root):
    with pytest.raises(InputError, match="no SEN12MS patches"):
        Sen12MS(tmp_path)
    broken = tmp_path / "ROIs1158_spring" / "s1_3" / "ROIs1158_spring_s1_3_p1.tif"
    broken.parent.mkdir(parents=True)
    broken.write_bytes((sen12ms_root / "ROIs1158_spring" / "s1_1" / "ROIs1158_spring_s1_1_p10.tif").read_bytes())
    with pytest.raises(InputError, match="needs its s1, s2 and lc"):
        Sen12MS(tmp_path)


# ---------------------------------------------------------------- official inputs, classes, statistics and splits
# References: github.com/schmitt-muc/SEN12MS (commit 3a41236), classification/dataset.py (load_s1, load_sample)
# and classification/main_train.py (bands_mean / bands_std); splits/ (see resources/sen12ms/SOURCE.md).
OFFICIAL_MEAN = {
    "s1_mean": [-11.76858, -18.294598],
    "s2_mean": [
        1226.4215,
        1137.3799,
        1139.6792,
        1350.9973,
        1932.9058,
        2211.1584,
        2154.9846,
        2409.1128,
        2001.8622,
        1356.0801,
    ],
}
OFFICIAL_STD = {
    "s1_std": [4.525339, 4.3586307],
    "s2_std": [
        741.6254,
        740.883,
        960.1045,
        946.76056,
        985.52747,
        1082.4341,
        1057.7628,
        1136.1942,
        1132.7898,
        991.48016,
    ],
}
BEN_PATCH = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"


def official_simplified(lc: np.ndarray) -> np.ndarray:
    """``load_sample``'s IGBP → simplified 10-class sum on the 17 class fractions ``lc`` (code k at index k-1)."""
    cls1 = sum(lc[0:5])
    cls2 = sum(lc[5:7])
    cls3 = sum(lc[7:9])
    cls6 = lc[11] + lc[13]
    return np.asarray([cls1, cls2, cls3, lc[9], lc[10], cls6, lc[12], lc[14], lc[15], lc[16]])


def test_class_mapping_equals_the_official_simplification():
    rng = np.random.default_rng(7)
    igbp = rng.integers(1, 18, size=(SIZE, SIZE)).astype(np.uint16)
    lc = np.bincount(igbp.ravel(), minlength=18)[1:] / igbp.size
    np.testing.assert_allclose(igbp_fractions(igbp), official_simplified(lc), rtol=1e-12)
    assert SEN12MS_CLASSES[5] == "Croplands" and SEN12MS_IGBP_GROUPS["Croplands"] == (12, 14)


def test_statistics_are_the_official_ones():
    mean, std = band_stats(s2_bands("s2_10"), "nearest", "sen12ms")
    assert mean == OFFICIAL_MEAN["s2_mean"] and std == OFFICIAL_STD["s2_std"]
    assert band_stats(S1_BANDS, "nearest", "sen12ms") == (OFFICIAL_MEAN["s1_mean"], OFFICIAL_STD["s1_std"])
    with pytest.raises(ValueError, match="B01, B09"):
        band_stats(s2_bands("s2_12"), "nearest", "sen12ms")


def test_official_lists_as_shipped():
    tests = official_test_list()
    assert len(tests) == 26 and sum(map(len, tests.values())) == 18106
    holdout = (SPLITS_DIR / "SEN12MS_holdOutScenes.txt").read_text().split()
    assert sorted(tests) == sorted(s.replace("/s1_", "/") for s in holdout)
    assert len(tests["ROIs1158_spring/124"]) == 695 and "100" in tests["ROIs1158_spring/124"]
    assert "58" not in tests["ROIs1158_spring/63"]  # a gap of the official list
    assert not in_official_lists(("ROIs1868_summer", "146", "202")) and in_official_lists(
        ("ROIs1868_summer", "146", "1")
    )


@pytest.fixture(scope="module")
def real_pixel_root(tmp_path_factory, ben_v2):
    """Official-layout miniature whose S1/S2 pixels are one real BigEarthNet patch (tiled from 120 to 256 px;
    S2 L2A bands in the L1C slots, B10 = B09); each patch's IGBP layer is one fixed class. Only exercises the reader.
    """
    arrays = LmdbReader(ben_v2 / "BigEarthNet-V2-LMDB").s2(BEN_PATCH)
    s1_name = BigEarthNetV2(ben_v2, "all", include_snow_cloud=True).metadata.set_index("patch_id").s1_name[BEN_PATCH]
    s1_arrays = LmdbReader(ben_v2 / "BigEarthNet-V2-LMDB").s1(s1_name)
    s2 = stack_bands(arrays, s2_bands("s2_12"), 120, "nearest")
    s2 = np.concatenate([s2[:10], s2[9:10], s2[10:]])  # 13 L1C slots: B10 repeats B09
    s1 = np.stack([s1_arrays["VV"], s1_arrays["VH"]]).astype(np.float32)

    def tile(a: np.ndarray) -> np.ndarray:
        return np.tile(a, (1, 3, 3))[:, :SIZE, :SIZE]

    root = tmp_path_factory.mktemp("sen12ms_real")
    layout = {  # (season, scene, patch): IGBP code
        ("ROIs1158_spring", 124, 100): 12,  # official test patch
        ("ROIs1158_spring", 124, 31): 12,  # hold-out scene, not in the official test list: in no split
        ("ROIs1868_summer", 146, 202): 10,  # left out of the official lists (NaN in its S1)
        ("ROIs1868_summer", 146, 201): 10,
        ("ROIs1970_fall", 7, 30): 1,
        ("ROIs2017_winter", 9, 5): 17,
    }
    for (season, scene, patch), code in layout.items():
        name = f"{season}_{{}}_{scene}_p{patch}.tif"
        _write(root / season / f"s1_{scene}" / name.format("s1"), tile(s1), "float32")
        _write(root / season / f"s2_{scene}" / name.format("s2"), tile(s2), "uint16")
        _write(root / season / f"lc_{scene}" / name.format("lc"), np.full((4, SIZE, SIZE), code), "uint16")
    return root, tile(s1), tile(s2)


def test_official_split_on_a_real_pixel_miniature(real_pixel_root):
    root = real_pixel_root[0]
    assert _labels(Sen12MS(root, split="test")) == {"ROIs1158_spring_124_p100": ["Croplands"]}
    train = Sen12MS(root, split="train", validation_fraction=0.0)
    assert _labels(train) == {
        "ROIs1868_summer_146_p201": ["Grassland"],
        "ROIs1970_fall_7_p30": ["Forest"],
        "ROIs2017_winter_9_p5": ["Water"],
    }
    every = {
        Sen12MS(root, split=s, validation_fraction=0.5).patch_id(i)
        for s in ("train", "validation", "test")
        for i in range(len(Sen12MS(root, split=s, validation_fraction=0.5)))
    }
    assert len(every) == 4 and "ROIs1158_spring_124_p31" not in every and "ROIs1868_summer_146_p202" not in every
    # own test scenes: whole scenes, nothing left out
    own = Sen12MS(root, split="all", test_scenes=["ROIs2017_winter/9"])
    assert len(own) == 6


def test_a_sen12ms_model_clips_s1_like_the_official_loader_in_torch_and_onnx(real_pixel_root, tmp_path):
    """The dataset gives S1 dB as stored; the model clips it to [-25, 0] dB before normalising, as the official
    loader (``np.clip``) did to its training data, and so does its exported graph, whatever it is given."""
    import onnxruntime as ort

    from mosaic.backend.export.metadata import build_metadata
    from mosaic.backend.export.onnx_file import export_onnx
    from mosaic.backend.training.module import MosaicModule

    root, s1, s2 = real_pixel_root
    sample = Sen12MS(root, split="test")[0]
    assert float(s1.min()) < -25.0  # the real patch has backscatter below the clip range
    np.testing.assert_array_equal(sample["s1"].numpy(), s1)
    np.testing.assert_array_equal(sample["s2"].numpy(), s2[[1, 2, 3, 4, 5, 6, 7, 8, 11, 12]])  # S2 DN unchanged
    torch.manual_seed(0)
    model = MosaicModule(
        strategy="supervised",
        backbone="resnet18",
        fusion_dim=32,
        class_names=SEN12MS_CLASSES,
        statistics="sen12ms",
        patch_size_px=256,
    ).eval()
    mean, std = (np.asarray(v, dtype=np.float32)[:, None, None] for v in band_stats(S1_BANDS, "nearest", "sen12ms"))
    official = (np.clip(np.nan_to_num(s1), *S1_CLIP_DB) - mean) / std  # official load_s1, then its normalisation
    with torch.no_grad():
        got = model.net.norm["s1"](sample["s1"][None])[0].numpy()
    np.testing.assert_allclose(got, official, atol=1e-5, rtol=0)
    assert S1_CLIP_DB == (-25.0, 0.0)

    path = export_onnx(model.inference_model(), build_metadata(model.export_metadata()), tmp_path / "sen12ms.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x2 = sample["s2"][None].numpy()
    extreme = np.stack([s1 - 20.0, s1 + 20.0])  # far below -25 dB, and in part above 0 dB
    clipped = np.clip(extreme, *S1_CLIP_DB)
    inputs = {"s2": np.repeat(x2, 2, axis=0)}
    run = session.run(["probabilities"], {**inputs, "s1": extreme})[0]
    np.testing.assert_allclose(run, session.run(["probabilities"], {**inputs, "s1": clipped})[0], atol=1e-6, rtol=0)
    with torch.no_grad():
        ref = model.inference_model()(torch.from_numpy(inputs["s2"]), torch.from_numpy(extreme))[0].numpy()
    np.testing.assert_allclose(run, ref, atol=1e-4, rtol=0)
    # a BigEarthNet model (its data was not clipped) does not clip
    bigearthnet = MosaicModule(strategy="supervised", backbone="resnet18", fusion_dim=32).eval()
    assert not bigearthnet.net.norm["s1"].clipped


def test_statistics_of_sen12ms_are_measured_on_s1_as_the_model_clips_it(real_pixel_root):
    """``mosaic stats --dataset sen12ms``: S1 mean / std after the [-25, 0] dB clip the model applies."""
    from mosaic.backend.data.stats import dataset_stats

    ds = Sen12MS(real_pixel_root[0], split="all")
    clipped = np.clip(np.stack([ds[i]["s1"].numpy() for i in range(len(ds))]).astype(np.float64), *S1_CLIP_DB)
    result = dataset_stats(ds, batch_size=2, statistics="sen12ms")
    for j, band in enumerate(S1_BANDS):
        assert result["bands"][band] == pytest.approx([clipped[:, j].mean(), clipped[:, j].std()], rel=1e-6)
    unclipped = dataset_stats(ds, batch_size=2, statistics="bigearthnet_v2")
    assert unclipped["bands"]["VH"][0] < result["bands"]["VH"][0]  # some VH pixels lie below -25 dB


def test_nan_in_s1_stays_nodata(tmp_path, real_pixel_root):
    root = tmp_path
    src = real_pixel_root[0] / "ROIs1970_fall"
    for kind in ("s1", "s2", "lc"):
        folder = root / "ROIs1970_fall" / f"{kind}_7"
        folder.mkdir(parents=True)
        (folder / f"ROIs1970_fall_{kind}_7_p30.tif").write_bytes(
            (src / f"{kind}_7" / f"ROIs1970_fall_{kind}_7_p30.tif").read_bytes()
        )
    path = root / "ROIs1970_fall" / "s1_7" / "ROIs1970_fall_s1_7_p30.tif"
    with rasterio.open(path, "r+") as dst:
        band = dst.read(1)
        band[3, 4] = np.nan
        dst.write(band, 1)
    s1 = Sen12MS(root)[0]["s1"].numpy()
    assert np.isnan(s1[0, 3, 4]) and np.isnan(s1).sum() == 1  # the network then sets it to the band mean


@pytest.mark.parametrize("strategy_config", STRATEGY_CONFIGS, ids=[p.stem for p in STRATEGY_CONFIGS])
def test_sen12ms_config_layers_onto_every_strategy_config(strategy_config, real_pixel_root):
    """``--config STRATEGY.yaml --config configs/data/sen12ms.yaml``: SEN12MS data, classes and statistics."""
    from mosaic.backend.training.cli import _build_cli

    argv = [
        "--config",
        str(strategy_config),
        "--config",
        str(SEN12MS_CONFIG),
        "--data.root",
        str(real_pixel_root[0]),
        "--data.options.validation_fraction",
        "0.5",
        "--model.backbone",
        "resnet18",
        "--trainer.accelerator",
        "cpu",
        "--trainer.logger",
        "false",
    ]
    cli = _build_cli(argv, [])
    h = cli.model.hparams
    assert h.class_names == list(SEN12MS_CLASSES) and h.patch_size_px == 256 and h.statistics == "sen12ms"
    assert h.norm_mean["s2"] == OFFICIAL_MEAN["s2_mean"] and h.norm_std["s1"] == OFFICIAL_STD["s1_std"]
    assert [cli.datamodule.dataset("test").patch_id(0)] == ["ROIs1158_spring_124_p100"]
    stated = yaml.safe_load(strategy_config.read_text())["data"].get("batches", "random")
    assert cli.datamodule.hparams.batches == stated  # IaI-SimCLR keeps its scene batches on SEN12MS

"""Upsampling to the 10 m grid against the reBEN reference reader's arithmetic, on all 24 real bundled pairs.

The reference is ConfigILM 0.7.1 (PyPI ``configilm``), ``configilm/extra/BENv2_utils.py``, function
``stack_and_interpolate``: per band ``F.interpolate(torch.Tensor(np.float32(a)).unsqueeze(0).unsqueeze(0),
(img_size, img_size), mode=upsample_mode, align_corners=True if upsample_mode in ["bilinear", "bicubic"] else
None).squeeze()``, bands stacked in the requested order; its "120_nearest" / "120_bilinear" tables are the
statistics computed on that output. :func:`reference_stack` below is that arithmetic, written out here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mosaic.backend.data.bands import S2_BAND_SETS, STATS, band_stats
from mosaic.backend.data.bigearthnet import BigEarthNetV2
from mosaic.backend.data.readers import FolderReader, LmdbReader, stack_bands, upsample

BUNDLED_SAMPLE = Path(__file__).resolve().parents[3] / "sample_data" / "bigearthnet-v2"
PATCH_26_57 = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"

# "120_bilinear" means of ConfigILM 0.7.1 BENv2_utils.means (copied from the reference source)
REFERENCE_120_BILINEAR_MEANS = {
    "B01": 360.64678955078125,
    "B05": 942.7476806640625,
    "B06": 1769.8486328125,
    "B07": 2049.475830078125,
    "B8A": 2235.48681640625,
    "B09": 2241.10595703125,
    "B11": 1568.2115478515625,
    "B12": 997.715087890625,
}


def reference_stack(arrays: dict[str, np.ndarray], order: tuple[str, ...], mode: str, size: int = 120) -> np.ndarray:
    """ConfigILM 0.7.1 ``BENv2_utils.stack_and_interpolate`` (see module docstring), one band at a time."""

    def one(a: np.ndarray) -> torch.Tensor:
        if a.shape[-2:] == (size, size):
            return torch.Tensor(np.float32(a))
        align = True if mode in ["bilinear", "bicubic"] else None
        return F.interpolate(
            torch.Tensor(np.float32(a)).unsqueeze(0).unsqueeze(0), (size, size), mode=mode, align_corners=align
        ).squeeze()

    return torch.stack([one(arrays[b]) for b in order]).numpy()


@pytest.fixture(scope="module")
def lmdb(ben_v2):
    return LmdbReader(ben_v2 / "BigEarthNet-V2-LMDB")


@pytest.fixture(scope="module")
def all_pairs(ben_v2):
    return BigEarthNetV2(ben_v2, "all", s2_bands="s2_12", include_snow_cloud=True)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_stack_bands_equals_the_reference_bit_for_bit_on_every_bundled_pair(all_pairs, lmdb, mode):
    bands = S2_BAND_SETS["s2_12"]
    ids = list(all_pairs.metadata.patch_id)
    assert len(ids) == 24
    for pid in ids:
        arrays = lmdb.s2(pid)
        ours, ref = stack_bands(arrays, bands, 120, mode), reference_stack(arrays, bands, mode)
        np.testing.assert_array_equal(ours, ref, err_msg=f"{pid} {mode}")
        # normalised with the matching published statistics: still identical (same float32 arithmetic)
        mean, std = (np.asarray(v, np.float32)[:, None, None] for v in band_stats(bands, mode))
        np.testing.assert_array_equal((ours - mean) / std, (ref - mean) / std)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_the_dataset_sample_is_the_reference_stack(lmdb, ben_v2, mode):
    """The training sample (folders, default band set) = reference order and arithmetic on the LMDB arrays."""
    ds = BigEarthNetV2(ben_v2, "all", include_snow_cloud=True, upsampling=mode)
    i = int(np.flatnonzero(ds.metadata.patch_id == PATCH_26_57)[0])
    np.testing.assert_array_equal(ds[i]["s2"].numpy(), reference_stack(lmdb.s2(PATCH_26_57), ds.s2_bands, mode))


def test_bilinear_samples_at_corner_aligned_positions(lmdb):
    """align_corners=True: output pixel i samples native position i·(h-1)/(size-1); corners are native pixels."""
    b05 = lmdb.s2(PATCH_26_57)["B05"].astype(np.float64)  # 60 x 60
    up = stack_bands({"B05": b05.astype(np.float32)}, ("B05",), 120, "bilinear")[0]
    assert up[0, 0] == b05[0, 0] and up[-1, -1] == b05[-1, -1] and up[0, -1] == b05[0, -1]
    i, j = 37, 90
    y, x = i * 59 / 119, j * 59 / 119
    y0, x0 = int(y), int(x)
    wy, wx = y - y0, x - x0
    expect = (1 - wy) * ((1 - wx) * b05[y0, x0] + wx * b05[y0, x0 + 1]) + wy * (
        (1 - wx) * b05[y0 + 1, x0] + wx * b05[y0 + 1, x0 + 1]
    )
    assert up[i, j] == pytest.approx(expect, rel=1e-5)
    # the former align_corners=False result differs by far more than float error on this real band
    old = F.interpolate(
        torch.from_numpy(b05.astype(np.float32))[None, None], (120, 120), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    assert np.abs(up - old).max() / STATS["bilinear"]["B05"][1] > 0.1


def test_nearest_repeats_native_pixels(lmdb):
    arrays = lmdb.s2(PATCH_26_57)
    near = stack_bands(arrays, ("B05", "B01"), 120, "nearest")
    assert near[0, 2 * 7 + 1, 2 * 11] == arrays["B05"][7, 11]
    assert near[1, 6 * 3 + 5, 6 * 19 + 5] == arrays["B01"][3, 19]


def test_nan_handling_per_mode(lmdb):
    """A NaN native pixel: an f x f block (nearest), every output whose 2 x 2 stencil holds it (bilinear)."""
    arrays = {b: a.astype(np.float32) for b, a in lmdb.s2(PATCH_26_57).items() if b in ("B05", "B01")}
    arrays["B05"][10, 20] = np.nan
    arrays["B01"][4, 9] = np.nan
    for mode in ("nearest", "bilinear"):
        ours = stack_bands(arrays, ("B05", "B01"), 120, mode)
        np.testing.assert_array_equal(ours, reference_stack(arrays, ("B05", "B01"), mode))  # NaN where it has NaN
    near = stack_bands(arrays, ("B05", "B01"), 120, "nearest")
    assert np.argwhere(np.isnan(near[0])).tolist() == [[r, c] for r in (20, 21) for c in (40, 41)]
    assert np.isnan(near[1]).sum() == 36
    bil = stack_bands(arrays, ("B05", "B01"), 120, "bilinear")
    for band, (r, c), h in ((0, (10, 20), 60), (1, (4, 9), 20)):
        pos = np.arange(120) * (h - 1) / 119  # native position sampled by each output row / column
        rows = np.flatnonzero((pos > r - 1) & (pos < r + 1))
        cols = np.flatnonzero((pos > c - 1) & (pos < c + 1))
        expect = np.zeros((120, 120), bool)
        expect[np.ix_(rows, cols)] = True
        np.testing.assert_array_equal(np.isnan(bil[band]), expect)
    assert np.isnan(bil[0]).sum() == 16 and np.isnan(bil[1]).sum() > 36


def test_published_bilinear_statistics_are_the_reference_tables():
    for band, mean in REFERENCE_120_BILINEAR_MEANS.items():
        assert STATS["bilinear"][band][0] == mean
    assert STATS["bilinear"]["B02"] == STATS["nearest"]["B02"]  # 10 m bands are not resampled


def test_upsample_batches_on_any_device_equal_per_patch(lmdb):
    arrays = lmdb.s2(PATCH_26_57)
    low = torch.from_numpy(np.stack([arrays[b] for b in ("B05", "B06")]).astype(np.float32))
    for mode in ("nearest", "bilinear"):
        batched = upsample(torch.stack([low, low + 1]), 120, mode)
        np.testing.assert_array_equal(batched[0].numpy(), stack_bands(arrays, ("B05", "B06"), 120, mode))


def test_bundled_sample_folders_give_the_same_stack(lmdb):
    """The repository's bundled GeoTIFF sample holds the same pixels as the reference LMDB."""
    folder = FolderReader(BUNDLED_SAMPLE).s2(PATCH_26_57, S2_BAND_SETS["s2_12"])
    for mode in ("nearest", "bilinear"):
        np.testing.assert_array_equal(
            stack_bands(folder, S2_BAND_SETS["s2_12"], 120, mode),
            reference_stack(lmdb.s2(PATCH_26_57), S2_BAND_SETS["s2_12"], mode),
        )

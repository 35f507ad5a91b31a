"""``mosaic pack`` (folders → reBEN-format LMDB) and ``mosaic stats`` on the real 24-pair sample."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load

from mosaic.backend.cli import main
from mosaic.backend.data.bands import S2_BANDS_ALL
from mosaic.backend.data.bigearthnet import BigEarthNetV2
from mosaic.backend.data.pack import pack_folder_dataset
from mosaic.backend.data.readers import decode_safetensors, open_lmdb
from mosaic.backend.data.stats import RunningStats, dataset_stats
from mosaic.backend.errors import OutputError


@pytest.fixture(scope="module")
def packed(ben_v2, tmp_path_factory):
    out = tmp_path_factory.mktemp("pack") / "lmdb"
    assert pack_folder_dataset(ben_v2, out, progress=False) == 24
    return out


def _entries(path):
    """Every LMDB entry decoded with the reference ``safetensors`` library."""
    with open_lmdb(path).begin() as txn:
        return {k.decode(): load(bytes(v)) for k, v in txn.cursor()}


def test_packed_lmdb_equals_official_reben_lmdb(packed, ben_v2):
    mine, official = _entries(packed), _entries(ben_v2 / "BigEarthNet-V2-LMDB")
    assert set(mine) == set(official) and len(mine) == 48
    for key, arrays in official.items():
        assert set(mine[key]) == set(arrays), key
        for band, array in arrays.items():
            assert mine[key][band].dtype == array.dtype and np.array_equal(mine[key][band], array), (key, band)
    s2_key = next(k for k in mine if k.startswith("S2"))
    assert set(mine[s2_key]) == set(S2_BANDS_ALL)


def test_zero_copy_decoder_equals_safetensors_library(ben_v2):
    with open_lmdb(ben_v2 / "BigEarthNet-V2-LMDB").begin() as txn:
        for key, value in txn.cursor():
            mine, ref = decode_safetensors(value), load(bytes(value))
            assert set(mine) == set(ref), key
            for band in ref:
                assert mine[band].dtype == ref[band].dtype and np.array_equal(mine[band], ref[band]), (key, band)


def test_dataset_reads_packed_lmdb(packed, ben_v2):
    a = BigEarthNetV2(ben_v2, "test")
    b = BigEarthNetV2(ben_v2, "test", lmdb_path=packed)
    for i in range(len(a)):
        assert torch.equal(a[i]["s2"], b[i]["s2"]) and torch.equal(a[i]["s1"], b[i]["s1"])


def test_pack_refuses_to_overwrite(packed, ben_v2):
    with pytest.raises(OutputError, match="exists already"):
        pack_folder_dataset(ben_v2, packed, progress=False)


def test_running_stats_equal_numpy_over_batches():
    g = torch.Generator().manual_seed(0)
    batches = [torch.rand(b, 3, 5, 5, generator=g) * 1000 for b in (4, 1, 7)]
    batches[1][0, 0, 0, 0] = 0.0  # nodata pixel, must be skipped
    stats = RunningStats(3)
    for batch in batches:
        stats.update(batch, nodata=0.0)
    all_px = torch.cat(batches).transpose(0, 1).reshape(3, -1).double().numpy()
    for c in range(3):
        valid = all_px[c][all_px[c] != 0]
        np.testing.assert_allclose(stats.result()[0][c], valid.mean(), rtol=1e-12)
        np.testing.assert_allclose(stats.result()[1][c], valid.std(), rtol=1e-10)


def test_dataset_stats_match_direct_computation(ben_v2):
    ds = BigEarthNetV2(ben_v2, "train", s2_bands="s2_12")
    result = dataset_stats(ds, batch_size=4)
    s2 = torch.stack([ds[i]["s2"] for i in range(len(ds))]).double()
    s1 = torch.stack([ds[i]["s1"] for i in range(len(ds))]).double()
    assert result["n_patches"] == 6 and list(result["bands"]) == [*S2_BANDS_ALL, "VV", "VH"]
    for i, band in enumerate(S2_BANDS_ALL):
        x = s2[:, i]
        assert result["bands"][band] == pytest.approx([float(x.mean()), float(x.std(unbiased=False))], rel=1e-9)
    vv = s1[:, 0]
    assert result["bands"]["VV"] == pytest.approx([float(vv.mean()), float(vv.std(unbiased=False))], rel=1e-9)
    # same magnitude as the published full-train-split statistics (a 6-patch Austrian sample, not equal)
    assert 200 < result["bands"]["B02"][0] < 1500 and -20 < result["bands"]["VV"][0] < -5


def test_stats_cli_reads_lmdb_and_writes_json(ben_v2, tmp_path, capsys):
    out = tmp_path / "stats.json"
    code = main(
        [
            "stats",
            str(ben_v2),
            "--lmdb",
            str(ben_v2 / "BigEarthNet-V2-LMDB"),
            "--split",
            "validation",
            "--s2-bands",
            "s2_10",
            "--upsampling",
            "bilinear",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    written = json.loads(out.read_text())
    assert written == json.loads(capsys.readouterr().out)
    assert written["n_patches"] == 6 and written["upsampling"] == "bilinear" and len(written["bands"]) == 12

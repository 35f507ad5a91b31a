"""Bad inputs of `mosaic prepare` and a really damaged LMDB, met where the user meets them: the CLI prints one
line ``mosaic <cmd>: error: ...``, exits 2 and leaves no half-written output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import lmdb
import pytest
import shapely

from mosaic.backend.cli import main
from mosaic.backend.data.bigearthnet import BigEarthNetV2
from mosaic.backend.data.readers import _LMDB_ENVS
from mosaic.backend.errors import InputError

from ..small_training import SMALL_RUN

PATCH = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_37_88"
INSIDE = shapely.box(344500, 5291000, 346000, 5295000)
BOWTIE = shapely.Polygon([(344500, 5291000), (346000, 5295000), (346000, 5291000), (344500, 5295000)])


def _error_lines(stderr: str) -> list[str]:
    """The non-blank lines of ``stderr``."""
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "geoms, values, field, message",
    [
        ([], [], "cls", "mosaic prepare: error: the polygon layer {labels} is empty"),
        (
            [BOWTIE],
            ["Pastures"],
            "cls",
            "mosaic prepare: error: 1 polygon(s) of {labels} are invalid; repair them "
            "(e.g. QGIS 'Fix geometries') and run again",
        ),
        (
            [INSIDE],
            ["Pastures"],
            "landuse",
            "mosaic prepare: error: the polygon layer has no attribute 'cls'; its attributes are: landuse",
        ),
        ([INSIDE], ["Tundra"], "cls", "have no mapping: Tundra"),
        ([shapely.box(0, 0, 10, 10)], ["Pastures"], "cls", "does not overlap"),
    ],
    ids=["empty", "self_intersecting", "missing_attribute", "unmapped_class", "no_overlap"],
)
def test_cli_prepare_bad_polygons_one_line_exit_2(t33uup_mosaic, tmp_path, capsys, geoms, values, field, message):
    labels = tmp_path / "labels.gpkg"
    gpd.GeoDataFrame({field: values}, geometry=geoms, crs="EPSG:32633").to_file(labels)
    out = tmp_path / "out"
    argv = [
        "prepare",
        "--s2",
        *map(str, sorted(t33uup_mosaic.glob("S2A_*.tif"))),
        "--s1",
        *map(str, sorted(t33uup_mosaic.glob("S1_*.tif"))),
        "--labels",
        str(labels),
        "--class-field",
        "cls",
        "--max-unlabelled",
        "1",
        "--block-size",
        "1",
        "-o",
        str(out),
    ]
    assert main(argv) == 2
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("mosaic prepare: error: ")
    assert message.format(labels=labels) in lines[0]
    if "mapping" in message:  # says how to give one
        assert "--mapping" in lines[0]
    assert list(tmp_path.iterdir()) == [labels]  # neither the output nor a partial folder


@pytest.fixture()
def damaged_lmdb(ben_v2, tmp_path) -> Path:
    """A copy of the sample's reBEN LMDB (real `mosaic pack` format), to be damaged in place."""
    path = tmp_path / "BigEarthNet-V2-LMDB"
    shutil.copytree(ben_v2 / "BigEarthNet-V2-LMDB", path)
    return path


def _overwrite(path: Path, key: str, value: bytes | None) -> None:
    """Replace (or with ``None`` delete) one record of the LMDB at ``path``."""
    env = lmdb.open(str(path), map_size=1 << 30)
    with env.begin(write=True) as txn:
        old = txn.get(key.encode())
        assert old is not None
        if value is None:
            txn.delete(key.encode())
        else:
            txn.put(key.encode(), value(old) if callable(value) else value)
    env.close()


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda old: old[: len(old) // 2], "in the LMDB {lmdb} is damaged (ValueError)"),  # tensors cut short
        (bytes(range(256)) * 8, "in the LMDB {lmdb} is damaged (UnicodeDecodeError)"),  # no safetensors header
        (None, "is not in the LMDB {lmdb}"),  # in metadata.parquet, missing from the LMDB
    ],
    ids=["truncated", "garbage", "missing"],
)
def test_damaged_lmdb_record_names_patch_and_pack(ben_v2, damaged_lmdb, damage, reason):
    data = BigEarthNetV2(ben_v2, "train", lmdb_path=damaged_lmdb)
    index = list(data.metadata.patch_id).index(PATCH)
    before = data[index]["s2"].clone()
    _LMDB_ENVS.pop(str(damaged_lmdb.resolve()))[1].close()  # py-lmdb: one environment per path and process
    _overwrite(damaged_lmdb, PATCH, damage)
    with pytest.raises(InputError) as err:
        data[index]
    assert str(err.value) == f"patch {PATCH} {reason.format(lmdb=damaged_lmdb)}; re-run `mosaic pack` to rebuild it"
    other = data[(index + 1) % len(data)]  # the other records still read
    assert other["s2"].shape == before.shape and float(other["s2"].abs().sum()) > 0


def test_cli_train_on_corrupt_lmdb_record_is_one_line(ben_v2, damaged_lmdb, tmp_path):
    _overwrite(damaged_lmdb, PATCH, lambda old: old[:100])
    cfg = Path(__file__).resolve().parents[3] / "configs" / "supervised_s1s2.yaml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mosaic.backend.cli",
            "train",
            "--config",
            str(cfg),
            "--data.root",
            str(ben_v2),
            "--data.options.lmdb_path",
            str(damaged_lmdb),
            *SMALL_RUN,
            "--protocol.epochs",
            "1",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.num_sanity_val_steps",
            "0",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"mosaic train: error: patch {PATCH} in the LMDB {damaged_lmdb} is damaged")
    assert last.endswith("; re-run `mosaic pack` to rebuild it")
    assert "Traceback" not in proc.stderr
    assert [line for line in _error_lines(proc.stderr) if "error" in line.lower()] == [last]

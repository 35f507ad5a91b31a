"""``mosaic pack``: convert a BigEarthNet v2 folder dataset to the packed, reBEN-compatible LMDB form.

Each S2 patch is stored under its ``patch_id`` and each S1 patch under its ``s1_name`` (UTF-8 keys); the value is a
safetensors blob ``{band: array}`` at native resolution (S2 uint16 120/60/20 px, S1 float32 dB 120 px), exactly
the format of the official ``BigEarthNet-V2-LMDB``, so :class:`~mosaic.backend.data.bigearthnet.BigEarthNetV2`
reads either with ``lmdb_path=``. The LMDB is written to a temporary folder and renamed when complete.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import lmdb
import pandas as pd
from safetensors.numpy import save as save_safetensors
from tqdm import tqdm

from ..errors import InputError, OutputError
from .bands import S1_BANDS, S2_BANDS_ALL
from .bigearthnet import METADATA, SNOW_CLOUD_METADATA
from .readers import FolderReader, s2_patch_dir

_BYTES_PER_PAIR = 512 * 1024  #: generous upper bound of one S1 + S2 pair (≈ 275 KB) for the initial map size
_COMMIT_EVERY = 256


def present_s2_bands(root: Path, patch_id: str) -> tuple[str, ...]:
    """The S2 bands (ESA order) that exist as files for ``patch_id``."""
    folder = s2_patch_dir(root, patch_id)
    bands = tuple(b for b in S2_BANDS_ALL if (folder / f"{patch_id}_{b}.tif").is_file())
    if not bands:
        raise InputError(f"no S2 band files found in {folder}: is {root} a BigEarthNet v2 folder dataset?")
    return bands


def pack_folder_dataset(root: str | Path, output: str | Path, overwrite: bool = False, progress: bool = True) -> int:
    """Write every patch listed in ``root``'s metadata parquet(s) to the LMDB folder ``output``; returns the count."""
    root, output = Path(root), Path(output)
    tables = [pd.read_parquet(root / name) for name in (METADATA, SNOW_CLOUD_METADATA) if (root / name).is_file()]
    if not tables:
        raise InputError(f"no {METADATA} in {root}: point at a BigEarthNet v2 folder dataset")
    meta = pd.concat(tables, ignore_index=True)
    if output.exists() and not overwrite:
        raise OutputError(f"{output} exists already; choose another output or pass --overwrite")
    reader = FolderReader(root)
    bands = present_s2_bands(root, meta["patch_id"].iloc[0])
    tmp = output.with_name(f".{output.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    map_size = len(meta) * _BYTES_PER_PAIR + (64 << 20)
    env = lmdb.open(str(tmp), map_size=map_size, subdir=True, lock=True)
    try:
        rows = list(zip(meta["patch_id"], meta["s1_name"]))
        for start in tqdm(range(0, len(rows), _COMMIT_EVERY), disable=not progress, desc="pack", unit="chunk"):
            entries = []
            for patch_id, s1_name in rows[start : start + _COMMIT_EVERY]:
                entries.append((patch_id, save_safetensors(reader.s2(patch_id, bands))))
                entries.append((s1_name, save_safetensors(reader.s1(s1_name, S1_BANDS))))
            _put_all(env, entries)
        env.sync()
    except BaseException:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    env.close()
    if output.exists():
        shutil.rmtree(output)
    tmp.rename(output)
    return len(rows)


def _put_all(env: lmdb.Environment, entries: list[tuple[str, bytes]]) -> None:
    """Write ``entries`` in one transaction, doubling the map size when it is full."""
    while True:
        try:
            with env.begin(write=True) as txn:
                for key, value in entries:
                    txn.put(key.encode(), value)
            return
        except lmdb.MapFullError:
            env.set_mapsize(env.info()["map_size"] * 2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mosaic pack``."""
    parser.add_argument("root", help="BigEarthNet v2 folder dataset (BigEarthNet-S1/, -S2/, metadata.parquet)")
    parser.add_argument("output", help="LMDB folder to create (pass it as lmdb_path when training)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


def run(args: argparse.Namespace) -> int:
    """Pack the dataset and say where it went."""
    n = pack_folder_dataset(args.root, args.output, overwrite=args.overwrite)
    print(f"packed {n} S1 + S2 patch pairs into {args.output}", file=sys.stderr)
    return 0

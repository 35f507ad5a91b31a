"""A large BigEarthNet v2 LMDB dataset for throughput measurements, made from any small one.

Every pair of the source is written ``copies`` times under new names (``<patch_id>_r<k>``, ``<s1_name>_r<k>``) with
its pixels, labels and split unchanged, so ``copies × N`` patches can be streamed without a download. The result is
a dataset folder ``DST`` with ``metadata.parquet`` and ``DST/lmdb`` (reBEN format), read with ``lmdb_path``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from .bigearthnet import METADATA, load_metadata
from .readers import open_lmdb

LMDB_DIR = "lmdb"  #: the replicated LMDB's folder inside the destination


def replicate_dataset(root: str | Path, lmdb_path: str | Path, dest: str | Path, copies: int) -> Path:
    """Write ``dest/metadata.parquet`` and ``dest/lmdb`` holding every pair of ``root`` ``copies`` times.

    Returns ``dest``. An existing complete replica with the same number of rows is kept (it is reused as is).
    """
    import lmdb

    dest = Path(dest)
    meta = load_metadata(root)
    if copies < 1:
        raise InputError(f"--replicate must be at least 1, not {copies}")
    if (dest / METADATA).is_file() and len(pd.read_parquet(dest / METADATA, columns=["patch_id"])) == len(
        meta
    ) * copies:
        return dest
    with open_lmdb(Path(lmdb_path)).begin() as txn:
        blobs = {k: txn.get(k.encode()) for k in (*meta["patch_id"], *meta["s1_name"])}
    missing = sorted(k for k, v in blobs.items() if v is None)
    if missing:
        raise InputError(f"patch {missing[0]} is not in the LMDB {lmdb_path}; re-run `mosaic pack` to rebuild it")
    dest.mkdir(parents=True, exist_ok=True)
    size = sum(map(len, blobs.values())) * copies * 2 + (64 << 20)
    tables = []
    with lmdb.open(str(dest / LMDB_DIR), map_size=size) as env, env.begin(write=True) as txn:
        for k in range(copies):
            for key, blob in blobs.items():
                txn.put(f"{key}_r{k}".encode(), blob)
            tables.append(meta.assign(patch_id=meta["patch_id"] + f"_r{k}", s1_name=meta["s1_name"] + f"_r{k}"))
    pd.concat(tables, ignore_index=True).to_parquet(dest / METADATA)  # written last: marks the replica complete
    return dest

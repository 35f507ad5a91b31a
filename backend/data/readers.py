"""Patch pixel readers for the two BigEarthNet v2 storage forms, and the upsampling to the 10 m grid.

* :class:`FolderReader`: the official GeoTIFF layout
  ``BigEarthNet-S2/<product>/<patch_id>/<patch_id>_<band>.tif`` (product = ``patch_id`` without ``_col_row``) and
  ``BigEarthNet-S1/<product>/<s1_name>/<s1_name>_<VV|VH>.tif`` (product = ``s1_name`` without ``_tile_col_row``).
* :class:`LmdbReader`: the reBEN LMDB: key = S2 ``patch_id`` or ``s1_name`` (UTF-8), value = a safetensors blob
  ``{band name: array}`` at native resolution (uint16 S2, float32 dB S1).

Both return ``{band: np.ndarray}`` at native resolution; :func:`stack_bands` brings them onto one grid.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import rasterio
import torch
from torch.nn.functional import interpolate

from ..errors import InputError
from .bands import PATCH_SIZE_PX, Upsampling

S2_DIR = "BigEarthNet-S2"
S1_DIR = "BigEarthNet-S1"

#: GDAL options for reading many small files: no directory listing on open (saves ~0.5 ms per file).
GDAL_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_NUM_THREADS": "1"}


def s2_patch_dir(root: Path, patch_id: str) -> Path:
    """Folder of one S2 patch in the official layout."""
    return Path(root) / S2_DIR / patch_id.rsplit("_", 2)[0] / patch_id


def s1_patch_dir(root: Path, s1_name: str) -> Path:
    """Folder of one S1 patch in the official layout."""
    return Path(root) / S1_DIR / s1_name.rsplit("_", 3)[0] / s1_name


@lru_cache(maxsize=8)
def _nearest_index(native: int, size: int) -> np.ndarray:
    """Source row of each output row for integer-factor nearest upsampling: ``i // (size / native)``."""
    return np.arange(size) // (size // native)


def upsample(low: torch.Tensor, size: int, upsampling: Upsampling) -> torch.Tensor:
    """Upsample float ``low [B, C, h, w]`` to ``[B, C, size, size]`` (any device): the one upsampling arithmetic.

    Both modes equal the reBEN reference reader bit for bit (ConfigILM 0.7.1 ``BENv2_utils.stack_and_interpolate``,
    whose published "120_nearest" / "120_bilinear" statistics are :data:`.bands.STATS`):

    * nearest: output pixel ``i`` takes native pixel ``i // f`` (``f = size / h``, integer);
    * bilinear: ``F.interpolate(mode="bilinear", align_corners=True)``: output pixel ``i`` samples the native
      position ``i · (h - 1) / (size - 1)``, so the corner pixel centres of both grids coincide.

    NaN: nearest turns a NaN native pixel into an ``f × f`` NaN block; bilinear makes NaN every output pixel whose
    2 × 2 native stencil holds it (``0 · NaN = NaN``), a block of about ``(2f)²`` pixels. (BigEarthNet S2 is UInt16
    without NaN: its nodata 0 is interpolated like any value.) The network's input normalisation then sets NaN to
    the band mean (:class:`~mosaic.backend.models.normalization.BandNormalization`).

    Used per patch by :func:`stack_bands` and per batch on the training device by :mod:`~mosaic.backend.data.batches`.
    """
    if upsampling == "nearest":
        return interpolate(low, size=(size, size), mode="nearest")
    return interpolate(low, size=(size, size), mode="bilinear", align_corners=True)


def stack_bands(
    arrays: dict[str, np.ndarray], bands: tuple[str, ...], size: int = PATCH_SIZE_PX, upsampling: Upsampling = "nearest"
) -> np.ndarray:
    """Stack ``bands`` into ``float32 [C, size, size]``, upsampling coarser bands by an integer factor.

    Nearest: each native pixel becomes an ``f × f`` block (``f = size / native``; output pixel ``i`` takes native
    pixel ``i // f``, equal to ``F.interpolate(mode="nearest")``), done with numpy ``take`` (≈ 20 µs per band).
    Bilinear: :func:`upsample`, once per native size on the bands of that size.
    """
    out = np.empty((len(bands), size, size), dtype=np.float32)
    pending: dict[int, list[int]] = {}
    for i, band in enumerate(bands):
        try:
            a = arrays[band]
        except KeyError:
            raise InputError(f"band {band} is missing from the patch; it holds {sorted(arrays)}") from None
        h = a.shape[-1]
        if h == size:
            out[i] = a
        elif size % h or a.shape[-2] != h:
            raise InputError(f"band {band} is {a.shape[-2]}×{h} px, which does not divide the {size} px patch grid")
        elif upsampling == "nearest":
            rows = _nearest_index(h, size)
            out[i] = a.take(rows, axis=0).take(rows, axis=1)
        else:
            pending.setdefault(h, []).append(i)
    if pending:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a 120 px resize is 5x slower split over threads that the loader competes for
        try:
            for idx in pending.values():
                low = torch.from_numpy(np.stack([arrays[bands[i]] for i in idx]).astype(np.float32))
                out[idx] = upsample(low[None], size, "bilinear")[0].numpy()
        finally:
            torch.set_num_threads(threads)
    return out


class FolderReader:
    """Reads patches from the official GeoTIFF folder layout under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / S2_DIR).is_dir() or not (self.root / S1_DIR).is_dir():
            raise InputError(f"{self.root} lacks the {S2_DIR}/ and {S1_DIR}/ folders of a BigEarthNet v2 dataset")

    def _read(self, folder: Path, name: str, bands: tuple[str, ...]) -> dict[str, np.ndarray]:
        out = {}
        with rasterio.Env(**GDAL_ENV):
            for band in bands:
                path = folder / f"{name}_{band}.tif"
                try:
                    with rasterio.open(path) as src:
                        out[band] = src.read(1)
                except rasterio.errors.RasterioIOError:
                    raise InputError(f"cannot read {path}: the dataset folder is incomplete") from None
        return out

    def s2(self, patch_id: str, bands: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Native-resolution S2 arrays of ``bands`` (uint16)."""
        return self._read(s2_patch_dir(self.root, patch_id), patch_id, bands)

    def s1(self, s1_name: str, bands: tuple[str, ...] = ("VV", "VH")) -> dict[str, np.ndarray]:
        """S1 arrays of ``bands`` (float32 dB)."""
        return self._read(s1_patch_dir(self.root, s1_name), s1_name, bands)


_SAFETENSORS_DTYPES = {
    "U8": np.uint8,
    "U16": np.uint16,
    "I16": np.int16,
    "I32": np.int32,
    "F32": np.float32,
    "F64": np.float64,
}


@lru_cache(maxsize=64)
def _tensor_layout(header: bytes) -> tuple[tuple[str, np.dtype, int, int, tuple[int, ...]], ...]:
    """``(name, dtype, begin, count, shape)`` of each tensor of a safetensors header (parsed once per distinct
    header: every patch of an LMDB usually shares one)."""
    out = []
    for name, info in json.loads(header).items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]]).newbyteorder("<")
        out.append((name, dtype, int(begin), (int(end) - int(begin)) // dtype.itemsize, tuple(info["shape"])))
    return tuple(out)


def decode_safetensors(blob: bytes | memoryview) -> dict[str, np.ndarray]:
    """``{name: array}`` of a safetensors blob, as read-only views of ``blob`` (no copy).

    Format: ``u64`` little-endian header length ``n``, ``n`` bytes of JSON ``{name: {dtype, shape, data_offsets}}``,
    then the little-endian data; offsets count from the end of the header. Same result as
    ``safetensors.numpy.load`` (which copies every tensor, ≈ 2× slower on a BigEarthNet S2 patch).
    """
    (n,) = struct.unpack_from("<Q", blob)
    start = 8 + n
    return {
        name: np.frombuffer(blob, dtype=dtype, count=count, offset=start + begin).reshape(shape)
        for name, dtype, begin, count, shape in _tensor_layout(bytes(blob[8:start]))
    }


_LMDB_ENVS: dict[str, tuple[int, object]] = {}  #: path → (pid that opened it, environment)


def open_lmdb(path: Path):
    """This process's read-only environment for ``path``.

    py-lmdb allows one environment per path and process, and one inherited through ``fork`` (DataLoader workers)
    must not be used: a handle opened by another pid is closed here and the path opened afresh.
    """
    import lmdb

    key = str(Path(path).resolve())
    pid, env = _LMDB_ENVS.get(key, (None, None))
    if pid != os.getpid():
        if env is not None:
            env.close()
        env = lmdb.open(key, readonly=True, lock=False, readahead=True, meminit=False)
        _LMDB_ENVS[key] = (os.getpid(), env)
    return env


class LmdbReader:
    """Reads patches from a reBEN-format LMDB; the environment is opened lazily once per process (fork-safe)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "data.mdb").is_file():
            raise InputError(f"{self.path} is not an LMDB folder (no data.mdb); build one with `mosaic pack`")

    def _txn(self, buffers: bool = False):
        return open_lmdb(self.path).begin(buffers=buffers)

    def read(self, key: str) -> dict[str, np.ndarray]:
        """All arrays stored under ``key``."""
        with self._txn() as txn:
            blob = txn.get(key.encode())
        if blob is None:
            raise InputError(f"patch {key} is not in the LMDB {self.path}; re-run `mosaic pack` to rebuild it")
        return self._decode(key, blob)

    def read_many(self, keys: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
        """The arrays of each of ``keys``, in one read transaction, as views valid until the next item is asked for."""
        with self._txn(buffers=True) as txn:
            for key in keys:
                blob = txn.get(key.encode())
                if blob is None:
                    raise InputError(f"patch {key} is not in the LMDB {self.path}; re-run `mosaic pack` to rebuild it")
                yield self._decode(key, blob)

    def _decode(self, key: str, blob: bytes | memoryview) -> dict[str, np.ndarray]:
        try:
            return decode_safetensors(blob)
        except (struct.error, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                f"patch {key} in the LMDB {self.path} is damaged ({type(exc).__name__}); "
                "re-run `mosaic pack` to rebuild it"
            ) from None

    def has(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        with self._txn(buffers=True) as txn:
            return txn.get(key.encode()) is not None

    def s2(self, patch_id: str, bands: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """Native-resolution S2 arrays (all stored bands)."""
        return self.read(patch_id)

    def s1(self, s1_name: str, bands: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """S1 arrays (VV, VH)."""
        return self.read(s1_name)

"""``run_inference``: tiles → batches → onnxruntime → overlap-weighted averaging → sinks, in bounded memory.

See the package docstring for the reader/sink protocols, the edge policy and the averaging formula.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import InputError, MosaicError
from .clouds import DEFAULT_CLOUD_FRACTION, require_s1_head
from .model import OnnxModel
from .products import MIXED_SOURCE, SOURCE_CODES
from .tiling import TileGrid, Window


class InferenceCancelledError(MosaicError):
    """The run was cancelled by its ``is_cancelled`` callback; outputs must be discarded."""


class WindowReader(Protocol):
    """Both modalities on one target grid; ``read`` returns ``(s2, s1)`` float32 ``[C, h, w]``, NaN = nodata."""

    width: int
    height: int

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]: ...


class CloudReader(Protocol):
    """The cloud layer on the reader's grid: ``read`` returns bool ``[h, w]``, True = cloudy."""

    def read(self, window: Window) -> np.ndarray: ...


@dataclass(frozen=True)
class OutputBlock:
    """Finished output rows at cell ``(row_off, col_off)``: ``probabilities`` float32 ``[n_classes, h, w]`` and
    ``source`` uint8 ``[h, w]``, the head that decided each cell (:data:`~.products.SOURCE_CODES`; 0 = no tile)."""

    row_off: int
    col_off: int
    probabilities: np.ndarray
    source: np.ndarray


@dataclass(frozen=True)
class TileResult:
    """One tile that was run: tile indices, target-pixel window, class probabilities ``[n_classes]`` and the head
    that gave them (``"fused"``, ``"s1"`` or ``"s2"``)."""

    row: int
    col: int
    window: Window
    probabilities: np.ndarray
    head: str


class OutputSink(Protocol):
    """Receives finished output rows (in order, once each) and the tiles of every batch."""

    def write_block(self, block: OutputBlock) -> None: ...

    def write_tiles(self, tiles: list[TileResult]) -> None: ...


@dataclass(frozen=True)
class Progress:
    """Tiles done (run or skipped) of ``total``; ``eta_s = elapsed / done · (total − done)``."""

    done: int
    total: int
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class RunSummary:
    tiles_total: int
    tiles_run: int
    tiles_skipped: int
    seconds: float  #: wall time of the whole run
    model_seconds: float  #: time inside onnxruntime


@dataclass
class _Pending:
    row: int
    col: int
    s2: np.ndarray
    s1: np.ndarray
    head: str


def choose_head(
    either: float,
    s2_blind: float,
    s2_missing: float,
    s1_missing: float,
    heads: Sequence[str],
    max_nodata: float,
    cloud_fraction: float | None,
) -> str | None:
    """The head that classifies a tile, from the fractions of its pixels where: either modality has no data
    (``either``), S2 cannot see (no data or cloudy, ``s2_blind``), S2 or S1 has no data; None: nodata.

    1. With a cloud layer (``cloud_fraction`` not None) and ``s2_blind > cloud_fraction``: the S1-only head.
    2. ``either <= max_nodata`` (today's rule): the fused head.
    3. S2 has data (``s2_missing <= max_nodata``) but S1 does not: the S2-only head; the other way round, S1-only.
    A fraction of 1 is never enough data; a head the model lacks is never chosen.
    """

    def enough(fraction: float) -> bool:
        return fraction < 1.0 and fraction <= max_nodata

    if cloud_fraction is not None and s2_blind > cloud_fraction:
        return "s1" if "s1" in heads and enough(s1_missing) else None
    if enough(either):
        return "fused"
    for head, missing in (("s2", s2_missing), ("s1", s1_missing)):
        if head in heads and enough(missing):
            return head
    return None


class _RollingAccumulator:
    """Overlap-weighted sums of probabilities over a few output rows; finished rows are flushed.

    ``P[k, j] = Σ_t a(t, k) p_t[j] / Σ_t a(t, k)`` with ``a(t, k) = a_row · a_col`` the pixels of cell ``k``
    inside tile ``t`` (see :meth:`TileGrid.cell_weights`).
    """

    def __init__(self, grid: TileGrid, n_classes: int, rows_in_flight: int):
        self.grid = grid
        self.weights_1d = grid.cell_weights()
        self.base = 0  # output row held at buffer row 0
        capacity = grid.cells_per_tile + rows_in_flight
        self.sums = np.zeros((n_classes, capacity, grid.out_width), dtype=np.float64)
        self.weights = np.zeros((capacity, grid.out_width), dtype=np.float64)
        self.sources = np.zeros((capacity, grid.out_width), dtype=np.uint8)  # bit k set: a tile of source code k

    def add(self, row: int, col: int, p: np.ndarray, code: int) -> None:
        g = self.grid
        nr = min(g.cells_per_tile, g.out_height - row)
        nc = min(g.cells_per_tile, g.out_width - col)
        w = np.outer(self.weights_1d[:nr], self.weights_1d[:nc])
        r0 = row - self.base
        if r0 + nr > self.weights.shape[0]:  # never expected (the engine bounds rows in flight); stay correct anyway
            extra = r0 + nr - self.weights.shape[0]
            self.sums = np.pad(self.sums, ((0, 0), (0, extra), (0, 0)))
            self.weights = np.pad(self.weights, ((0, extra), (0, 0)))
            self.sources = np.pad(self.sources, ((0, extra), (0, 0)))
        self.sums[:, r0 : r0 + nr, col : col + nc] += p[:, None, None] * w
        self.weights[r0 : r0 + nr, col : col + nc] += w
        self.sources[r0 : r0 + nr, col : col + nc] |= np.uint8(1 << code)

    def flush(self, upto: int) -> OutputBlock | None:
        """Emit output rows ``[base, upto)`` as a block and drop them from the buffer."""
        n = upto - self.base
        if n <= 0:
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            p = (self.sums[:, :n] / self.weights[:n]).astype(np.float32)
        bits = self.sources[:n]
        single = (bits & (bits - 1)) == 0  # at most one source
        source = np.where(single, np.log2(np.maximum(bits, 1)).astype(np.uint8), np.uint8(MIXED_SOURCE))
        block = OutputBlock(self.base, 0, p, source.astype(np.uint8))
        self.sums[:, :-n] = self.sums[:, n:].copy()
        self.sums[:, -n:] = 0
        self.weights[:-n] = self.weights[n:].copy()
        self.weights[-n:] = 0
        self.sources[:-n] = self.sources[n:].copy()
        self.sources[-n:] = 0
        self.base = upto
        return block


def _padded_cloud(cloud: CloudReader, window: Window, height: int, width: int) -> np.ndarray:
    """Cloudy pixels of ``window`` (may extend past the raster; the outside is not cloudy)."""
    out = np.zeros((window.height, window.width), dtype=bool)
    inside = window.clip(height, width)
    if inside.height and inside.width:
        r, c = inside.row_off - window.row_off, inside.col_off - window.col_off
        out[r : r + inside.height, c : c + inside.width] = cloud.read(inside)
    return out


def _padded_read(reader: WindowReader, window: Window, n_s2: int, n_s1: int) -> tuple[np.ndarray, np.ndarray]:
    """Read ``window`` (may extend past the raster); the outside is NaN."""
    inside = window.clip(reader.height, reader.width)
    if not (inside.height and inside.width):
        return tuple(np.full((n, window.height, window.width), np.nan, dtype=np.float32) for n in (n_s2, n_s1))
    a2, a1 = reader.read(inside)
    if a2.shape != (n_s2, inside.height, inside.width) or a1.shape != (n_s1, inside.height, inside.width):
        raise InputError(
            f"the reader returned S2 {a2.shape} and S1 {a1.shape} for a {inside.height}×{inside.width} window "
            f"with {n_s2} S2 and {n_s1} S1 bands; check the input bands."
        )
    if inside == window:
        return np.asarray(a2, dtype=np.float32), np.asarray(a1, dtype=np.float32)
    s2 = np.full((n_s2, window.height, window.width), np.nan, dtype=np.float32)
    s1 = np.full((n_s1, window.height, window.width), np.nan, dtype=np.float32)
    r, c = inside.row_off - window.row_off, inside.col_off - window.col_off
    s2[:, r : r + inside.height, c : c + inside.width] = a2
    s1[:, r : r + inside.height, c : c + inside.width] = a1
    return s2, s1


def _read_units(grid: TileGrid, chunk: int) -> Iterator[tuple[int, int, int, Window]]:
    """Read units in row-major order: tile row ``r``, tile cols ``[c0, c1)``, and the window covering them."""
    for r in range(grid.n_rows):
        for c0 in range(0, grid.n_cols, chunk):
            c1 = min(c0 + chunk, grid.n_cols)
            width = (c1 - 1 - c0) * grid.stride + grid.patch
            yield r, c0, c1, Window(r * grid.stride, c0 * grid.stride, grid.patch, width)


def run_inference(
    model: OnnxModel,
    reader: WindowReader,
    sinks: Sequence[OutputSink],
    *,
    stride: int | None = None,
    batch_size: int = 16,
    max_nodata_fraction: float = 0.5,
    progress: Callable[[Progress], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    prefetch: bool = False,
    cloud: CloudReader | None = None,
    cloud_fraction: float = DEFAULT_CLOUD_FRACTION,
) -> RunSummary:
    """Predict every tile of ``reader``'s grid and stream averaged output rows and tile results to ``sinks``.

    Each tile goes to the head :func:`choose_head` picks; ``cloud`` (the cloud layer on the reader's grid) makes
    tiles whose cloudy-or-S2-nodata fraction exceeds ``cloud_fraction`` S1-only (models with an S1-only head only).
    """
    meta = model.metadata
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, not {batch_size}.")
    if not 0.0 <= max_nodata_fraction <= 1.0:
        raise InputError(f"the nodata fraction threshold must be between 0 and 1, not {max_nodata_fraction}.")
    if not 0.0 <= cloud_fraction <= 1.0:
        raise InputError(f"the cloud fraction threshold must be between 0 and 1, not {cloud_fraction}.")
    heads = meta.heads
    if cloud is not None:
        require_s1_head(heads, model.path.name)
    patch = meta.patch_size_px
    grid = TileGrid(reader.width, reader.height, patch, stride or patch)
    n_s2, n_s1 = len(meta.s2.bands), len(meta.s1.bands)
    # A batch spans at most ``max_span + 1`` tile rows (sparse rows force a partial batch), which bounds the buffer.
    max_span = -(-batch_size // grid.n_cols) + 1
    acc = _RollingAccumulator(grid, meta.n_classes, rows_in_flight=max_span + 2)
    start = time.perf_counter()
    model_s, done, run_count = 0.0, 0, 0
    pending: list[_Pending] = []
    units = list(_read_units(grid, batch_size))

    def report() -> None:
        if progress is not None:
            elapsed = time.perf_counter() - start
            eta = elapsed / done * (grid.n_tiles - done) if done else None
            progress(Progress(done, grid.n_tiles, elapsed, eta))

    def flush(upto: int) -> None:
        block = acc.flush(min(upto, grid.out_height))
        if block is not None:
            for sink in sinks:
                sink.write_block(block)

    def run_batch(batch: list[_Pending]) -> None:
        nonlocal model_s, done, run_count
        if is_cancelled is not None and is_cancelled():
            raise InferenceCancelledError("inference was cancelled; no output was kept.")
        s2 = model.prepare(np.stack([t.s2 for t in batch]), meta.s2)
        s1 = model.prepare(np.stack([t.s1 for t in batch]), meta.s1)
        t0 = time.perf_counter()
        probs = model.run_heads(s2, s1)
        model_s += time.perf_counter() - t0
        results = []
        for i, t in enumerate(batch):
            p = probs[t.head][i]
            acc.add(t.row, t.col, p, SOURCE_CODES[t.head])
            results.append(TileResult(t.row, t.col, grid.window(t.row, t.col), p.astype(np.float32), t.head))
        for sink in sinks:
            sink.write_tiles(results)
        done += len(batch)
        run_count += len(batch)

    def read(unit: tuple[int, int, int, Window]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        s2, s1 = _padded_read(reader, unit[3], n_s2, n_s1)
        for a in (s2, s1):  # ±inf is as unusable as NaN: nodata
            a[np.isinf(a)] = np.nan
        cloudy = None if cloud is None else _padded_cloud(cloud, unit[3], reader.height, reader.width)
        return s2, s1, cloudy

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(read, units[0]) if prefetch else None
        for i, unit in enumerate(units):
            if prefetch:
                s2_block, s1_block, cloudy = future.result()
                future = pool.submit(read, units[i + 1]) if i + 1 < len(units) else None
            else:
                s2_block, s1_block, cloudy = read(unit)
            r, c0, c1, _window = unit
            s2_missing, s1_missing = np.isnan(s2_block).any(axis=0), np.isnan(s1_block).any(axis=0)
            invalid = s2_missing | s1_missing
            blind = s2_missing if cloudy is None else s2_missing | cloudy
            for c in range(c0, c1):
                x = slice((c - c0) * grid.stride, (c - c0) * grid.stride + patch)
                head = choose_head(
                    float(invalid[:, x].mean()),
                    float(blind[:, x].mean()),
                    float(s2_missing[:, x].mean()),
                    float(s1_missing[:, x].mean()),
                    heads,
                    max_nodata_fraction,
                    None if cloud is None else cloud_fraction,
                )
                if head is None:
                    done += 1
                    continue
                pending.append(_Pending(r, c, s2_block[:, :, x], s1_block[:, :, x], head))
            while len(pending) >= batch_size or (pending and r - pending[0].row >= max_span):
                batch, pending = pending[:batch_size], pending[batch_size:]
                run_batch(batch)
                report()
                flush(pending[0].row if pending else r + (c1 == grid.n_cols))
            if not pending:
                flush(r + (c1 == grid.n_cols))
        if pending:
            run_batch(pending)
        if not run_count:
            raise InputError(
                f"no tile of the processed extent has enough data: all {grid.n_tiles} tiles are more than "
                f"{max_nodata_fraction:.0%} nodata; check the extent or AOI and the inputs' nodata values."
            )
        flush(grid.out_height)
        report()
    return RunSummary(grid.n_tiles, run_count, grid.n_tiles - run_count, time.perf_counter() - start, model_s)

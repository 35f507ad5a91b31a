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
from .clouds import DEFAULT_CLOUD_FRACTION, require_cloud_use
from .modalities import MODALITIES, RunInputs, run_head
from .model import OnnxModel
from .products import MIXED_SOURCE, SOURCE_CODES
from .tiling import TileGrid, Window


class InferenceCancelledError(MosaicError):
    """The run was cancelled by its ``is_cancelled`` callback; outputs must be discarded."""


class WindowReader(Protocol):
    """Both modalities on one target grid; ``read`` returns ``(s2, s1)`` float32 ``[C, h, w]``, NaN = nodata, and
    None for a modality the run is not given (a one-modality run)."""

    width: int
    height: int

    def read(self, window: Window) -> tuple[np.ndarray | None, np.ndarray | None]: ...


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
    providers: tuple[str, ...] = ()  #: the execution providers the model ran on, best first
    precision: str = "fp32"  #: the model file's precision (fp32, fp16, int8)


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
        self.has_data = np.zeros((capacity, grid.out_width), dtype=bool)  # a valid input pixel lies in the cell

    def _rows(self, row: int, n: int) -> int:
        """Buffer row of output row ``row``, the buffer grown to hold ``n`` rows from there."""
        r0 = row - self.base
        if r0 + n > self.weights.shape[0]:  # never expected (the engine bounds rows in flight); stay correct anyway
            extra = r0 + n - self.weights.shape[0]
            self.sums = np.pad(self.sums, ((0, 0), (0, extra), (0, 0)))
            self.weights = np.pad(self.weights, ((0, extra), (0, 0)))
            self.sources = np.pad(self.sources, ((0, extra), (0, 0)))
            self.has_data = np.pad(self.has_data, ((0, extra), (0, 0)))
        return r0

    def add(self, row: int, col: int, p: np.ndarray, code: int) -> None:
        g = self.grid
        nr = min(g.cells_per_tile, g.out_height - row)
        nc = min(g.cells_per_tile, g.out_width - col)
        w = np.outer(self.weights_1d[:nr], self.weights_1d[:nc])
        r0 = self._rows(row, nr)
        self.sums[:, r0 : r0 + nr, col : col + nc] += p[:, None, None] * w
        self.weights[r0 : r0 + nr, col : col + nc] += w
        self.sources[r0 : r0 + nr, col : col + nc] |= np.uint8(1 << code)

    def mark_data(self, row: int, col: int, cells: np.ndarray) -> None:
        """Cells from ``(row, col)`` where ``cells`` (bool ``[h, w]``) is True hold a valid input pixel."""
        nr, nc = min(cells.shape[0], self.grid.out_height - row), min(cells.shape[1], self.grid.out_width - col)
        r0 = self._rows(row, nr)
        self.has_data[r0 : r0 + nr, col : col + nc] |= cells[:nr, :nc]

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
        empty = ~self.has_data[:n]  # no valid input under the cell: nodata, whatever the tiles around it say
        p[:, empty] = np.nan
        source[empty] = 0
        block = OutputBlock(self.base, 0, p, source.astype(np.uint8))
        for a in (self.sums[None], self.weights, self.sources, self.has_data):
            a[..., :-n, :] = a[..., n:, :].copy()
            a[..., -n:, :] = 0
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
    """Read ``window`` (may extend past the raster); the outside, and a modality the reader gives as None, is NaN."""
    inside = window.clip(reader.height, reader.width)
    arrays = reader.read(inside) if inside.height and inside.width else (None, None)
    out = []
    for name, n, a in (("S2", n_s2, arrays[0]), ("S1", n_s1, arrays[1])):
        if a is not None and a.shape != (n, inside.height, inside.width):
            raise InputError(
                f"the reader returned {name} {a.shape} for a {inside.height}×{inside.width} window with {n} "
                f"{name} bands; check the input bands."
            )
        if a is not None and inside == window:
            out.append(np.asarray(a, dtype=np.float32))
            continue
        padded = np.full((n, window.height, window.width), np.nan, dtype=np.float32)
        if a is not None:
            r, c = inside.row_off - window.row_off, inside.col_off - window.col_off
            padded[:, r : r + inside.height, c : c + inside.width] = a
        out.append(padded)
    return out[0], out[1]


def _cells_with_data(valid: np.ndarray, stride: int) -> np.ndarray:
    """bool ``[ceil(h / s), ceil(w / s)]``: the output cells (``s`` × ``s`` px from the window's corner, which lies
    on the cell lattice) holding at least one True pixel of ``valid`` ``[h, w]``."""
    h, w = valid.shape
    rows, cols = -(-h // stride), -(-w // stride)
    padded = np.zeros((rows * stride, cols * stride), dtype=bool)
    padded[:h, :w] = valid
    return padded.reshape(rows, stride, cols, stride).any(axis=(1, 3))


def _read_units(grid: TileGrid, chunk: int) -> Iterator[tuple[int, int, int, Window]]:
    """Read units in row-major order: tile row ``r``, tile cols ``[c0, c1)``, and the window covering them."""
    for r in range(grid.n_rows):
        for c0 in range(0, grid.n_cols, chunk):
            c1 = min(c0 + chunk, grid.n_cols)
            width = (c1 - 1 - c0) * grid.stride + grid.patch
            yield r, c0, c1, Window(r * grid.stride, c0 * grid.stride, grid.patch, width)


@dataclass
class _Block:
    """One read unit: tile row ``row``, tile cols ``[c0, c1)``; the S2 and S1 pixels of its window as model inputs
    (:meth:`OnnxModel.prepare`), the head each of its tiles goes to (None: not enough data) and its output cells that
    hold a valid input pixel."""

    row: int
    c0: int
    c1: int
    s2: np.ndarray
    s1: np.ndarray
    heads: list[str | None]
    cells_with_data: np.ndarray


class _InferenceRun:
    """The state of one :func:`run_inference` call: tiles wait in ``pending`` until a batch is full, run, and their
    averaged output rows are flushed to the sinks as soon as no later tile can touch them."""

    def __init__(
        self,
        model: OnnxModel,
        reader: WindowReader,
        sinks: Sequence[OutputSink],
        grid: TileGrid,
        batch_size: int,
        max_nodata_fraction: float,
        progress: Callable[[Progress], None] | None,
        is_cancelled: Callable[[], bool] | None,
        cloud: CloudReader | None,
        cloud_fraction: float,
        inputs: RunInputs,
    ) -> None:
        self.model, self.meta, self.reader, self.sinks, self.grid = model, model.metadata, reader, sinks, grid
        self.batch_size, self.max_nodata_fraction = batch_size, max_nodata_fraction
        self.progress, self.is_cancelled = progress, is_cancelled
        self.cloud, self.cloud_fraction = cloud, cloud_fraction
        # the heads a tile may go to (choose_head's names: fused, s1, s2) and the graph output that gives each: a
        # one-modality run has one, its modality's head (the fused output of a model of that modality alone)
        single = run_head(self.meta, inputs, model.path.name)
        self.heads = self.meta.heads if single is None else (inputs.single,)
        self.outputs = {h: h for h in self.meta.heads} if single is None else {inputs.single: single}
        # A batch spans at most ``max_span + 1`` tile rows (sparse rows force a partial batch): that bounds the buffer.
        self.max_span = -(-batch_size // grid.n_cols) + 1
        self.acc = _RollingAccumulator(grid, self.meta.n_classes, rows_in_flight=self.max_span + 2)
        self.start = time.perf_counter()
        self.model_s, self.done, self.run_count = 0.0, 0, 0
        self.pending: list[_Pending] = []

    def read(self, unit: tuple[int, int, int, Window]) -> _Block:
        """A read unit's pixels and every per-pixel decision on them: each tile's head (:func:`choose_head`) and the
        output cells with data. NaN and ±inf are nodata. All the per-pixel work of a unit is done here, so with
        ``prefetch`` it runs in the background thread while onnxruntime runs the previous batch."""
        row, c0, c1, window = unit
        grid, patch = self.grid, self.meta.patch_size_px
        s2, s1 = _padded_read(self.reader, window, len(self.meta.s2.bands), len(self.meta.s1.bands))
        bad2, bad1 = ~np.isfinite(s2), ~np.isfinite(s1)
        s2_missing, s1_missing = bad2.any(axis=0), bad1.any(axis=0)
        invalid = s2_missing | s1_missing
        blind = s2_missing
        if self.cloud is not None:
            blind = s2_missing | _padded_cloud(self.cloud, window, self.reader.height, self.reader.width)
        heads = []
        for c in range(c0, c1):
            x = slice((c - c0) * grid.stride, (c - c0) * grid.stride + patch)
            heads.append(
                choose_head(
                    float(invalid[:, x].mean()),
                    float(blind[:, x].mean()),
                    float(s2_missing[:, x].mean()),
                    float(s1_missing[:, x].mean()),
                    self.heads,
                    self.max_nodata_fraction,
                    None if self.cloud is None else self.cloud_fraction,
                )
            )
        cells = _cells_with_data(~(s2_missing & s1_missing), grid.stride)
        if any(heads):  # the model's inputs, prepared once for every tile of the unit (they may overlap)
            self.model.prepare(s2, self.meta.s2, bad2)
            self.model.prepare(s1, self.meta.s1, bad1)
        return _Block(row, c0, c1, s2, s1, heads, cells)

    def queue(self, block: _Block) -> None:
        """Queue every tile of ``block`` that has a head; count the others as done."""
        grid, patch = self.grid, self.meta.patch_size_px
        self.acc.mark_data(block.row, block.c0, block.cells_with_data)
        for c, head in zip(range(block.c0, block.c1), block.heads):
            if head is None:
                self.done += 1
                continue
            x = slice((c - block.c0) * grid.stride, (c - block.c0) * grid.stride + patch)
            self.pending.append(_Pending(block.row, c, block.s2[:, :, x], block.s1[:, :, x], head))

    def run_ready(self, block: _Block) -> None:
        """Run the full batches (and any batch about to span too many rows), then flush the finished rows."""
        row, row_done = block.row, block.row + (block.c1 == self.grid.n_cols)
        while len(self.pending) >= self.batch_size or (self.pending and row - self.pending[0].row >= self.max_span):
            batch, self.pending = self.pending[: self.batch_size], self.pending[self.batch_size :]
            self.run_batch(batch)
            self.report()
            self.flush(self.pending[0].row if self.pending else row_done)
        if not self.pending:
            self.flush(row_done)

    def run_batch(self, batch: list[_Pending]) -> None:
        """One onnxruntime call for ``batch``; each tile's head into the accumulator and the sinks' tiles."""
        if self.is_cancelled is not None and self.is_cancelled():
            raise InferenceCancelledError("inference was cancelled; no output was kept.")
        s2, s1 = np.stack([t.s2 for t in batch]), np.stack([t.s1 for t in batch])  # prepared by :meth:`read`
        t0 = time.perf_counter()
        probs = self.model.run_heads(s2, s1)
        self.model_s += time.perf_counter() - t0
        results = []
        for i, t in enumerate(batch):
            p = probs[self.outputs[t.head]][i]
            self.acc.add(t.row, t.col, p, SOURCE_CODES[t.head])
            results.append(TileResult(t.row, t.col, self.grid.window(t.row, t.col), p.astype(np.float32), t.head))
        for sink in self.sinks:
            sink.write_tiles(results)
        self.done += len(batch)
        self.run_count += len(batch)

    def report(self) -> None:
        if self.progress is not None:
            elapsed = time.perf_counter() - self.start
            eta = elapsed / self.done * (self.grid.n_tiles - self.done) if self.done else None
            self.progress(Progress(self.done, self.grid.n_tiles, elapsed, eta))

    def flush(self, upto: int) -> None:
        block = self.acc.flush(min(upto, self.grid.out_height))
        if block is not None:
            for sink in self.sinks:
                sink.write_block(block)

    def finish(self) -> RunSummary:
        """Run what is left, flush every row; an :class:`InputError` when no tile had enough data."""
        if self.pending:
            self.run_batch(self.pending)
            self.pending = []
        if not self.run_count:
            raise InputError(
                f"no tile of the processed extent has enough data: all {self.grid.n_tiles} tiles are more than "
                f"{self.max_nodata_fraction:.0%} nodata; check the extent or AOI and the inputs' nodata values."
            )
        self.flush(self.grid.out_height)
        self.report()
        n = self.grid.n_tiles
        return RunSummary(
            n,
            self.run_count,
            n - self.run_count,
            time.perf_counter() - self.start,
            self.model_s,
            tuple(self.model.providers),
            self.meta.precision,
        )


def _blocks(run: _InferenceRun, units: list, prefetch: bool) -> Iterator[_Block]:
    """The blocks of ``units`` in order; with ``prefetch`` the next one is read in a background thread."""
    if not prefetch:
        yield from map(run.read, units)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(run.read, units[0])
        for i in range(len(units)):
            block = future.result()
            if i + 1 < len(units):
                future = pool.submit(run.read, units[i + 1])
            yield block


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
    modalities: Sequence[str] = MODALITIES,
) -> RunSummary:
    """Predict every tile of ``reader``'s grid and stream averaged output rows and tile results to ``sinks``.

    Each tile goes to the head :func:`choose_head` picks; ``cloud`` (the cloud layer on the reader's grid) makes
    tiles whose cloudy-or-S2-nodata fraction exceeds ``cloud_fraction`` S1-only (models with an S1-only head only).
    ``modalities``: what the reader gives, ``("s2", "s1")``, or one of them: then every tile goes to that modality's
    own head (:mod:`.modalities`; a model without it is refused), and with S2 alone cloudy tiles are nodata.
    """
    inputs = RunInputs.of(modalities)
    _check_options(model, batch_size, max_nodata_fraction, cloud, cloud_fraction, inputs)
    patch = model.metadata.patch_size_px
    grid = TileGrid(reader.width, reader.height, patch, stride or patch)
    run = _InferenceRun(
        model,
        reader,
        sinks,
        grid,
        batch_size,
        max_nodata_fraction,
        progress,
        is_cancelled,
        cloud,
        cloud_fraction,
        inputs,
    )
    for block in _blocks(run, list(_read_units(grid, batch_size)), prefetch):
        run.queue(block)
        run.run_ready(block)
    return run.finish()


def _check_options(
    model: OnnxModel,
    batch_size: int,
    max_nodata_fraction: float,
    cloud: CloudReader | None,
    cloud_fraction: float,
    inputs: RunInputs,
) -> None:
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, not {batch_size}.")
    if not 0.0 <= max_nodata_fraction <= 1.0:
        raise InputError(f"the nodata fraction threshold must be between 0 and 1, not {max_nodata_fraction}.")
    if not 0.0 <= cloud_fraction <= 1.0:
        raise InputError(f"the cloud fraction threshold must be between 0 and 1, not {cloud_fraction}.")
    if cloud is not None:
        require_cloud_use(model.metadata.heads, inputs, model.path.name)

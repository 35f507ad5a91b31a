"""The engine on the real T33UUP mosaic: averaging, batching/prefetch invariance, streaming, progress, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from mosaic.backend.errors import ModelError
from mosaic.backend.inference import (
    InferenceCancelledError,
    OutputBlock,
    TileGrid,
    TileResult,
    Window,
    load_model,
    run_inference,
)
from mosaic.backend.inference.engine import choose_head


class ArrayReader:
    """A WindowReader over in-memory arrays (the real mosaic, read once with the rasterio reader)."""

    def __init__(self, s2: np.ndarray, s1: np.ndarray):
        self.s2, self.s1 = s2, s1
        self.height, self.width = s2.shape[1:]
        self.reads: list[Window] = []

    def read(self, w: Window):
        self.reads.append(w)
        sl = (slice(None), slice(w.row_off, w.row_off + w.height), slice(w.col_off, w.col_off + w.width))
        return self.s2[sl].copy(), self.s1[sl].copy()


class CollectSink:
    def __init__(self, reader: ArrayReader | None = None):
        self.blocks: list[OutputBlock] = []
        self.tiles: list[TileResult] = []
        self.reads_at_block: list[int] = []
        self.reader = reader

    def write_block(self, block):
        self.blocks.append(block)
        if self.reader is not None:
            self.reads_at_block.append(len(self.reader.reads))

    def write_tiles(self, tiles):
        self.tiles.extend(tiles)

    def raster(self) -> np.ndarray:
        return np.concatenate([b.probabilities for b in self.blocks], axis=1)


@pytest.fixture(scope="module")
def model(onnx_model_path):
    return load_model(onnx_model_path, threads=2)


@pytest.fixture(scope="module")
def mosaic_arrays(t33uup_mosaic, model):
    from mosaic.backend.predict.reader import RasterioReader

    with RasterioReader([t33uup_mosaic], [t33uup_mosaic], model.metadata) as r:
        return r.read(Window(0, 0, r.height, r.width))


def _brute_force(tiles: list[TileResult], grid: TileGrid, n_classes: int, arrays=None) -> np.ndarray:
    """P[k] = Σ_t a(t,k) p_t / Σ_t a(t,k), with a(t,k) counted pixel by pixel; with the input ``arrays``, NaN in
    every cell without one pixel where S2 or S1 has data."""
    s = grid.stride
    num = np.zeros((n_classes, grid.out_height, grid.out_width))
    den = np.zeros((grid.out_height, grid.out_width))
    for t in tiles:
        w = t.window
        for i in range(grid.out_height):
            rows = max(0, min(w.row_off + w.height, (i + 1) * s) - max(w.row_off, i * s))
            for j in range(grid.out_width):
                cols = max(0, min(w.col_off + w.width, (j + 1) * s) - max(w.col_off, j * s))
                num[:, i, j] += rows * cols * t.probabilities
                den[i, j] += rows * cols
    with np.errstate(invalid="ignore"):
        out = num / den
    if arrays is not None:
        data = ~(np.isnan(arrays[0]).any(axis=0) & np.isnan(arrays[1]).any(axis=0))
        for i in range(grid.out_height):
            for j in range(grid.out_width):
                if not data[i * s : (i + 1) * s, j * s : (j + 1) * s].any():
                    out[:, i, j] = np.nan
    return out


@pytest.mark.parametrize("stride", [60, 100])
def test_overlapping_tiles_average_with_overlap_weights(model, mosaic_arrays, stride):
    reader = ArrayReader(*mosaic_arrays)
    sink = CollectSink()
    summary = run_inference(model, reader, [sink], stride=stride, batch_size=8)
    grid = TileGrid(240, 480, 120, stride)
    out = sink.raster()
    assert out.shape == (19, grid.out_height, grid.out_width)
    assert summary.tiles_total == grid.n_tiles == summary.tiles_run + summary.tiles_skipped
    assert len(sink.tiles) == summary.tiles_run
    np.testing.assert_allclose(out, _brute_force(sink.tiles, grid, 19, mosaic_arrays), atol=1e-6)
    # the empty 37_87 patch (top-left 1200 m) is nodata
    assert np.isnan(out[:, 0, 0]).all()
    # each tile's probabilities are those of the model on that tile alone
    t = sink.tiles[len(sink.tiles) // 2]
    w = t.window
    s2 = mosaic_arrays[0][None, :, w.row_off : w.row_off + 120, w.col_off : w.col_off + 120]
    s1 = mosaic_arrays[1][None, :, w.row_off : w.row_off + 120, w.col_off : w.col_off + 120]
    np.testing.assert_allclose(t.probabilities, model.predict(s2, s1)[0], atol=1e-5)


@pytest.mark.parametrize("stride", [10, 30, 50, 60, 120])
def test_cells_without_input_are_nodata_whatever_the_stride(model, mosaic_arrays, stride):
    """The mosaic's missing 1.2 km patch (S1 and S2 nodata, px 0–120 × 0–120) is nodata in every cell wholly inside
    it, although tiles with enough data overlap it; every other cell is the overlap-weighted mean of its tiles."""
    sink = CollectSink()
    run_inference(model, ArrayReader(*mosaic_arrays), [sink], stride=stride, batch_size=16)
    out, grid = sink.raster(), TileGrid(240, 480, 120, stride)
    source = np.concatenate([b.source for b in sink.blocks])
    inside = 120 // stride  # cells per axis wholly inside the missing patch
    assert np.isnan(out[:, :inside, :inside]).all() and (source[:inside, :inside] == 0).all()
    assert np.isfinite(out).all(axis=0).sum() == grid.out_height * grid.out_width - inside * inside
    assert (source[np.isfinite(out[0])] == 1).all()
    full = _brute_force(sink.tiles, grid, 19)
    assert np.isfinite(full[0, :inside, :inside]).any() == (stride < 120)  # overlapping tiles reach into the patch
    np.testing.assert_allclose(out[:, np.isfinite(out[0])], full[:, np.isfinite(out[0])], atol=1e-6)


def test_results_do_not_depend_on_batch_size_or_prefetch(model, mosaic_arrays):
    outs = []
    for batch_size, prefetch in [(1, False), (5, True), (64, True)]:
        sink = CollectSink()
        run_inference(model, ArrayReader(*mosaic_arrays), [sink], stride=60, batch_size=batch_size, prefetch=prefetch)
        outs.append(sink.raster())
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)
    np.testing.assert_allclose(outs[0], outs[2], atol=1e-5)


def test_rows_stream_out_in_order_before_the_raster_is_read(model, mosaic_arrays):
    # the real mosaic stacked 3 times vertically: 1440 px tall
    s2, s1 = (np.concatenate([a] * 3, axis=1) for a in mosaic_arrays)
    reader = ArrayReader(s2, s1)
    sink = CollectSink(reader)
    run_inference(model, reader, [sink], stride=120, batch_size=2, prefetch=False)
    rows = [(b.row_off, b.probabilities.shape[1]) for b in sink.blocks]
    assert [r for r, _ in rows] == list(np.cumsum([0] + [n for _, n in rows[:-1]]))  # contiguous, in order
    assert sum(n for _, n in rows) == 12 and all(b.probabilities.shape[2] == 2 for b in sink.blocks)
    assert sink.reads_at_block[0] <= 2 < len(reader.reads) == 12  # first rows written after 2 of 12 reads
    assert all(w.height == 120 and w.width <= 240 for w in reader.reads)  # one tile row per read
    out = sink.raster()
    np.testing.assert_allclose(out[:, :4], out[:, 4:8], atol=1e-5)  # the repeats give the same cells


def test_nodata_threshold_decides_which_tiles_run(model, mosaic_arrays):
    s2, s1 = (a.copy() for a in mosaic_arrays)
    s2[:, 120:180, 120:240] = np.nan  # half of tile (1, 1) has no S2 data
    runs = {}
    for threshold in (0.4, 0.5):
        sink = CollectSink()
        summary = run_inference(model, ArrayReader(s2, s1), [sink], max_nodata_fraction=threshold)
        runs[threshold] = (summary.tiles_skipped, np.isnan(sink.raster()[0]))
    assert runs[0.4][0] == 2 and runs[0.4][1][1, 1] and runs[0.4][1][0, 0]
    assert runs[0.5][0] == 1 and not runs[0.5][1][1, 1]  # exactly 0.5 nodata: kept


def test_progress_reports_and_cancel_stops_between_batches(model, mosaic_arrays):
    seen = []
    run_inference(model, ArrayReader(*mosaic_arrays), [CollectSink()], batch_size=3, progress=seen.append)
    assert [p.done for p in seen] == [4, 7, 8] and all(p.total == 8 for p in seen)  # skipped tile counted
    assert seen[0].eta_s == pytest.approx(seen[0].elapsed_s / 4 * 4)
    assert seen[-1].eta_s == 0

    calls = []

    def cancel_after_first_batch() -> bool:
        calls.append(1)
        return len(calls) > 1

    sink = CollectSink()
    with pytest.raises(InferenceCancelledError, match="cancelled"):
        run_inference(model, ArrayReader(*mosaic_arrays), [sink], batch_size=3, is_cancelled=cancel_after_first_batch)
    assert len(sink.tiles) == 3


def test_reader_returning_wrong_band_count_is_an_input_error(model, mosaic_arrays):
    from mosaic.backend.errors import InputError

    reader = ArrayReader(mosaic_arrays[0][:9], mosaic_arrays[1])
    with pytest.raises(InputError, match="check the input bands"):
        run_inference(model, reader, [CollectSink()])


def test_sparse_rasters_run_partial_batches_and_stream(model, mosaic_arrays):
    s2, s1 = (np.concatenate([a] * 3, axis=1) for a in mosaic_arrays)  # 12 tile rows
    keep = np.zeros(s2.shape[1:], bool)
    for r in (1, 5, 9):  # one valid tile every 4 rows: a batch of 16 would never fill
        keep[r * 120 : (r + 1) * 120, :120] = True
    s2 = np.where(keep, s2, np.nan)
    outs = []
    for batch_size in (16, 1):
        reader = ArrayReader(s2, s1)
        sink = CollectSink(reader)
        summary = run_inference(model, reader, [sink], batch_size=batch_size, prefetch=False)
        assert summary.tiles_run == 3
        assert sink.reads_at_block[0] <= 6  # rows are flushed long before the end although batches stay partial
        outs.append(sink.raster())
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)
    assert (~np.isnan(outs[0][0])).sum() == 3


def test_choose_head_rules():
    heads = ("fused", "s1", "s2")
    # (either, s2 blind, s2 missing, s1 missing) → head, max nodata 0.5
    assert choose_head(0.0, 0.0, 0.0, 0.0, heads, 0.5, 0.3) == "fused"
    assert choose_head(0.0, 0.31, 0.0, 0.0, heads, 0.5, 0.3) == "s1"  # cloudy
    assert choose_head(0.0, 0.31, 0.0, 0.0, heads, 0.5, None) == "fused"  # no cloud layer: clouds unknown
    assert choose_head(0.6, 0.0, 0.0, 0.6, heads, 0.5, 0.3) == "s2"  # S1 missing
    assert choose_head(0.6, 0.6, 0.6, 0.0, heads, 0.5, None) == "s1"  # S2 missing, no cloud layer
    assert choose_head(1.0, 1.0, 1.0, 1.0, heads, 0.5, 0.3) is None  # both missing
    assert choose_head(0.6, 0.9, 0.0, 0.6, heads, 0.5, 0.3) is None  # cloudy and no S1
    assert choose_head(0.6, 0.0, 0.0, 0.6, ("fused",), 0.5, None) is None  # a fused-only model: today's rule
    assert choose_head(0.5, 0.5, 0.5, 0.0, ("fused",), 0.5, None) == "fused"


class CloudArray:
    """A CloudReader over an in-memory bool mask."""

    def __init__(self, mask: np.ndarray):
        self.mask = mask

    def read(self, w: Window) -> np.ndarray:
        return self.mask[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]


def test_heads_per_tile_and_mixed_cells_where_tiles_of_different_heads_overlap(heads_onnx_model_path, mosaic_arrays):
    """Tile (1, 0) at stride 120 cloudy → S1 head; S1 removed from tile (3, 1) → S2 head; at stride 60 the cells
    shared by a cloudy tile and a clear one are mixed (4)."""
    model = load_model(heads_onnx_model_path, threads=2)
    s2, s1 = (a.copy() for a in mosaic_arrays)
    s1[:, 360:480, 120:240] = np.nan
    cloudy = np.zeros(s2.shape[1:], dtype=bool)
    cloudy[120:240, 0:120] = True
    sink = CollectSink()
    run_inference(model, ArrayReader(s2, s1), [sink], cloud=CloudArray(cloudy), batch_size=3)
    source = np.concatenate([b.source for b in sink.blocks])
    assert source.tolist() == [[0, 1], [2, 1], [1, 1], [1, 3]]
    heads = {(t.row, t.col): t.head for t in sink.tiles}
    assert heads[(1, 0)] == "s1" and heads[(3, 1)] == "s2" and heads[(0, 1)] == "fused"
    for t in sink.tiles:
        w = t.window
        tile = (a[None, :, w.row_off : w.row_off + 120, w.col_off : w.col_off + 120] for a in (s2, s1))
        np.testing.assert_allclose(t.probabilities, model.predict_heads(*tile)[t.head][0], atol=1e-5)
    sink = CollectSink()
    run_inference(model, ArrayReader(s2, s1), [sink], stride=60, cloud=CloudArray(cloudy))
    source = np.concatenate([b.source for b in sink.blocks])
    # column 0: rows 0–120 empty (the 37_87 patch has no input, although S1-head tiles overlap it); up to 240 every
    # covering tile is S2-blind over 30 % (cloud or the empty patch); cells 240–300 lie in the half-cloudy tile
    # 180–300 (S1 head) and the clear tile 240–360 (fused): mixed
    assert source[:6, 0].tolist() == [0, 0, 2, 2, 4, 1]


def test_models_without_an_s1_head_refuse_a_cloud_layer(model, mosaic_arrays):
    cloudy = np.zeros(mosaic_arrays[0].shape[1:], dtype=bool)
    with pytest.raises(ModelError, match="has no S1-only head"):
        run_inference(model, ArrayReader(*mosaic_arrays), [CollectSink()], cloud=CloudArray(cloudy))


class OneModalityReader(ArrayReader):
    """The mosaic's S2 alone (``keep="s2"``) or S1 alone: None for the other modality, as the readers give it."""

    def __init__(self, s2: np.ndarray, s1: np.ndarray, keep: str):
        super().__init__(s2, s1)
        self.keep = keep

    def read(self, w: Window):
        s2, s1 = super().read(w)
        return (s2, None) if self.keep == "s2" else (None, s1)


@pytest.mark.parametrize(("keep", "code"), [("s2", 3), ("s1", 2)])
def test_one_modality_runs_use_that_modalitys_head_everywhere(heads_onnx_model_path, mosaic_arrays, keep, code):
    """S2 alone → the S2-only head on every tile with data (source 3), S1 alone → the S1-only head (source 2); each
    equals that head in a run of both modalities where the other one is missing everywhere (NaN)."""
    model = load_model(heads_onnx_model_path, threads=2)
    s2, s1 = mosaic_arrays
    alone = CollectSink()
    summary = run_inference(model, OneModalityReader(s2, s1, keep), [alone], stride=60, modalities=(keep,))
    assert summary.tiles_run == 20 and {t.head for t in alone.tiles} == {keep}
    source = np.concatenate([b.source for b in alone.blocks])
    assert (source[:2, :2] == 0).all() and (source[np.isfinite(alone.raster()[0])] == code).all()
    assert np.isfinite(alone.raster()[0]).sum() == 32 - 4  # the empty patch's 2 × 2 cells are nodata
    for t in alone.tiles[::5]:
        w = t.window
        tile = (a[None, :, w.row_off : w.row_off + 120, w.col_off : w.col_off + 120] for a in (s2, s1))
        np.testing.assert_allclose(t.probabilities, model.predict_heads(*tile)[keep][0], atol=1e-5)
    missing = (s2, np.full_like(s1, np.nan)) if keep == "s2" else (np.full_like(s2, np.nan), s1)
    both = CollectSink()
    run_inference(model, ArrayReader(*missing), [both], stride=60)
    np.testing.assert_array_equal(both.raster(), alone.raster())
    np.testing.assert_array_equal(np.concatenate([b.source for b in both.blocks]), source)


def test_one_modality_runs_refuse_models_without_that_head_and_a_cloud_layer_without_s2(
    model, heads_onnx_model_path, mosaic_arrays
):
    from mosaic.backend.errors import InputError

    for keep, name in (("s2", "S2-only"), ("s1", "S1-only")):
        with pytest.raises(ModelError, match=rf"^model\.onnx has no {name} head .* use a model with per-modality"):
            run_inference(model, OneModalityReader(*mosaic_arrays, keep), [CollectSink()], modalities=(keep,))
    heads = load_model(heads_onnx_model_path, threads=2)
    cloudy = np.zeros(mosaic_arrays[0].shape[1:], dtype=bool)
    with pytest.raises(InputError, match=r"^a cloud mask marks what Sentinel-2 cannot see, so it needs the Sentinel-2"):
        run_inference(
            heads, OneModalityReader(*mosaic_arrays, "s1"), [CollectSink()], cloud=CloudArray(cloudy), modalities=["s1"]
        )
    with pytest.raises(InputError, match=r"^give the Sentinel-2 bands, the Sentinel-1 bands or both; none were given"):
        run_inference(heads, ArrayReader(*mosaic_arrays), [CollectSink()], modalities=())


def test_s2_alone_leaves_cloudy_tiles_nodata(heads_onnx_model_path, mosaic_arrays):
    """With S2 alone there is no radar to fall back on: a tile the cloud layer makes S2-blind is nodata."""
    model = load_model(heads_onnx_model_path, threads=2)
    cloudy = np.zeros(mosaic_arrays[0].shape[1:], dtype=bool)
    cloudy[120:240, 0:120] = True
    sink = CollectSink()
    summary = run_inference(
        model, OneModalityReader(*mosaic_arrays, "s2"), [sink], cloud=CloudArray(cloudy), modalities=("s2",)
    )
    source = np.concatenate([b.source for b in sink.blocks])
    assert summary.tiles_run == 6 and source.tolist() == [[0, 3], [0, 3], [3, 3], [3, 3]]


def test_one_modality_heads_of_each_kind_of_model(heads_onnx_model_path, onnx_model_path):
    from mosaic.backend.inference.metadata import parse_metadata
    from mosaic.backend.inference.modalities import RunInputs, one_modality_heads, run_head

    heads, fused = (load_model(p, threads=1).metadata for p in (heads_onnx_model_path, onnx_model_path))
    assert one_modality_heads(heads) == {"s2": "s2", "s1": "s1"} and one_modality_heads(fused) == {}
    s2_model = parse_metadata({**fused.raw, "architecture": {"backbone": "resnet18", "modalities": "s2"}})
    assert one_modality_heads(s2_model) == {"s2": "fused"}  # trained on S2 alone: its fused head reads S2 only
    assert run_head(s2_model, RunInputs(s1=False), "s2.onnx") == "fused"
    assert run_head(heads, RunInputs(), "heads.onnx") is None  # both modalities: per-tile heads
    assert RunInputs.of(["s1"]).describe() == "S1 only" and RunInputs().modalities == ("s2", "s1")

"""Tile grid arithmetic: counts, coverage, edge padding, cell weights, output geotransform."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mosaic.backend.errors import InputError
from mosaic.backend.inference import TileGrid, Window, output_geotransform, tile_polygon


def test_grid_of_the_t33uup_mosaic_at_stride_120_is_2_by_4():
    g = TileGrid(width=240, height=480, patch=120, stride=120)
    assert (g.n_rows, g.n_cols, g.n_tiles) == (4, 2, 8)
    assert (g.out_height, g.out_width) == (4, 2)
    assert g.window(3, 1) == Window(360, 120, 120, 120)
    assert g.cell_weights().tolist() == [120.0]


def test_stride_60_gives_overlapping_tiles_and_half_patch_cells():
    g = TileGrid(width=240, height=480, patch=120, stride=60)
    assert (g.n_rows, g.n_cols) == (7, 3)  # ceil((480-120)/60)+1, ceil((240-120)/60)+1
    assert (g.out_height, g.out_width) == (8, 4)
    assert g.cell_weights().tolist() == [60.0, 60.0]


def test_stride_not_dividing_the_patch_weights_the_partial_cell():
    g = TileGrid(width=250, height=130, patch=120, stride=100)
    assert g.cell_weights().tolist() == [100.0, 20.0]
    assert (g.n_rows, g.n_cols) == (2, 3)  # last tiles padded past the raster (130, 250 px)
    assert (g.out_height, g.out_width) == (2, 3)


def test_raster_smaller_than_a_patch_has_one_padded_tile():
    g = TileGrid(width=50, height=70, patch=120, stride=120)
    assert (g.n_rows, g.n_cols, g.out_height, g.out_width) == (1, 1, 1, 1)
    assert g.window(0, 0).clip(70, 50) == Window(0, 0, 70, 50)


@pytest.mark.parametrize("stride", [0, 121])
def test_stride_outside_1_to_patch_is_refused(stride):
    with pytest.raises(InputError, match="stride must be between 1 and the patch size 120"):
        TileGrid(240, 240, 120, stride)


@given(length=st.integers(1, 2000), patch=st.integers(8, 256), data=st.data())
def test_every_pixel_and_cell_is_covered_and_tiles_are_minimal(length, patch, data):
    stride = data.draw(st.integers(1, patch))
    g = TileGrid(length, 1, patch, stride)
    n = g.n_cols
    covered = np.zeros(length, bool)
    for c in range(n):
        covered[c * stride : c * stride + patch] = True
    assert covered.all()
    assert n == 1 or (n - 2) * stride + patch < length  # without the last tile something is uncovered
    # every output cell is touched by some tile: the last cell starts before the last tile's end
    assert (g.out_width - 1) * stride < (n - 1) * stride + patch
    assert (n - 1) * stride + (g.cells_per_tile - 1) * stride >= (g.out_width - 1) * stride or n == 1


def test_output_geotransform_and_tile_polygon():
    gt = (344400.0, 10.0, 0.0, 5295600.0, 0.0, -10.0)
    assert output_geotransform(gt, 120) == (344400.0, 1200.0, 0.0, 5295600.0, 0.0, -1200.0)
    ring = tile_polygon(Window(120, 0, 120, 120), gt)
    assert ring == [
        (344400.0, 5294400.0),
        (345600.0, 5294400.0),
        (345600.0, 5293200.0),
        (344400.0, 5293200.0),
        (344400.0, 5294400.0),
    ]

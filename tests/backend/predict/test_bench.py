"""``mosaic bench predict``: the whole-tile VRTs, the steady-state efficiency and the whole-tile extrapolation, run for
real on the T33UUP mosaic with the test network (small sizes: the figures are for docs/benchmarks.md)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import rasterio

from mosaic.backend.errors import InputError
from mosaic.backend.inference import load_model
from mosaic.backend.predict.bench import (
    TILE_PX,
    TileCase,
    add_arguments,
    repeat_folder,
    steady_state,
    steady_state_table,
    tile_folder,
    whole_tile,
    whole_tile_table,
)


def test_a_whole_tile_is_the_mosaic_repeated_at_each_bands_resolution(t33uup_mosaic, tmp_path):
    folder = tile_folder(t33uup_mosaic, tmp_path / "tile", rows=480)
    sizes = {}
    for vrt in sorted(folder.glob("*.vrt")):
        with rasterio.open(vrt) as ds, rasterio.open(t33uup_mosaic / vrt.with_suffix(".tif").name) as src:
            sizes[vrt.stem.rsplit("_", 1)[-1]] = (ds.width, ds.height)
            assert ds.transform == src.transform and ds.crs == src.crs
            w, h = src.width, src.height  # the 46th copy across starts at 45 widths and is cut at the tile's edge
            np.testing.assert_array_equal(
                ds.read(1, window=rasterio.windows.Window(45 * w, 0, ds.width - 45 * w, h)),
                src.read(1, window=rasterio.windows.Window(0, 0, ds.width - 45 * w, h)),
            )
    assert sizes["B02"] == sizes["VV"] == (TILE_PX, 480) and sizes["B05"] == (5490, 240) and sizes["B01"] == (1830, 80)


def test_whole_tile_cases_parse_or_are_refused_in_one_line():
    assert TileCase.parse("120") == TileCase(120) and TileCase.parse("30:960") == TileCase(30, 960)
    for bad in ("x", "30:1000", "30:10980"):
        with pytest.raises(InputError, match="--whole-tile"):
            TileCase.parse(bad)


def test_steady_state_efficiency_is_the_ratio_of_marginal_times(onnx_model_path, t33uup_mosaic, tmp_path):
    model = load_model(onnx_model_path, threads=2)
    folders = {f: repeat_folder(t33uup_mosaic, tmp_path / f"x{f}", f) for f in (1, 2)}
    t = steady_state({"fp32": model}, folders, 120, 1, 16)
    assert t["tiles"] == {1: 7, 2: 28} and t["factors"] == (1, 2)
    m = t["medians"]["fp32"]
    ms = {r: 1000 * (m[f"{r} 2x2 s"] - m[f"{r} 1x1 s"]) / 21 for r in ("end-to-end", "onnxruntime alone")}
    assert m["end-to-end ms/tile"] == pytest.approx(ms["end-to-end"])
    assert m["efficiency"] == pytest.approx(ms["onnxruntime alone"] / ms["end-to-end"]) and m["efficiency"] > 0
    assert steady_state_table(t).splitlines()[2].startswith("| fp32 | ")


def test_whole_tile_extrapolates_from_two_strips(onnx_model_path, t33uup_mosaic, tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", onnx_model_path, "--whole-tile", "120:240", "--threads", "2"])
    (result,) = whole_tile(args, t33uup_mosaic, tmp_path)
    (rows_a, tiles_a, t_a, _), (rows_b, tiles_b, t_b, peak) = result["runs"]
    assert (rows_a, tiles_a, rows_b, tiles_b) == (120, 92, 240, 184) and result["tiles"] == 92 * 92
    assert result["seconds"] == pytest.approx(t_b + (t_b - t_a) / 92 * (92 * 92 - 184))
    assert result["cells"] == 92 and 200 < peak < 4000 and result["peak_mib"] == max(peak, result["runs"][0][3])
    assert "| model.onnx (fp32) | 120 px (1200 m) | 92 × 92 | 8,464 | strips of 120 and 240 rows (" in (
        whole_tile_table([result])
    )

"""``mosaic predict --scenes`` on a 2-worker Dask LocalCluster over real scenes (the T33UUP mosaic cut in two, the
SSL4EO-S12 pair in EPSG:4326, a broken scene): killed after its first finished scene, resumed, outputs equal to
single-scene runs, the broken scene reported, and the mosaic a valid COG over every scene."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds

from mosaic.backend.predict.prediction import predict
from mosaic.backend.predict.scene_runner import MARKER_DIR, SUMMARY_FILE

from .prediction_requests import predict_request
from .scene_data import PARTS, cut_part, ssl4eo_pair

MOSAIC = str(Path(sys.executable).parent / "mosaic")
RASTERS = ("probabilities.tif", "labels.tif", "confidence.tif")
GOOD = (*PARTS, "ssl4eo")


@pytest.fixture(scope="module")
def scene_file(t33uup_mosaic, shared_data, tmp_path_factory) -> Path:
    """scenes.csv: the two T33UUP parts (band files listed with ';', relative to the CSV), SSL4EO (absolute folders),
    and a scene whose S1 is not a raster."""
    root = tmp_path_factory.mktemp("scenes")
    rows = [("name", "s2", "s1")]
    for name, part_rows in PARTS.items():
        folder = cut_part(t33uup_mosaic, part_rows, root / "inputs" / name)
        rows.append(
            (
                name,
                *(
                    " ; ".join(f"inputs/{name}/{f.name}" for f in sorted(folder.glob(f"{prefix}*.tif")))
                    for prefix in ("S2A", "S1_")
                ),
            )
        )
    s2, s1 = ssl4eo_pair(shared_data)
    rows.append(("ssl4eo", str(s2), str(s1)))
    (root / "inputs" / "not_a_raster.tif").write_text("this is no GeoTIFF", encoding="utf-8")
    rows.append(
        (
            "broken",
            f"inputs/t33uup_north/{next((root / 'inputs/t33uup_north').glob('S2A*B02.tif')).name}",
            "inputs/not_a_raster.tif",
        )
    )
    with (root / "scenes.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return root / "scenes.csv"


@pytest.fixture(scope="module")
def single_runs(scene_file, shared_data, onnx_model_path, tmp_path_factory) -> Path:
    """Each good scene through single-scene ``predict`` into ``<folder>/<name>``."""
    from mosaic.backend.predict.scenes import read_scenes

    out = tmp_path_factory.mktemp("single")
    for scene in read_scenes(scene_file)[:3]:
        predict(predict_request(scene.s2, scene.s1, onnx_model_path, out / scene.name, threads=1))
    return out


def _markers(out: Path) -> set[str]:
    """The scenes with a finished marker (not the hidden temporary file a marker is written to before its rename)."""
    return {p.stem for p in (out / MARKER_DIR).glob("*.json") if not p.name.startswith(".")}


def _run_killed_after_first_scene(argv: list[str], out: Path) -> set[str]:
    """Start ``argv`` in its own process group, SIGKILL the group (workers too) when the first marker appears;
    returns the scenes finished by then."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while not _markers(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    for _ in range(200):  # until every process of the group (the cluster's workers) has gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    return _markers(out)


@pytest.fixture(scope="module")
def resumed(scene_file, onnx_model_path, tmp_path_factory) -> tuple[Path, set[str], subprocess.CompletedProcess]:
    """A killed run, a scene's outputs left damaged and unfinished, then the run again to its end."""
    out = tmp_path_factory.mktemp("many") / "out"
    argv = [
        MOSAIC,
        "predict",
        "--scenes",
        str(scene_file),
        "--model",
        onnx_model_path,
        "--out",
        str(out),
        "--workers",
        "2",
        "--progress-jsonl",
    ]
    finished_first = _run_killed_after_first_scene(argv, out)
    (out / "ssl4eo").mkdir(parents=True, exist_ok=True)  # as if killed while its files were moved into place
    (out / "ssl4eo" / "probabilities.tif").write_bytes(b"half a file")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    return out, finished_first, proc


def test_killed_run_resumes_and_equals_single_scene_runs(resumed, single_runs):
    out, finished_first, proc = resumed
    assert 1 <= len(finished_first) <= 2 and "ssl4eo" not in finished_first and "broken" not in finished_first
    with (out / SUMMARY_FILE).open(encoding="utf-8") as f:
        summary = {row["name"]: row for row in csv.DictReader(f)}
    assert list(summary) == [*GOOD, "broken"]
    for name in GOOD:
        assert summary[name]["status"] == ("skipped" if name in finished_first else "done"), summary[name]
    assert _markers(out) == set(GOOD)
    for name in GOOD:
        assert sorted(p.name for p in (out / name).iterdir()) == sorted(p.name for p in (single_runs / name).iterdir())
        for raster in RASTERS:
            with rasterio.open(out / name / raster) as a, rasterio.open(single_runs / name / raster) as b:
                assert (a.crs, a.transform, a.descriptions, a.tags()) == (b.crs, b.transform, b.descriptions, b.tags())
                np.testing.assert_allclose(a.read(), b.read(), rtol=0, atol=1e-6, err_msg=f"{name}/{raster}")
        tiles, expected = gpd.read_file(out / name / "tiles.gpkg"), gpd.read_file(single_runs / name / "tiles.gpkg")
        assert len(tiles) == len(expected) > 0 and list(tiles.top_class) == list(expected.top_class)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events] == ["progress"] * (4 - len(finished_first)) + ["done"]
    assert events[-1]["failed"] == 1 and events[-2]["done"] == events[-2]["total"] == 4


def test_broken_scene_is_reported_without_stopping_the_others(resumed):
    out, _, proc = resumed
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("mosaic predict: error: 1 of 4 scenes failed (broken); the others are finished.")
    with (out / SUMMARY_FILE).open(encoding="utf-8") as f:
        broken = next(row for row in csv.DictReader(f) if row["name"] == "broken")
    assert broken["status"] == "failed" and "cannot read raster" in broken["message"]
    assert "not_a_raster.tif" in broken["message"]
    assert "broken" in proc.stdout and not (out / MARKER_DIR / "broken.json").exists()
    assert not list((out / "broken").glob("*.tif")) if (out / "broken").exists() else True


def test_mosaic_is_a_valid_cog_over_every_scene(resumed, t33uup_mosaic, onnx_model_path, tmp_path):
    from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

    out = resumed[0]
    whole = tmp_path / "whole"  # the T33UUP mosaic in one single-scene run: its two parts side by side
    predict(
        predict_request(
            sorted(t33uup_mosaic.glob("S2A*.tif")),
            sorted(t33uup_mosaic.glob("S1_*.tif")),
            onnx_model_path,
            whole,
            threads=1,
        )
    )
    for raster in RASTERS:
        cog, vrt = out / "mosaic" / raster, (out / "mosaic" / raster).with_suffix(".vrt")
        assert validate(str(cog), full_check=True)[:2] == ([], []), raster
        assert (out / "mosaic" / raster).with_suffix(".qml").is_file()
        with rasterio.open(cog) as m, rasterio.open(vrt) as v, rasterio.open(whole / raster) as w:
            assert (m.crs, m.transform, m.shape, m.descriptions) == (v.crs, v.transform, v.shape, w.descriptions)
            np.testing.assert_array_equal(m.read(), v.read())
            window = from_bounds(*w.bounds, transform=m.transform)
            np.testing.assert_allclose(m.read(window=window), w.read(), rtol=0, atol=1e-6, err_msg=raster)
            for name in GOOD:
                with rasterio.open(out / name / raster) as s:
                    b = transform_bounds(s.crs, m.crs, *s.bounds)
                    assert m.bounds.left <= b[0] and m.bounds.bottom <= b[1], name
                    assert b[2] <= m.bounds.right and b[3] <= m.bounds.top, name
                    if name == "ssl4eo":  # warped from EPSG:4326, nearest neighbour: only the scene's values
                        cells = m.read(1, window=from_bounds(*b, transform=m.transform).round_offsets())
                        values = cells[~np.isnan(cells)] if cells.dtype.kind == "f" else cells[cells != m.nodata]
                        assert values.size > 0 and np.isin(values, s.read(1)).all(), raster


def test_mosaic_tiles_hold_every_scene_in_the_mosaic_crs(resumed):
    """``mosaic/tiles.gpkg``: the finished scenes' tiles in scene order, each with its scene's name and its own
    records, the polygons reprojected to the mosaic's CRS (SSL4EO's from EPSG:4326)."""
    import sqlite3

    out = resumed[0]
    merged = gpd.read_file(out / "mosaic" / "tiles.gpkg", layer="tiles")
    with rasterio.open(out / "mosaic" / "labels.tif") as m:
        assert merged.crs == m.crs
    assert list(merged.columns[:2]) == ["scene", "row"]
    assert list(dict.fromkeys(merged.scene)) == list(GOOD)
    for name in GOOD:
        scene = gpd.read_file(out / name / "tiles.gpkg", layer="tiles")
        part = merged[merged.scene == name].drop(columns="scene").reset_index(drop=True)
        assert len(part) == len(scene) > 0
        assert part.drop(columns="geometry").equals(scene.drop(columns="geometry")), name
        reprojected = scene.geometry.to_crs(merged.crs)
        assert np.allclose([g.area for g in part.geometry], [g.area for g in reprojected]), name
        assert part.geometry.geom_equals_exact(reprojected, tolerance=1e-6).all(), name
    assert (scene.crs != merged.crs) and name == "ssl4eo"  # the last scene came from another CRS
    with sqlite3.connect(out / "mosaic" / "tiles.gpkg") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (10200,)  # GeoPackage 1.2, as the scenes' own


def test_scheduler_address_rerun_skips_and_other_settings_need_overwrite(
    scene_file, single_runs, onnx_model_path, tmp_path, capsys
):
    """On an existing cluster (``--scheduler``): equal to the single-scene run; run again: skipped; with another
    stride: refused for that scene; with ``--overwrite``: recomputed."""
    from distributed import LocalCluster

    from mosaic.backend.cli import main

    lines = scene_file.read_text(encoding="utf-8").splitlines()
    one = scene_file.with_name("north_only.csv")  # beside scenes.csv: the same relative paths
    one.write_text("\n".join([lines[0], next(line for line in lines if line.startswith("t33uup_north,"))]) + "\n")
    out = tmp_path / "out"
    argv = ["predict", "--scenes", str(one), "--model", onnx_model_path, "--out", str(out)]

    def statuses() -> list[tuple[str, str, str]]:
        with (out / SUMMARY_FILE).open(encoding="utf-8") as f:
            return [(r["name"], r["status"], r["message"]) for r in csv.DictReader(f)]

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        scheduler = ["--scheduler", cluster.scheduler_address]
        assert main([*argv, *scheduler]) == 0
        with rasterio.open(out / "t33uup_north/probabilities.tif") as a:
            with rasterio.open(single_runs / "t33uup_north/probabilities.tif") as b:
                np.testing.assert_allclose(a.read(), b.read(), rtol=0, atol=1e-6)
        assert main(argv) == 0  # finished: skipped without starting a cluster
        assert statuses() == [("t33uup_north", "skipped", "finished by an earlier run")]
        assert "t33uup_north  skipped" in capsys.readouterr().out
        assert main([*argv, "--stride", "60"]) == 2
        assert statuses()[0][1:] == (
            "failed",
            "finished earlier with another model, inputs or options; pass --overwrite or choose another --out",
        )
        assert main([*argv, "--stride", "60", "--overwrite", *scheduler]) == 0
    with rasterio.open(out / "t33uup_north/probabilities.tif") as a:
        assert a.shape == (4, 4)  # 240 × 240 px at stride 60
    assert statuses()[0][1] == "done"


def test_cloud_mask_column_reaches_the_scene(scene_file, heads_onnx_model_path, tmp_path):
    """A scene's cloud_mask is its --cloud-mask: the masked patch goes to the S1-only head, as in a single run."""
    from distributed import LocalCluster

    from mosaic.backend.cli import main
    from mosaic.backend.predict.scenes import read_scenes

    north = next(s for s in read_scenes(scene_file) if s.name == "t33uup_north")
    with rasterio.open(next(p for p in north.s2 if p.endswith("_B02.tif"))) as b02:
        profile = b02.profile | {"dtype": "uint8", "nodata": None, "count": 1}
    mask = np.zeros((profile["height"], profile["width"]), dtype=np.uint8)
    mask[:120, 120:] = 1  # the patch of output cell (0, 1): 38_87
    with rasterio.open(tmp_path / "clouds.tif", "w", **profile) as dst:
        dst.write(mask, 1)
    lines = scene_file.read_text(encoding="utf-8").splitlines()
    row = next(line for line in lines if line.startswith("t33uup_north,"))
    one = scene_file.with_name("north_clouds.csv")
    one.write_text(f"{lines[0]},cloud_mask\n{row},{tmp_path / 'clouds.tif'}\n", encoding="utf-8")
    out = tmp_path / "out"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        assert (
            main(
                [
                    "predict",
                    "--scenes",
                    str(one),
                    "--model",
                    heads_onnx_model_path,
                    "--out",
                    str(out),
                    "--scheduler",
                    cluster.scheduler_address,
                ]
            )
            == 0
        )
    predict(
        predict_request(
            north.s2,
            north.s1,
            heads_onnx_model_path,
            tmp_path / "single",
            threads=1,
            cloud_mask=str(tmp_path / "clouds.tif"),
        )
    )
    for raster in RASTERS:
        with rasterio.open(out / "t33uup_north" / raster) as a, rasterio.open(tmp_path / "single" / raster) as b:
            np.testing.assert_allclose(a.read(), b.read(), rtol=0, atol=1e-6, err_msg=raster)
    with rasterio.open(out / "t33uup_north" / "labels.tif") as labels:
        source = labels.read(3)
    assert source[0, 1] == 2 and (source[1] == 1).all()  # S1-only under the cloud, fused elsewhere

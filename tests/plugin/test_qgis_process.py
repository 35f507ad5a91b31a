"""The real ``qgis_process.bin`` finds, enables and lists the plugin's Processing provider."""

from __future__ import annotations

import shutil
import subprocess

from .qgis_env import qgis_env

QGIS_PROCESS = shutil.which("qgis_process.bin") or "qgis_process.bin"


def run_qgis_process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=300)


def test_qgis_process_enables_plugin_and_lists_provider(tmp_path):
    env = qgis_env(tmp_path)
    plugins = run_qgis_process(["plugins"], env)
    assert plugins.returncode == 0, plugins.stderr
    assert "mosaic" in plugins.stdout.split()

    enabled = run_qgis_process(["plugins", "enable", "mosaic"], env)
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    after = run_qgis_process(["plugins"], env)
    assert "* mosaic" in after.stdout

    listing = run_qgis_process(["list"], env)
    assert listing.returncode == 0, listing.stderr
    assert "mosaic:inspect_model" in listing.stdout
    assert "mosaic:classify" in listing.stdout


def test_qgis_process_classifies_stacks_without_band_descriptions(t33uup_mosaic, test_model, tmp_path):
    """Issue 16: a 10-band S2 stack and a VV,VH stack without descriptions, in the model's order, through the real
    ``qgis_process.bin``, give ``mosaic predict``'s probabilities on the same files."""
    from osgeo import gdal

    from mosaic.backend.data.bands import S2_BAND_SETS

    from .headless import assert_same, predict, stack
    from .processing_case import band_files

    files = band_files(t33uup_mosaic)
    s2 = stack([files[b] for b in S2_BAND_SETS["s2_10"]], tmp_path / "s2.vrt")
    s1 = stack([files["VV"], files["VH"]], tmp_path / "s1.vrt")
    env = qgis_env(tmp_path)
    assert run_qgis_process(["plugins", "enable", "mosaic"], env).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    done = run_qgis_process(
        [
            "run",
            "mosaic:classify",
            "--",
            f"S2={s2}",
            f"S1={s1}",
            f"MODEL={test_model}",
            "STRIDE=60",
            f"OUTPUT_PROBABILITIES={out / 'p.tif'}",
            f"OUTPUT_LABELS={out / 'l.tif'}",
        ],
        env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "a stack without band names, taken in the model's order" in done.stdout
    probabilities = gdal.Open(str(out / "p.tif")).ReadAsArray()
    assert_same(probabilities, predict([s2], [s1], test_model, tmp_path / "headless"), 1e-5)

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

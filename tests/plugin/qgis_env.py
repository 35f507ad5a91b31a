"""Environment for running the real QGIS executables (desktop, qgis_process.bin) on this checkout in tests."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def plugin_folder(tmp_path: Path) -> Path:
    """A QGIS plugin folder holding this checkout as plugin ``mosaic`` (a symlink, as `make qgis` does)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    link = plugins / "mosaic"
    if not link.exists():
        link.symlink_to(REPO_ROOT, target_is_directory=True)
    return plugins


def qgis_env(tmp_path: Path) -> dict[str, str]:
    """Process environment: private HOME/profile, offscreen Qt, the plugin path, the venv's packages importable."""
    env = dict(os.environ)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(runtime),
        QT_QPA_PLATFORM=env.get("QT_QPA_PLATFORM", "offscreen"),
        QGIS_PLUGINPATH=str(plugin_folder(tmp_path)),
        PYTHONPATH=os.pathsep.join([sysconfig.get_paths()["purelib"], *filter(None, [env.get("PYTHONPATH")])]),
    )
    env.pop("VIRTUAL_ENV", None)
    # pytest-qgis points these at its shared settings folder; the subprocess gets its own profile instead
    env.pop("QGIS_CUSTOM_CONFIG_PATH", None)
    env.pop("QGIS_OPTIONS_PATH", None)
    return env


def venv_python() -> str:
    """The interpreter running the tests (the project's venv)."""
    return sys.executable

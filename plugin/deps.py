"""The plugin's one external dependency, onnxruntime: find it, or install it into a plugin-private folder.

QGIS ships its own Python and numpy; onnxruntime is installed with ``pip --target`` into
``<QGIS profile>/python/mosaic_deps`` and that folder is **appended** to ``sys.path``, so QGIS's own numpy
always wins. pip is told to keep numpy at QGIS's version (a constraints file), which makes it pick an
onnxruntime wheel built for that numpy. onnxruntime is imported lazily, never when the plugin loads.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from qgis.core import QgsApplication

DEPS_FOLDER_NAME = "mosaic_deps"
PACKAGE = "onnxruntime"


def deps_dir() -> Path:
    """``<QGIS profile>/python/mosaic_deps``: where the plugin installs onnxruntime when QGIS lacks it."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "python" / DEPS_FOLDER_NAME


def add_deps_to_path() -> None:
    """Make the private folder importable (appended, so QGIS's own packages keep precedence)."""
    folder = str(deps_dir())
    if Path(folder).is_dir() and folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()


def onnxruntime_available() -> bool:
    """Whether ``import onnxruntime`` would work (checked without importing it)."""
    add_deps_to_path()
    return importlib.util.find_spec(PACKAGE) is not None


def available_providers() -> list[str]:
    """onnxruntime's execution providers on this machine (CPU first), or ``[]`` when it is missing."""
    if not onnxruntime_available():
        return []
    import onnxruntime

    providers = list(onnxruntime.get_available_providers())
    return sorted(providers, key=lambda name: (name != "CPUExecutionProvider", name))


def qgis_python() -> str:
    """The Python interpreter QGIS embeds (``sys.executable`` is the QGIS binary inside QGIS on most systems)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    prefix = Path(sys.base_exec_prefix)
    candidates = [
        Path(sys.executable),
        prefix / "python.exe",  # OSGeo4W / standalone installers on Windows
        prefix / "bin" / f"python{version}",  # Linux, macOS framework builds
        prefix / "bin" / "python3",
        Path(sysconfig.get_config_var("BINDIR") or prefix / "bin") / f"python{version}",
    ]
    for candidate in candidates:
        if candidate.is_file() and candidate.name.lower().startswith("python"):
            return str(candidate)
    found = shutil.which(f"python{version}") or shutil.which("python3")
    if found is None:
        raise FileNotFoundError("could not find QGIS's Python interpreter to run pip")
    return found


def pip_available(python: str) -> bool:
    """Whether ``python -m pip`` can run (Debian's and Ubuntu's QGIS do not pull in ``python3-pip``)."""
    try:
        argv = [python, "-c", "import pip"]  # QGIS's own interpreter, a fixed statement
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)  # noqa: S603 - fixed argv
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


#: what to do when QGIS's Python has no pip
PIP_MISSING = (
    "QGIS's Python ({0}) has no pip, so onnxruntime cannot be installed from here: install pip for it "
    "(Debian, Ubuntu: sudo apt install python3-pip), or onnxruntime itself (Debian 13 and later: sudo apt "
    "install python3-onnxruntime), then restart QGIS."
)


def install_command(target: Path | None = None) -> tuple[list[str], Path]:
    """``(argv, constraints_file)`` of the pip call that installs onnxruntime into ``target``.

    The constraints file pins numpy to the version QGIS already imports. argv is a list (no shell).
    """
    import numpy

    target = target or deps_dir()
    constraints = Path(tempfile.mkstemp(prefix="mosaic_constraints_", suffix=".txt")[1])
    constraints.write_text(f"numpy=={numpy.__version__}\n", encoding="utf-8")
    argv = [
        qgis_python(),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--upgrade",
        "--target",
        str(target),
        "-c",
        str(constraints),
        PACKAGE,
    ]
    return argv, constraints

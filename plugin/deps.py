"""The plugin's one external dependency, onnxruntime: find it, or install it into a plugin-private folder.

QGIS ships its own Python and numpy; onnxruntime is installed with ``pip --target`` into
``<QGIS profile>/python/mosaic_deps`` and that folder is **appended** to ``sys.path``, so QGIS's own numpy
always wins. pip is told to keep numpy at QGIS's version (a constraints file), which makes it pick an
onnxruntime wheel built for that numpy. onnxruntime is imported lazily, never when the plugin loads.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
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
    """The execution providers of the installed onnxruntime that run on this machine, best first: the one the
    engine's ``auto`` picks (CUDA where the GPU build is installed), then the others in onnxruntime's order (the CPU
    last); ``[]`` when onnxruntime is missing."""
    if not onnxruntime_available():
        return []
    import onnxruntime

    rules = _providers()
    local = rules.local_providers(onnxruntime.get_available_providers())
    best = rules.plan_providers(rules.AUTO, local).use[0]
    return [best, *(name for name in local if name != best)]


def provider_text(name: str) -> str:
    """``GPU (CUDAExecutionProvider)`` / ``CPU (CPUExecutionProvider)``: a provider as the dock offers it."""
    return _providers().describe([name])


def qgis_python() -> str:
    """The Python interpreter QGIS runs, as a program pip can be run with.

    Inside QGIS ``sys.executable`` is usually QGIS itself (``qgis``, ``qgis-bin.exe``, ``QGIS.app/…/QGIS``), so the
    interpreter is looked for where the running Python's own installation keeps it (:func:`interpreter_candidates`),
    and a candidate is taken only when it is this very Python (:func:`is_running_python`: same version and same
    standard library), never another Python found on PATH.
    """
    for candidate in interpreter_candidates():
        if is_running_python(str(candidate)):
            return str(candidate)
    raise FileNotFoundError(
        f"could not find the Python interpreter QGIS runs (Python {sys.version.split()[0]} in {sys.base_exec_prefix}) "
        "to run pip with: install onnxruntime for it by hand"
    )


def interpreter_candidates(
    executable: str = sys.executable, base_exec_prefix: str = sys.base_exec_prefix, bindir: str | None = None
) -> list[Path]:
    """Existing files that may be the running Python's interpreter, most likely first: ``executable`` when it is a
    Python, then ``python.exe`` (Windows) and ``bin/python3.X`` / ``bin/python3`` of the installation prefix and of
    its ``BINDIR``."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    prefix = Path(base_exec_prefix)
    bindir = bindir if bindir is not None else sysconfig.get_config_var("BINDIR")
    candidates = [Path(executable)] if Path(executable).name.lower().startswith("python") else []
    candidates += [prefix / "python.exe", prefix / "bin" / f"python{version}", prefix / "bin" / "python3"]
    if bindir:
        candidates += [Path(bindir) / f"python{version}", Path(bindir) / "python3"]
    unique = list(dict.fromkeys(candidates))
    return [c for c in unique if c.is_file() and c.name.lower().startswith("python")]


def is_running_python(python: str) -> bool:
    """Whether ``python`` is the interpreter running this code: the same version (``sys.hexversion``) and the same
    standard library (``sys.base_prefix``); a virtual environment's interpreter over it counts, as pip then installs
    for the same Python."""
    try:
        argv = [python, "-I", "-c", "import sys; print(sys.hexversion); print(sys.base_prefix)"]  # a fixed statement
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - fixed argv
    except (OSError, subprocess.TimeoutExpired):
        return False
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) < 2:
        return False
    same_prefix = Path(lines[1]).resolve() == Path(sys.base_prefix).resolve()
    return lines[0].strip() == str(sys.hexversion) and same_prefix


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


def install_command(
    target: Path | None = None, python: str | None = None, package: str = PACKAGE
) -> tuple[list[str], Path]:
    """``(argv, constraints_file)`` of the pip call that installs ``package`` (onnxruntime, or its GPU build from
    :func:`offered_build`) into ``target`` with ``python`` (default: :func:`qgis_python`).

    The constraints file pins numpy to the version QGIS already imports. argv is a list (no shell).
    """
    import numpy

    target = target or deps_dir()
    constraints = Path(tempfile.mkstemp(prefix="mosaic_constraints_", suffix=".txt")[1])
    constraints.write_text(f"numpy=={numpy.__version__}\n", encoding="utf-8")
    argv = [
        python or qgis_python(),
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
        package,
    ]
    return argv, constraints


#: pip lines that read like failures but are not: ``--target`` installs check conflicts against the packages of
#: QGIS's Python, which the private folder does not change
_PIP_NOISE = (
    re.compile(r"^ERROR: pip's dependency resolver does not currently take into account"),
    re.compile(
        r"^\S+ [\w.+!-]+ (requires|has requirement) .*(which is not installed|but you have .* which is incompatible)"
    ),
    re.compile(r"^WARNING: Target directory .* already exists\. Specify --upgrade to force replacement\."),
    re.compile(r"^\[notice\] "),
)


def is_pip_noise(line: str) -> bool:
    """Whether ``line`` of pip's output is harmless noise the install log leaves out (dependency-conflict notes of
    QGIS's own packages, pip's upgrade notice)."""
    return any(pattern.search(line) for pattern in _PIP_NOISE)


#: the engine's provider rules (standard library only); loaded on their own by :func:`_providers`
PROVIDERS_FILE = Path(__file__).resolve().parent.parent / "backend" / "inference" / "providers.py"
_SMI_DRIVER = re.compile(r"Driver Version:\s*([\d.]+)")
_SMI_CUDA = re.compile(r"CUDA Version:\s*([\d.]+)")


def _providers():
    """:mod:`mosaic.backend.inference.providers`, loaded from its file: importing the engine package needs
    onnxruntime, which is what may be missing when the installer asks which build to offer."""
    name = "mosaic_installer_providers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PROVIDERS_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules[name]


def parse_nvidia_smi(text: str) -> tuple[str | None, str | None]:
    """``(driver version, highest CUDA version)`` from ``nvidia-smi``'s table header, None where absent."""
    driver, cuda = _SMI_DRIVER.search(text), _SMI_CUDA.search(text)
    return (driver.group(1) if driver else None), (cuda.group(1) if cuda else None)


def driver_probe(platform: str = sys.platform):
    """The engine's ``DriverProbe`` of this machine: its NVIDIA driver and CUDA version from ``nvidia-smi``."""
    driver = cuda = None
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            done = subprocess.run([smi], capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0:
            driver, cuda = parse_nvidia_smi(done.stdout)
    return _providers().DriverProbe(platform, driver, cuda)


def offered_build(probe=None):
    """The onnxruntime build the installer offers (the engine's ``PackageChoice``: package and reason) for
    ``probe`` (default: :func:`driver_probe`)."""
    return _providers().onnxruntime_package(probe if probe is not None else driver_probe())

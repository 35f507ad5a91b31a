"""onnxruntime detection and the plugin-private install command."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy
import pytest

from mosaic.plugin import deps


def test_onnxruntime_found_and_its_local_providers_listed(qgis_app):
    """This machine's CPU build: the CPU provider only (Azure's runs nothing locally)."""
    assert deps.onnxruntime_available()
    assert deps.available_providers() == ["CPUExecutionProvider"]
    assert deps.provider_text("CPUExecutionProvider") == "CPU (CPUExecutionProvider)"
    assert deps.provider_text("CUDAExecutionProvider") == "GPU (CUDAExecutionProvider)"


def test_deps_dir_is_inside_the_qgis_profile(qgis_app):
    from qgis.core import QgsApplication

    assert deps.deps_dir() == Path(QgsApplication.qgisSettingsDirPath()) / "python" / "mosaic_deps"


def test_install_command_targets_private_folder_and_pins_qgis_numpy(qgis_app, tmp_path):
    argv, constraints = deps.install_command(tmp_path / "deps")
    try:
        assert Path(argv[0]).name.startswith("python")
        assert argv[1:4] == ["-m", "pip", "install"]
        assert argv[argv.index("--target") + 1] == str(tmp_path / "deps")
        assert argv[argv.index("-c") + 1] == str(constraints) and argv[-1] == "onnxruntime"
        assert constraints.read_text() == f"numpy=={numpy.__version__}\n"
    finally:
        constraints.unlink()


def test_private_folder_is_appended_not_prepended(qgis_app, tmp_path, monkeypatch):
    folder = tmp_path / "mosaic_deps"
    folder.mkdir()
    monkeypatch.setattr(deps, "deps_dir", lambda: folder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    deps.add_deps_to_path()
    assert sys.path[-1] == str(folder)


@pytest.mark.slow
def test_one_click_install_into_private_folder_really_installs(qgis_app, qtbot, tmp_path):
    """The dock's install command run through the log dialog (real pip, PyPI); QGIS's Python then imports it."""
    import subprocess

    from mosaic.plugin.process_log_dialog import ProcessLogDialog

    target = tmp_path / "mosaic_deps"
    argv, constraints = deps.install_command(target)
    dialog = ProcessLogDialog("install", [argv])
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.finished_all, timeout=600_000) as done:
        dialog.start()
    constraints.unlink()
    assert done.args == [True], dialog.log.toPlainText()[-2000:]
    assert (target / "onnxruntime").is_dir()
    # QGIS's own interpreter (Debian's python3, numpy 1.x) with the folder appended, as the plugin does
    probe = "import sys; sys.path.append(sys.argv[1]); import numpy, onnxruntime; print(numpy.__file__)"
    result = subprocess.run(["/usr/bin/python3", "-c", probe, str(target)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert str(target) not in result.stdout  # QGIS's numpy kept precedence


def test_pip_is_found_in_qgis_python_and_missing_in_a_python_without_it(qgis_app, tmp_path):
    """A real interpreter without pip (a venv made --without-pip, no system packages) is told apart."""
    import venv

    assert deps.pip_available(deps.qgis_python())
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(tmp_path / "nopip")
    assert not deps.pip_available(str(tmp_path / "nopip" / "bin" / "python"))
    assert not deps.pip_available(str(tmp_path / "no-such-python"))


def test_the_dock_says_how_to_get_pip_instead_of_running_it(qgis_app, qgis_iface, qtbot, tmp_path, monkeypatch):
    """The dock's Install button on a QGIS whose Python has no pip: one message bar line with the fix, no pip run."""
    import venv

    from qgis.core import Qgis

    from .plugin_actions import open_dock, start_plugin

    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(tmp_path / "nopip")
    python = str(tmp_path / "nopip" / "bin" / "python")
    monkeypatch.setattr(deps, "qgis_python", lambda: python)  # QGIS's interpreter is this pip-less one
    plugin = start_plugin(qgis_iface)
    try:
        dock = open_dock(qgis_iface)
        qgis_iface.messageBar().clear_messages()
        assert dock.install_onnxruntime() is None
        critical = qgis_iface.messageBar().get_messages(int(Qgis.MessageLevel.Critical))
        assert len(critical) == 1 and f"QGIS's Python ({python}) has no pip" in critical[0]
        assert "sudo apt install python3-pip" in critical[0]
    finally:
        plugin.unload()


def test_qgis_python_is_the_running_interpreter_not_the_qgis_binary(qgis_app):
    """Inside QGIS ``sys.executable`` is the QGIS program: the interpreter is found in the running Python's own
    installation and checked to be this very Python (same version, same standard library)."""
    candidates = deps.interpreter_candidates(executable="/usr/bin/qgis", base_exec_prefix=sys.base_exec_prefix)
    assert candidates and all(c.name.startswith("python") for c in candidates)
    assert Path("/usr/bin/qgis") not in candidates
    assert deps.is_running_python(str(candidates[0]))
    assert deps.is_running_python(deps.qgis_python())


def test_another_python_is_not_taken_for_qgis_python(qgis_app, tmp_path):
    import venv

    # an interpreter of another installation: another version and standard library
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 51052272\necho /opt/other-python\n")
    fake.chmod(0o755)
    assert not deps.is_running_python(str(fake))
    assert not deps.is_running_python(str(tmp_path / "no-such-python"))
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(tmp_path / "venv")
    assert deps.is_running_python(str(tmp_path / "venv" / "bin" / "python"))  # over the same Python: pip fits it


def test_pip_dependency_conflict_lines_are_left_out_of_the_log():
    log = [
        "Collecting onnxruntime",
        "Successfully installed onnxruntime-1.20.1",
        "ERROR: pip's dependency resolver does not currently take into account all the packages that are installed. "
        "This behaviour is the source of the following dependency conflicts.",
        "qgis 3.22.16 requires PyQt5, which is not installed.",
        "rasterio 1.4.3 requires numpy>=1.24, but you have numpy 1.23.5 which is incompatible.",
        "WARNING: Target directory /p/mosaic_deps/numpy already exists. Specify --upgrade to force replacement.",
        "ERROR: No matching distribution found for onnxruntime",
    ]
    assert [line for line in log if not deps.is_pip_noise(line)] == [
        "Collecting onnxruntime",
        "Successfully installed onnxruntime-1.20.1",
        "ERROR: No matching distribution found for onnxruntime",
    ]


NVIDIA_SMI = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
"""  #: the head of a real nvidia-smi table


def test_the_installer_offers_the_build_the_driver_probe_calls_for(qgis_app):
    """The dock's choice of onnxruntime build: the engine's rule (backend/inference/providers.py, loaded without the
    engine package, which needs the onnxruntime that is missing) applied to a probe of nvidia-smi's answer."""
    assert deps.parse_nvidia_smi(NVIDIA_SMI) == ("550.54.15", "12.4")
    assert deps.parse_nvidia_smi("") == (None, None)
    providers = deps._providers()
    gpu = deps.offered_build(providers.DriverProbe("linux", *deps.parse_nvidia_smi(NVIDIA_SMI)))
    assert gpu.package == "onnxruntime-gpu" and "NVIDIA driver 550.54.15 (CUDA 12.4) found" in gpu.reason
    assert deps.offered_build(providers.DriverProbe("linux", None, None)).package == "onnxruntime"
    assert deps.offered_build(providers.DriverProbe("darwin", "550.54.15", "12.4")).package == "onnxruntime"
    assert deps.driver_probe().platform == sys.platform  # this machine, whatever its driver
    argv, constraints = deps.install_command(Path("/x"), python=sys.executable, package=gpu.package)
    constraints.unlink()
    assert argv[0] == sys.executable and argv[-1] == "onnxruntime-gpu"

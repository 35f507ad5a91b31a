"""The plugin loads through classFactory, adds its GUI, registers Processing, and unloads cleanly — on real QGIS."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from qgis.core import QgsApplication

from mosaic import classFactory
from mosaic.plugin.dock import DOCK_WIDTH_PX
from mosaic.plugin.main import MENU_NAME
from mosaic.plugin.paths import ICON_PATH

from .qgis_env import REPO_ROOT, qgis_env


def test_icon_is_a_real_image():
    from qgis.PyQt.QtGui import QImage

    image = QImage(str(ICON_PATH))
    assert not image.isNull()
    assert (image.width(), image.height()) == (64, 64)


def test_class_factory_init_processing_registers_provider(qgis_app, qgis_iface):
    before = QgsApplication.processingRegistry().providerById("mosaic")  # set up by an earlier Processing test
    plugin = classFactory(qgis_iface)
    plugin.initProcessing()
    provider = QgsApplication.processingRegistry().providerById("mosaic")
    assert provider is not None and (before is None) == (plugin.provider is provider)
    assert provider.name() == "MoSAiC land cover"
    assert not provider.icon().isNull()
    plugin.unload()
    assert QgsApplication.processingRegistry().providerById("mosaic") is before


def test_init_gui_and_unload_with_pytest_qgis_iface(qgis_app, qgis_iface):
    before = QgsApplication.processingRegistry().providerById("mosaic")
    plugin = classFactory(qgis_iface)
    plugin.initGui()
    assert plugin.action is not None and not plugin.action.icon().isNull()
    assert plugin.toolbar is not None and plugin.action in plugin.toolbar.actions()
    assert QgsApplication.processingRegistry().providerById("mosaic") is not None
    plugin.unload()
    assert plugin.action is None and plugin.toolbar is None
    assert QgsApplication.processingRegistry().providerById("mosaic") is before


def test_real_qgis_desktop_loads_and_unloads(tmp_path):
    """Start the real QGIS desktop under Xvfb, load the plugin as QGIS does, inspect menu/toolbar, unload."""
    env = qgis_env(tmp_path)
    env.pop("QT_QPA_PLATFORM")  # the desktop needs a (virtual) X display
    out = tmp_path / "probe.json"
    env["MOSAIC_PROBE_OUT"] = str(out)
    probe = str(Path(__file__).with_name("qgis_desktop_probe.py"))
    cmd = [
        "xvfb-run",
        "-a",
        "qgis",
        "--nologo",
        "--noversioncheck",
        "--noplugins",
        "--profiles-path",
        str(tmp_path / "profiles"),
        "--code",
        probe,
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert out.exists(), result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert "error" not in report, report.get("error")
    assert report["loaded"] is True

    menu = [e for e in report["after_load"]["menu"] if e["menu"] == MENU_NAME]
    names = {e["name"] for e in menu}
    assert {"mosaicClassifyAction", "mosaicTrainAction"} <= names
    assert all(e["icon"] for e in menu)
    toolbar_names = {t["name"] for t in report["after_load"]["toolbar"]}
    assert "mosaicClassifyAction" in toolbar_names
    assert "mosaic" in report["after_load"]["providers"]
    assert report["dock_visible"] is True

    assert report["unloaded"] is True
    assert not [e for e in report["after_unload"]["menu"] if e["menu"] == MENU_NAME]
    assert report["after_unload"]["toolbar"] == []
    assert "mosaic" not in report["after_unload"]["providers"]


def test_make_qgis_opens_qgis_with_the_plugin_active(tmp_path):
    """`make qgis` (tools/run_qgis.sh) under Xvfb: QGIS reads the profile the script writes and activates the plugin
    itself (no --noplugins, no loadPlugin); its toolbar action opens the dock at its full width."""
    env = qgis_env(tmp_path)
    env.pop("QT_QPA_PLATFORM")  # the desktop needs a (virtual) X display
    env.pop("QGIS_PLUGINPATH")  # the script sets its own
    env["MOSAIC_QGIS_HOME"] = str(tmp_path / "qgis")
    out = tmp_path / "probe.json"
    env["MOSAIC_PROBE_OUT"] = str(out)
    probe = str(Path(__file__).with_name("qgis_active_plugins_probe.py"))
    script = str(REPO_ROOT / "tools" / "run_qgis.sh")
    screen = ["-s", "-screen 0 1600x1000x24"]  # a laptop's screen (xvfb-run's default is 640 × 480)
    cmd = ["xvfb-run", "-a", *screen, "bash", script, "--nologo", "--noversioncheck", "--code", probe]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert out.exists(), result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert "error" not in report, report.get("error")
    assert "mosaic" in report["active_plugins"]
    assert report["action"] is True and report["dock_visible"] is True
    assert report["dock_width"] >= DOCK_WIDTH_PX
    assert (tmp_path / "qgis" / "profiles" / "default" / "QGIS" / "QGIS3.ini").is_file()


def test_a_second_instance_leaves_the_registered_provider_alone(qgis_app, qgis_iface, processing_ready):
    """QGIS deletes a provider it refuses as a duplicate; unloading must not touch it (it crashed with
    "MosaicProvider has been deleted" when Processing was set up first)."""
    plugin = classFactory(qgis_iface)
    plugin.initGui()
    assert plugin.provider is None
    plugin.unload()
    assert QgsApplication.processingRegistry().providerById("mosaic") is processing_ready

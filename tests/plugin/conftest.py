"""Plugin test fixtures: the real T33UUP band files as QGIS layers, a real exported ONNX model, and a local stand-in
for the model hub serving published-format checkpoints (the backend tests' ``hub_server`` and ``published_files``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from qgis.core import QgsProject, QgsRasterLayer, QgsSettings

from ..backend.published.hub_server import Hub
from .model_fixture import export_test_model
from .plugin_actions import open_dock, start_plugin
from .processing_case import band_files

PROCESSING_PLUGINS = "/usr/share/qgis/python/plugins"


@pytest.fixture(scope="session")
def test_model(tmp_path_factory) -> Path:
    """A small real timm ResNet-18 exported to ONNX with valid MoSAiC metadata (19 BigEarthNet classes)."""
    return export_test_model(tmp_path_factory.mktemp("model") / "resnet18_test.onnx")


@pytest.fixture(scope="session")
def heads_test_model(tmp_path_factory) -> Path:
    """The same network with S1-only and S2-only heads (three outputs), for cloud-aware runs."""
    return export_test_model(tmp_path_factory.mktemp("model") / "resnet18_heads_test.onnx", ("fused", "s1", "s2"))


@pytest.fixture(scope="session")
def processing_ready(qgis_app, qgis_processing):
    """Processing initialised once, with the ``mosaic`` provider registered."""
    if PROCESSING_PLUGINS not in sys.path:
        sys.path.append(PROCESSING_PLUGINS)
    from qgis.core import QgsApplication

    from mosaic.plugin.processing.provider import MosaicProvider

    registry = QgsApplication.processingRegistry()
    if registry.providerById("mosaic") is None:
        registry.addProvider(MosaicProvider())
    return registry.providerById("mosaic")


@pytest.fixture()
def clean_settings(qgis_app):
    """Forget the plugin's remembered settings before and after the test."""
    QgsSettings().remove("mosaic")
    yield
    QgsSettings().remove("mosaic")


@pytest.fixture()
def t33uup_layers(qgis_app, qgis_iface, t33uup_mosaic) -> dict[str, QgsRasterLayer]:
    """All 14 band files (12 S2 at 10/20/60 m, S1 VV and VH) loaded into a fresh project, as users load them."""
    project = QgsProject.instance()
    project.clear()
    layers = {}
    for band, path in band_files(t33uup_mosaic).items():
        layer = QgsRasterLayer(str(path), path.stem, "gdal")
        assert layer.isValid(), path
        project.addMapLayer(layer)
        layers[band] = layer
    yield layers
    project.clear()


@pytest.fixture()
def dock(qgis_iface, qtbot, clean_settings, t33uup_layers, test_model, tmp_path):
    """The classification dock opened as a user opens it (the plugin's toolbar action) on the T33UUP layers, with the
    test model, writing to ``tmp_path/out``; the plugin is unloaded afterwards."""
    plugin = start_plugin(qgis_iface)
    widget = open_dock(qgis_iface)
    widget.s2_combo.setLayer(t33uup_layers["B02"])
    widget.s1_combo.setLayer(t33uup_layers["VV"])
    widget.set_model_path(str(test_model))
    widget.output_dir.setFilePath(str(tmp_path / "out"))
    widget.write_tiles.setChecked(True)
    yield widget
    plugin.unload()


PUBLISHED_IDS = ("resnet18-all-v0.2.0", "resnet18-s1-v0.2.0", "resnet18-s2-v0.2.0")  #: one three-head model
PUBLISHED_MODEL = "resnet18-v0.2.0"


@pytest.fixture(scope="session")
def published_hub(tmp_path_factory):
    """The hub stand-in on 127.0.0.1 serving ResNet-18 checkpoints in the published format (S1+S2, S1, S2; v0.2.0)
    made by ``configilm`` at random weights: a real download and import, but not a land-cover model."""
    from ..backend.published.published_files import write_published  # torch: only where a test needs it

    root = tmp_path_factory.mktemp("published")
    hub = Hub()
    for seed, model_id in enumerate(PUBLISHED_IDS, start=20):
        write_published(root / model_id, "resnet18", model_id.split("-")[1], seed=seed)
        hub.publish(model_id, root / model_id)
    yield hub
    hub.close()


@pytest.fixture()
def published_setup(qgis_app, clean_settings, published_hub, tmp_path, monkeypatch):
    """The plugin pointed at the stand-in hub as an administrator would point it at a mirror (the setting
    ``published/catalogue``), a fresh download cache (``MOSAIC_CACHE``), and the project's venv as backend Python."""
    from mosaic.plugin import settings

    catalogue = published_hub.catalogue(tmp_path / "catalogue.json", known_sha256={PUBLISHED_IDS[0]})
    settings.set_value("published/catalogue", str(catalogue))
    settings.set_value("backend_python", sys.executable)
    monkeypatch.setenv("MOSAIC_CACHE", str(tmp_path / "cache"))
    published_hub.requests.clear()  # the hub serves the whole session: each test sees its own requests only
    return tmp_path / "cache" / "published-models"

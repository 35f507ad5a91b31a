"""README screenshots, rendered from a real run and checked for content: the styled map and the dock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qgis.core import QgsMapRendererParallelJob, QgsMapSettings, QgsProject
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage

from mosaic.plugin.dock import MosaicDock

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def image_rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    buffer = image.constBits()
    buffer.setsize(image.bytesPerLine() * image.height())
    rows = np.frombuffer(buffer, dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def test_render_styled_map_and_dock(qgis_iface, qtbot, clean_settings, t33uup_layers, test_model, tmp_path):
    dock = MosaicDock(qgis_iface)
    qtbot.addWidget(dock)
    dock.resize(460, 1100)
    dock.s2_combo.setLayer(t33uup_layers["B02"])
    dock.s1_combo.setLayer(t33uup_layers["VV"])
    dock.set_model_path(str(test_model))
    dock.output_dir.setFilePath(str(tmp_path))
    dock.stride.setValue(30)
    dock.run()
    qtbot.waitUntil(lambda: dock.task is None, timeout=120_000)
    assert dock.last_result is not None, dock.last_error
    group = QgsProject.instance().layerTreeRoot().children()[0]
    labels = next(n.layer() for n in group.findLayers() if n.layer().name() == "Land cover (top class)")

    settings = QgsMapSettings()
    settings.setLayers([labels, t33uup_layers["B04"]])
    settings.setDestinationCrs(labels.crs())
    settings.setExtent(labels.extent())
    settings.setOutputSize(QSize(400, 800))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    assert image.save(str(DOCS_IMG / "plugin_map.png"))

    rgb = image_rgb(image)
    non_white = (rgb != 255).any(axis=2).mean()
    assert non_white > 0.8  # the label raster covers the mosaic (the nodata patch shows the B04 band below)
    colours = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in dock.last_result.class_colors}
    present = {tuple(px) for px in rgb.reshape(-1, 3)}
    found = colours & present
    assert len(found) >= 2, "at least two class colours appear on the map"

    dock.show()
    qtbot.waitExposed(dock)
    shot = dock.grab()
    assert shot.save(str(DOCS_IMG / "plugin_dock.png"))
    dock_rgb = image_rgb(shot.toImage())
    assert dock_rgb.std() > 20  # a drawn form, not a blank widget
    dock.shutdown()

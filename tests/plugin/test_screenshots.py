"""README screenshots, rendered from a real run and checked for content: the styled map and the dock."""

from __future__ import annotations

import numpy as np
from osgeo import gdal
from qgis.core import (
    QgsContrastEnhancement,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage, QPainter

from mosaic.plugin.dock import MosaicDock

from .screenshots import screenshot_path, show_neutral_paths


def image_rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    buffer = image.constBits()
    buffer.setsize(image.bytesPerLine() * image.height())
    rows = np.frombuffer(buffer, dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def render(layers, extent_layer, size=QSize(300, 600)) -> QImage:
    """Render ``layers`` over ``extent_layer``'s extent with QgsMapRendererParallelJob."""
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(extent_layer.crs())
    settings.setExtent(extent_layer.extent())
    settings.setOutputSize(size)
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


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

    stack = tmp_path / "true_colour.vrt"  # B04, B03, B02 as one RGB layer for the left panel
    gdal.BuildVRT(
        str(stack), [layer.source() for layer in (t33uup_layers[b] for b in ("B04", "B03", "B02"))], separate=True
    ).FlushCache()
    true_colour = QgsRasterLayer(str(stack), "true colour", "gdal")
    true_colour.setContrastEnhancement(
        QgsContrastEnhancement.StretchToMinimumMaximum, QgsRasterMinMaxOrigin.CumulativeCut
    )
    panels = [render([true_colour], labels), render([labels], labels)]
    image = QImage(panels[0].width() * 2 + 10, panels[0].height(), QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.drawImage(0, 0, panels[0])
    painter.drawImage(panels[0].width() + 10, 0, panels[1])
    painter.end()
    assert image.save(str(screenshot_path("plugin_map.png", tmp_path)))

    assert image_rgb(panels[0]).std() > 10  # real imagery on the left
    image = panels[1]
    rgb = image_rgb(image)
    non_white = (rgb != 255).any(axis=2).mean()
    assert 0.9 < non_white < 1.0  # labels everywhere but in the core of the missing patch 37_87
    colours = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in dock.last_result.class_colors}
    present = {tuple(px) for px in rgb.reshape(-1, 3)}
    found = colours & present
    assert len(found) >= 2, "at least two class colours appear on the map"

    show_neutral_paths(dock, {test_model.parent: "~/models", tmp_path: "~/land-cover"})
    dock.show()
    qtbot.waitExposed(dock)
    shot = dock.grab()
    assert shot.save(str(screenshot_path("plugin_dock.png", tmp_path)))
    dock_rgb = image_rgb(shot.toImage())
    assert dock_rgb.std() > 20  # a drawn form, not a blank widget
    dock.shutdown()

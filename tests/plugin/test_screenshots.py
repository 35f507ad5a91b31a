"""README screenshots, rendered from a real run and checked for content: *Get a published model…*, the dock after a
run with that model, and the styled map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qgis.core import (
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage, QPainter
from qgis.PyQt.QtWidgets import QPushButton, QScrollArea, QWidget

from mosaic.plugin.dock import DOCK_WIDTH_PX
from mosaic.plugin.render_map import true_colour_layer

from .conftest import PUBLISHED_MODEL
from .plugin_actions import open_dock, start_plugin, top_level
from .screenshots import screenshot_path, show_neutral_paths
from .widget_geometry import browse_button, fully_shown


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


DOCK_HEIGHT_PX = 600  #: a laptop screen's dock height (768 px less QGIS's title, menu, toolbars and status bar)
NARROW_PX = 270  #: the dock's width in a fresh QGIS 3.40 profile's small main window (make qgis-matrix)


def first_line_shown(label) -> bool:
    """Whether the first line of ``label`` is shown whole (a long status scrolls below it)."""
    shown = label.visibleRegion().boundingRect()
    line = label.fontMetrics().lineSpacing()
    return label.isVisible() and shown.top() == 0 and shown.height() >= line and shown.width() == label.width()


def test_render_styled_map_and_dock(qgis_iface, qtbot, t33uup_layers, published_setup, published_hub, tmp_path):
    """The analysts' five minutes: the dock, *Get a published model…* (the local hub stand-in's ResNet-18 three-head
    model: the published format, random weights), a run on the T33UUP layers at 300 m cells, the styled map."""
    plugin = start_plugin(qgis_iface)
    try:
        dock = open_dock(qgis_iface)
        dock.setFloating(True)  # the test's main window is not shown: the dock as its own window, at its default size
        dock.resize(dock.sizeHint().width(), DOCK_HEIGHT_PX)
        dock.show()
        qtbot.waitExposed(dock)
        model = get_published_model(dock, qtbot, published_setup, published_hub, tmp_path)
        render_and_check(dock, qtbot, t33uup_layers, model, tmp_path)
    finally:
        plugin.unload()


def get_published_model(dock, qtbot, cache: Path, hub, tmp_path) -> Path:
    """*Get a published model…* → the three-head model → *Get*; the dialog's picture once the model is ready."""
    dock.findChild(QPushButton, "mosaicPublishedButton").click()
    dialog = top_level("mosaicPublishedDialog")
    assert dialog.selected_name() == PUBLISHED_MODEL
    dialog.findChild(QPushButton, "mosaicPublishedGetButton").click()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=300_000)
    model = cache / "onnx" / f"{PUBLISHED_MODEL}.onnx"
    assert dialog.failed_message == "" and dock.model_file.filePath() == str(model)
    show_neutral_paths(dialog, {cache: "~/.cache/mosaic-qgis/published-models", Path(hub.url): "http://127.0.0.1"})
    qtbot.waitExposed(dialog)
    assert dialog.grab().save(str(screenshot_path("plugin_published.png", tmp_path)))
    dialog.close()
    return model


def render_and_check(dock, qtbot, t33uup_layers, test_model, tmp_path) -> None:
    assert dock.width() == DOCK_WIDTH_PX
    assert dock.s2_combo.currentLayer().id() == t33uup_layers["B02"].id()  # offered, not picked by the test
    assert dock.s1_combo.currentLayer().id() == t33uup_layers["VV"].id()
    dock.set_model_path(str(test_model))
    dock.output_dir.setFilePath(str(tmp_path))
    dock.stride.setValue(30)
    browse = browse_button(dock.model_file)
    visible = {
        name: fully_shown(w)
        for name, w in (
            ("Run", dock.run_button),
            ("Cancel", dock.cancel_button),
            ("model …", browse),
            ("status", dock.status),
        )
    }
    assert all(visible.values()), visible
    dock.run_button.click()
    qtbot.waitUntil(lambda: dock.task is None, timeout=120_000)
    assert dock.last_result is not None, dock.last_error
    assert first_line_shown(dock.status) and fully_shown(dock.open_folder_button)
    scroll = dock.findChild(QScrollArea, "mosaicSettingsScroll")
    group = QgsProject.instance().layerTreeRoot().children()[0]
    labels = next(n.layer() for n in group.findLayers() if n.layer().name() == "Land cover (top class)")

    true_colour = true_colour_layer(Path(t33uup_layers["B02"].source()).parent, tmp_path)  # under the labels
    panels = [render([true_colour], labels), render([labels, true_colour], labels)]
    image = QImage(panels[0].width() * 2 + 10, panels[0].height(), QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.drawImage(0, 0, panels[0])
    painter.drawImage(panels[0].width() + 10, 0, panels[1])
    painter.end()
    assert image.save(str(screenshot_path("plugin_map.png", tmp_path)))

    imagery = image_rgb(panels[0])
    assert imagery.std() > 10  # real imagery on the left
    labelled = image_rgb(panels[1])
    assert 0.85 < (labelled != 255).any(axis=2).mean() < 1.0  # labels everywhere but the missing patch (1 of 8)
    # labels at 70 % over the imagery: each pixel is 0.7 · class colour + 0.3 · imagery
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in dock.last_result.class_colors], float)
    blended = 0.7 * colours[None, None, :, :] + 0.3 * imagery[:, :, None, :].astype(float)
    error = np.abs(blended - labelled[:, :, None, :].astype(float)).max(axis=3).min(axis=2)
    covered = (labelled != imagery).any(axis=2)
    assert np.median(error[covered]) <= 3  # each label pixel is one class colour blended with the imagery below
    assert len({tuple(px) for px in labelled.reshape(-1, 3)}) > 50  # the imagery shows through (not flat colours)

    dock.resize(NARROW_PX, DOCK_HEIGHT_PX)  # where a small main window leaves the dock less room: rows wrap
    qtbot.wait(100)
    assert scroll.widget().width() <= scroll.viewport().width()
    shown = {
        name: fully_shown(w)
        for name, w in (("Run", dock.run_button), ("Cancel", dock.cancel_button), ("model …", browse))
    }
    assert all(shown.values()) and first_line_shown(dock.status), shown
    dock.resize(DOCK_WIDTH_PX, DOCK_HEIGHT_PX)
    qtbot.wait(100)
    show_neutral_paths(
        dock, {test_model.parent: "~/.cache/mosaic-qgis/published-models/onnx", tmp_path: "~/land-cover"}
    )
    assert scroll.widget().width() <= scroll.viewport().width()  # nothing cut off on the right
    assert fully_shown(browse)
    dock.temporary_warning.hide()  # the test's folder is temporary; the neutral path the picture shows is not
    footer = dock.findChild(QWidget, "mosaicRunFooter")
    dock.resize(DOCK_WIDTH_PX, scroll.widget().sizeHint().height() + footer.sizeHint().height() + 12)  # README: all
    qtbot.wait(100)
    shot = dock.grab()
    assert shot.save(str(screenshot_path("plugin_dock.png", tmp_path)))
    dock_rgb = image_rgb(shot.toImage())
    assert dock_rgb.std() > 20  # a drawn form, not a blank widget

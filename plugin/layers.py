"""Adding a run's outputs to the project: one layer group named after the run, styles from the .qml files."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsProject,
    QgsProperty,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsSymbolLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QColor


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicLayers", text)


def tile_renderer(class_names, class_colors) -> QgsCategorizedSymbolRenderer:
    """Categorized by the top class's name; each square's fill opacity follows its confidence (0 → clear, 1 → solid).

    Field names from the output catalogue (``top_class``, ``confidence``).
    """
    from ..backend.inference.outputs import CONFIDENCE_FIELD, TOP_CLASS_FIELD

    categories = []
    for name, color in zip(class_names, class_colors):
        symbol = QgsFillSymbol.createSimple({"color": color, "outline_color": "#333333", "outline_width": "0.1"})
        alpha = f"set_color_part('{QColor(color).name()}', 'alpha', 255 * \"{CONFIDENCE_FIELD}\")"
        symbol.symbolLayer(0).setDataDefinedProperty(
            QgsSymbolLayer.Property.PropertyFillColor, QgsProperty.fromExpression(alpha)
        )
        categories.append(QgsRendererCategory(name, symbol, name))
    return QgsCategorizedSymbolRenderer(TOP_CLASS_FIELD, categories)


def style_tiles(layer: QgsVectorLayer, class_names, class_colors) -> None:
    """Apply :func:`tile_renderer` and save it as ``tiles.qml`` beside the GeoPackage."""
    layer.setRenderer(tile_renderer(class_names, class_colors))
    layer.saveNamedStyle(str(Path(layer.source().split("|")[0]).with_suffix(".qml")))


def add_result_layers(result, run_name: str, project: QgsProject | None = None):
    """Add labels, where radar was used (the labels' source band), confidence, probabilities (and tiles) as group
    ``run_name`` at the top of the layer tree; the source layer is shown when a cloud layer was used."""
    from ..backend.inference.outputs import SOURCE_STYLE, style_file

    project = project or QgsProject.instance()
    root = project.layerTreeRoot()
    group = root.insertGroup(0, run_name)
    titles = {
        "labels": tr("Land cover (top class)"),
        "source": tr("Head used (S1 only = radar under clouds)"),
        "confidence": tr("Confidence"),
        "probabilities": tr("Class probabilities"),
        "tiles": tr("Tiles"),
    }
    plan = result.extra.get("plan")
    shown = {"labels", *(("source",) if plan is not None and plan.cloud is not None else ())}
    added = {}
    for product in ("labels", "source", "tiles", "confidence", "probabilities"):
        path = result.outputs.get("labels" if product == "source" else product)
        if path is None:
            continue
        if product == "tiles":
            layer = QgsVectorLayer(f"{path}|layername=tiles", titles[product], "ogr")
            style_tiles(layer, result.class_names, result.class_colors)
        else:
            layer = QgsRasterLayer(str(path), titles[product], "gdal")
            layer.loadNamedStyle(str(style_file(Path(path), SOURCE_STYLE if product == "source" else "")))
        project.addMapLayer(layer, False)
        node = group.addLayer(layer)
        node.setItemVisibilityChecked(product in shown)
        added[product] = layer
    return group, added

"""Adding a run's outputs to the project: one layer group named after the run, styles from the .qml files."""

from __future__ import annotations

import math
from pathlib import Path

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsColorRampShader,
    QgsFillSymbol,
    QgsLayerTreeLayer,
    QgsMapLayerLegendUtils,
    QgsProject,
    QgsProperty,
    QgsRasterBandStats,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsSimpleLegendNode,
    QgsSingleBandPseudoColorRenderer,
    QgsSymbolLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QColor

LABELS_OPACITY = 0.7  #: the label layer's default opacity: the imagery below stays readable


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
    """Add labels, where radar was used (only when a cloud layer was used), confidence, probabilities (and tiles)
    as group ``run_name`` at the top of the layer tree, styled for reading over imagery: labels at
    :data:`LABELS_OPACITY`, confidence stretched to the run's own range, no band title in the legend."""
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
    cloud_used = plan is not None and plan.cloud is not None
    added = {}
    for product in ("labels", "source", "tiles", "confidence", "probabilities"):
        path = result.outputs.get("labels" if product == "source" else product)
        if path is None or (product == "source" and not cloud_used):
            continue
        if product == "tiles":
            layer = QgsVectorLayer(f"{path}|layername=tiles", titles[product], "ogr")
            style_tiles(layer, result.class_names, result.class_colors)
        else:
            layer = QgsRasterLayer(str(path), titles[product], "gdal")
            layer.loadNamedStyle(str(style_file(Path(path), SOURCE_STYLE if product == "source" else "")))
        if product == "labels":
            layer.renderer().setOpacity(LABELS_OPACITY)
        elif product == "confidence":
            stretch_to_values(layer)
        elif product == "probabilities":
            show_class_probability(layer, 1, result.class_names)
        project.addMapLayer(layer, False)
        node = group.addLayer(layer)
        node.setItemVisibilityChecked(product in ("labels", "source"))
        if isinstance(layer, QgsRasterLayer):
            hide_band_title(node)
        added[product] = layer
    return group, added


def stretch_to_values(layer: QgsRasterLayer) -> tuple[float, float] | None:
    """Stretch a pseudocolour ramp over the band's actual minimum and maximum (a run's confidence may span 0.63 to
    0.69: a 0 to 1 ramp draws that in one colour); returns the range, None when the band has no spread."""
    renderer = layer.renderer()
    if not isinstance(renderer, QgsSingleBandPseudoColorRenderer):
        return None
    stats = layer.dataProvider().bandStatistics(
        renderer.band(), QgsRasterBandStats.Stats.Min | QgsRasterBandStats.Stats.Max
    )
    low, high = stats.minimumValue, stats.maximumValue
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return None
    ramp = renderer.shader().rasterShaderFunction()
    old_low, old_high = ramp.minimumValue(), ramp.maximumValue()
    decimals = max(2, 1 - math.floor(math.log10(high - low)))  #: enough to tell the stops apart
    items = []
    for item in ramp.colorRampItemList():
        value = low + (item.value - old_low) / (old_high - old_low) * (high - low)
        items.append(QgsColorRampShader.ColorRampItem(value, item.color, f"{value:.{decimals}f}"))
    ramp.setColorRampItemList(items)
    ramp.setMinimumValue(low)
    ramp.setMaximumValue(high)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
    return low, high


def show_class_probability(layer: QgsRasterLayer, band: int, class_names) -> None:
    """Draw the probability of class ``band`` (1-based band of probabilities.tif) and name the layer after it."""
    renderer = layer.renderer()
    if isinstance(renderer, QgsSingleBandPseudoColorRenderer):
        renderer.setBand(band)
    layer.setName(tr("Probability: {0}").format(class_names[band - 1]))
    layer.triggerRepaint()
    layer.emitStyleChanged()


def hide_band_title(node: QgsLayerTreeLayer) -> None:
    """Leave QGIS's band title ("Band 1: top class index (Gray)") out of the layer's legend, keeping its classes
    or ramp; the layer's own name says what it shows. Stored in the layer tree, so a saved project keeps it."""
    nodes = node.layer().legend().createLayerTreeModelLegendNodes(node)
    if len(nodes) > 1 and isinstance(nodes[0], QgsSimpleLegendNode):
        QgsMapLayerLegendUtils.setLegendNodeOrder(node, list(range(1, len(nodes))))

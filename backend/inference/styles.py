"""QGIS layer styles (.qml text) for the output rasters: paletted labels, confidence ramp, probabilities ramp."""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from .products import SOURCE_COLORS, SOURCE_NAMES

#: viridis at 5 stops, value in [0, 1] → colour
_RAMP = ((0.0, "#440154"), (0.25, "#3b528b"), (0.5, "#21918c"), (0.75, "#5ec962"), (1.0, "#fde725"))


def _document(renderer: str) -> str:
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22.0" styleCategories="AllStyleCategories">\n'
        "  <pipe>\n"
        f"{renderer}"
        '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
        '    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0"/>\n'
        '    <rasterresampler maxOversampling="2"/>\n'
        "  </pipe>\n"
        "  <blendMode>0</blendMode>\n"
        "</qgis>\n"
    )


def _paletted(band: int, palette: Sequence[tuple[int, str, str]]) -> str:
    """A paletted renderer of ``band``: (value, colour, label) entries."""
    entries = "".join(
        f'        <paletteEntry value="{v}" color="{color}" label={quoteattr(label)} alpha="255"/>\n'
        for v, color, label in palette
    )
    return _document(
        f'    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        f"      <colorPalette>\n{entries}      </colorPalette>\n"
        "    </rasterrenderer>\n"
    )


def labels_qml(class_names: Sequence[str], class_colors: Sequence[str]) -> str:
    """Paletted style of band 1 of labels.tif: value ``c`` → class ``c``'s name and colour."""
    return _paletted(
        1, [(i, color, name) for i, (name, color) in enumerate(zip(class_names, class_colors, strict=True))]
    )


def source_qml(band: int) -> str:
    """Paletted style of the source band ``band`` of labels.tif: which head decided each cell (where radar was used)."""
    return _paletted(band, [(v, SOURCE_COLORS[v], name) for v, name in SOURCE_NAMES.items()])


def _pseudocolor(band: int, label: str) -> str:
    items = "".join(
        f'          <item value="{v}" color="{c}" label={quoteattr(f"{v:.2f}")} alpha="255"/>\n' for v, c in _RAMP
    )
    return (
        f'    <rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="1" alphaBand="-1" '
        f'classificationMin="0" classificationMax="1" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        f"      <!-- {re.sub('-{2,}', '-', label)} -->\n"  # '--' may not occur inside an XML comment
        "      <rastershader>\n"
        '        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
        'minimumValue="0" maximumValue="1" labelPrecision="2">\n'
        f"{items}"
        "        </colorrampshader>\n"
        "      </rastershader>\n"
        "    </rasterrenderer>\n"
    )


def confidence_qml() -> str:
    """Pseudocolour ramp (viridis, 0 → 1) for confidence.tif (max class probability)."""
    return _document(_pseudocolor(1, "confidence = max class probability"))


def probabilities_qml(class_names: Sequence[str]) -> str:
    """Pseudocolour ramp (viridis, 0 → 1) on band 1 of probabilities.tif; bands are named after the classes."""
    return _document(_pseudocolor(1, f"band 1 = {class_names[0]}; pick another band to see another class"))

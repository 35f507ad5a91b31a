"""The QGIS styles (.qml text) of the sample to label, with its attribute form, and of the disagreement layer.

- form with two tabs: *Reference* (the analyst's labels: the reference class as a drop-down of the class names, one
  yes/no checkbox per class for the multi-label reference, a comment) and *Map* (what the map says; read only);
- the class probabilities are hidden from the form (they stay in the attribute table);
- cells drawn as outlines only, yellow while a unit is not labelled and green once it is, so the imagery underneath
  stays visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from .sample_layer import (
    COMMENT_FIELD,
    MAP_FIELDS,
    REFERENCE_FIELD,
    UNIT_FIELD,
    SampleSchema,
)

#: QGIS's value of the "no value" entry of a value map
NULL_VALUE = "{2839923C-8B7D-419E-B84B-CA2FE9B80EC7}"
TO_LABEL_COLOR, LABELLED_COLOR, DISAGREEMENT_COLOR = "255,221,0,255", "0,200,83,255", "227,26,28,255"
_HEADER = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"


def _option(name: str, value: str) -> str:
    return f'<Option type="QString" name={quoteattr(name)} value={quoteattr(value)}/>'


def _widget(field: str, kind: str, options: str = "") -> str:
    config = f'<Option type="Map">{options}</Option>' if options else "<Option/>"
    return (
        f'  <field name={quoteattr(field)} configurationFlags="None">'
        f'<editWidget type="{kind}"><config>{config}</config></editWidget></field>\n'
    )


def _value_map(field: str, names: Sequence[str]) -> str:
    entries = "".join(
        f'<Option type="Map">{_option(label, value)}</Option>'
        for label, value in [("<NULL>", NULL_VALUE), *((n, n) for n in names)]
    )
    return _widget(field, "ValueMap", f'<Option type="List" name="map">{entries}</Option>')


def _checkbox(field: str) -> str:
    return _widget(field, "CheckBox", _option("CheckedState", "1") + _option("UncheckedState", "0"))


def _symbol(name: str, outline: str) -> str:
    props = {"style": "no", "color": "0,0,0,0", "outline_color": outline, "outline_style": "solid"}
    props |= {"outline_width": "0.6", "outline_width_unit": "MM"}
    options = "".join(_option(k, v) for k, v in props.items())
    return (
        f'<symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="SimpleFill" enabled="1" locked="0" pass="0"><Option type="Map">{options}</Option></layer>'
        "</symbol>"
    )


def _renderer(schema: SampleSchema) -> str:
    labelled = " OR ".join([f'"{REFERENCE_FIELD}" IS NOT NULL', *(f'"{f}" = 1' for f in schema.presence_fields)])
    expression = f"if({labelled}, 'labelled', 'to label')"
    categories = (("to label", TO_LABEL_COLOR), ("labelled", LABELLED_COLOR))
    return (
        f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(expression)} forceraster="0" symbollevels="0" '
        'enableorderby="0"><categories>'
        + "".join(
            f'<category value={quoteattr(v)} label={quoteattr(v)} symbol="{i}" render="true"/>'
            for i, (v, _) in enumerate(categories)
        )
        + "</categories><symbols>"
        + "".join(_symbol(str(i), color) for i, (_, color) in enumerate(categories))
        + "</symbols></renderer-v2>\n"
    )


def _tab(name: str, fields: Sequence[str], index: dict[str, int]) -> str:
    items = "".join(f'<attributeEditorField name={quoteattr(f)} index="{index[f]}" showLabel="1"/>' for f in fields)
    return (
        f'  <attributeEditorContainer name={quoteattr(name)} groupBox="0" columnCount="1" showLabel="1" '
        f'visibilityExpressionEnabled="0" visibilityExpression="">{items}</attributeEditorContainer>\n'
    )


def sample_qml(schema: SampleSchema) -> str:
    """The .qml of the sample layer written with ``schema`` (QGIS 3.22 and newer)."""
    # QGIS lists a GeoPackage's feature id first
    index = {name: i for i, name in enumerate(["fid", *(name for name, _ in schema.fields)])}
    widgets = _value_map(REFERENCE_FIELD, schema.class_names)
    widgets += "".join(_checkbox(f) for f in schema.presence_fields)
    widgets += "".join(_widget(f, "Hidden") for f in schema.probability_fields)
    aliases = "".join(
        f'  <alias field={quoteattr(f)} index="{index[f]}" name={quoteattr(n)}/>\n'
        for f, n in [*zip(schema.presence_fields, schema.class_names), (REFERENCE_FIELD, "Reference class")]
    )
    defaults = "".join(
        f'  <default field={quoteattr(f)} expression="0" applyOnUpdate="0"/>\n' for f in schema.presence_fields
    )
    read_only = "".join(f'  <field name={quoteattr(f)} editable="0"/>\n' for f in MAP_FIELDS)
    reference_tab = [REFERENCE_FIELD, *schema.presence_fields, COMMENT_FIELD]
    preview = '"' + UNIT_FIELD + '"'  # the feature's title in QGIS: its unit number
    return (
        _HEADER
        + '<qgis version="3.22.0" styleCategories="Symbology|Fields|Forms">\n'
        + _renderer(schema)
        + f"<fieldConfiguration>\n{widgets}</fieldConfiguration>\n"
        + f"<aliases>\n{aliases}</aliases>\n"
        + f"<defaults>\n{defaults}</defaults>\n"
        + '<editform tolerant="1"></editform>\n<editorlayout>tablayout</editorlayout>\n'
        + "<attributeEditorForm>\n"
        + _tab("Reference (your labels)", reference_tab, index)
        + _tab("Map (read only)", MAP_FIELDS, index)
        + "</attributeEditorForm>\n"
        + f"<editable>\n{read_only}</editable>\n"
        + f"<previewExpression>{escape(preview)}</previewExpression>\n"
        + "<layerGeometryType>2</layerGeometryType>\n"
        + "</qgis>\n"
    )


def disagreement_qml() -> str:
    """Red outlines: the sample units where map and reference disagree."""
    return (
        _HEADER
        + '<qgis version="3.22.0" styleCategories="Symbology">\n'
        + '<renderer-v2 type="singleSymbol" forceraster="0" symbollevels="0" enableorderby="0"><symbols>'
        + _symbol("0", DISAGREEMENT_COLOR)
        + "</symbols></renderer-v2>\n<layerGeometryType>2</layerGeometryType>\n</qgis>\n"
    )

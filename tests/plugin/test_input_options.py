"""The plugin's input choices are the engine's, and its refusals name the dock's and Processing's own controls."""

from __future__ import annotations

from mosaic.backend.inference import clouds, inspector
from mosaic.plugin import input_options
from mosaic.plugin.input_options import dock_hint, processing_hint


def test_the_choices_are_the_inspectors():
    assert input_options.S2_OFFSETS == inspector.S2_OFFSETS
    assert input_options.S1_UNITS == inspector.S1_UNITS
    assert input_options.S1_ORDERS == inspector.S1_ORDERS
    assert input_options.CLOUD_KINDS == clouds.CLOUD_KINDS
    assert input_options.DEFAULT_SCL_CLASSES == clouds.DEFAULT_SCL_CLASSES
    assert input_options.DEFAULT_CLOUD_THRESHOLD == clouds.DEFAULT_THRESHOLD
    assert input_options.DEFAULT_CLOUD_FRACTION == clouds.DEFAULT_CLOUD_FRACTION


def test_processing_wording(qgis_app):
    assert processing_hint("s2_offset", "1000") == 'set "S2 DN offset" to 1000'
    assert processing_hint("s1_units", "linear") == 'set "S1 units" to linear power'
    assert processing_hint("s1_order", "vh,vv") == 'set "S1 band order" to VH,VV'
    assert processing_hint("s2_order", "b02,b03") == 'set "S2 band order" to B02,B03'
    assert processing_hint("cloud_mask_kind", "scl") == 'set "Cloud mask kind" to scl'
    assert processing_hint("s1_scale", "0.01") == 'set "S1 scale" to 0.01'


def test_dock_wording(qgis_app):
    assert dock_hint("s2_offset", "0") == 'set "S2 DN offset" to 0 in the dock'
    assert dock_hint("s1_units", "amplitude") == 'set "S1 units" to amplitude in the dock'
    assert dock_hint("s1_order", "vh,vv") == 'set "S1 band order" to VH,VV in the dock'
    assert dock_hint("s2_order", "…") == "pick each S2 band in the dock's band mapping table"
    assert dock_hint("s2_scale", "1") == 'set "S2 reflectance scale" to 1 (0–1 reflectance) in the dock'
    assert dock_hint("s1_scale", "0.01") == 'run "Classify land cover" in Processing with "S1 scale" set to 0.01'

"""The input options of the dock and ``mosaic:classify`` (the engine's ``InputOptions``) and their wording.

The engine's input inspector (:mod:`mosaic.backend.inference.inspector`) refuses an input in one sentence that
names the option deciding it, through a ``hint(option, value)`` of the front end: ``mosaic predict`` says
``--s2-offset 1000``, Processing says ``set "S2 DN offset" to 1000`` and the dock names its own controls.

The choices are spelt out here (the inspector's ``S2_OFFSETS``, ``S1_UNITS``, ``S1_ORDERS``, the cloud layer's
kinds and defaults of :mod:`mosaic.backend.inference.clouds`; a test checks they are equal) because the engine
package needs onnxruntime, which may not be installed yet.
"""

from __future__ import annotations

from qgis.PyQt.QtCore import QCoreApplication

S2_OFFSETS = ("auto", "0", "1000")
S1_UNITS = ("auto", "db", "linear", "amplitude")
S1_ORDERS = ("auto", "vv,vh", "vh,vv")
#: the dock's S2 scale choices (Processing takes any number): the stored value of reflectance 1
S2_SCALES = ("auto", "10000", "1")
CLOUD_KINDS = ("auto", "scl", "mask", "probability")
DEFAULT_SCL_CLASSES = (3, 8, 9, 10)
DEFAULT_CLOUD_THRESHOLD = 0.4
DEFAULT_CLOUD_FRACTION = 0.3


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicInputOptions", text)


#: option → the parameter's / control's label, as Processing and the dock show it
LABELS = {
    "s2_offset": tr("S2 DN offset"),
    "s2_scale": tr("S2 reflectance scale"),
    "s2_order": tr("S2 band order"),
    "s1_units": tr("S1 units"),
    "s1_scale": tr("S1 scale"),
    "s1_order": tr("S1 band order"),
    "cloud_mask_kind": tr("Cloud mask kind"),
    "scl_classes": tr("SCL cloud classes"),
    "cloud_threshold": tr("Cloud probability threshold"),
    "cloud_fraction": tr("Cloudy fraction for the S1-only head"),
}
#: option → value → the value as a choice shows it (values not listed are shown as they are)
VALUE_TEXTS = {
    "s1_units": {"db": tr("dB"), "linear": tr("linear power"), "amplitude": tr("amplitude")},
    "s1_order": {"vv,vh": "VV,VH", "vh,vv": "VH,VV"},
    "s2_scale": {"10000": tr("10000 (digital numbers)"), "1": tr("1 (0–1 reflectance)")},
}
#: the options the dock shows; the others are Processing parameters only
DOCK_OPTIONS = ("s2_offset", "s2_scale", "s1_units", "s1_order")


def value_text(option: str, value: str) -> str:
    """``value_text("s1_order", "vh,vv")`` → ``"VH,VV"``; ``"…"`` (any value) → ``"…"``."""
    return VALUE_TEXTS.get(option, {}).get(value, value.upper() if option.endswith("_order") else value)


def processing_hint(option: str, value: str) -> str:
    """``processing_hint("s2_offset", "1000")`` → ``set "S2 DN offset" to 1000``."""
    return tr('set "{0}" to {1}').format(LABELS[option], value_text(option, value))


def dock_hint(option: str, value: str) -> str:
    """The dock's words: its own controls, the band mapping table for band orders, Processing for the rest."""
    if option in DOCK_OPTIONS:
        return tr('set "{0}" to {1} in the dock').format(LABELS[option], value_text(option, value))
    if option.endswith("_order"):
        return tr("pick each {0} band in the dock's band mapping table").format(option[:2].upper())
    return tr('run "Classify land cover" in Processing with "{0}" set to {1}').format(
        LABELS[option], value_text(option, value)
    )

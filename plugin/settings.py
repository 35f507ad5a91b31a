"""Settings remembered between QGIS sessions (``QgsSettings`` under ``mosaic/``)."""

from __future__ import annotations

from qgis.core import QgsSettings

PREFIX = "mosaic/"

#: key → default. Keys are stable: they live in users' QGIS profiles.
DEFAULTS: dict[str, object] = {
    "model_path": "",
    "output_dir": "",
    "stride_px": 120,
    "batch_size": 8,
    "provider": "auto",  #: the user's choice of execution provider; auto: the best the installed onnxruntime has
    "extent_mode": "layer",
    "write_tiles": True,
    "s2_offset": "auto",
    "s2_scale": "auto",
    "s1_units": "auto",
    "s1_order": "auto",
    "backend_python": "",
    "train/dataset": "",
    "train/strategy": "mosaic1",
    "train/label_fraction": 1.0,
    "train/epochs": 10,
    "train/batch_size": 32,
    "train/device": "auto",
    "train/backbone": "",
    "train/workers": 2,
    "train/output_dir": "",
    "train/start_from": "",  #: a published model whose encoders start the training ("": random weights)
    "published/catalogue": "",  #: a catalogue of published models other than the bundled one (e.g. a mirror)
}


def value(key: str):
    """The stored value of ``key`` with the type of its default (``QgsSettings`` stores strings on some OSes)."""
    default = DEFAULTS[key]
    return QgsSettings().value(PREFIX + key, default, type=type(default))


def set_value(key: str, new_value) -> None:
    """Store ``new_value`` under ``key``."""
    if key not in DEFAULTS:
        raise KeyError(f"unknown MoSAiC setting {key!r}")
    QgsSettings().setValue(PREFIX + key, new_value)

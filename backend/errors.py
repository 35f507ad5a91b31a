"""User-facing errors. Pure Python, so every part of the backend (the inference engine too) can raise them.

A :class:`MosaicError` carries one actionable sentence for the user; the CLI prints it on one line and exits
non-zero, the QGIS plugin shows it in the message bar. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class MosaicError(Exception):
    """An error caused by the user's input or environment, with a message that says what to do."""


class InputError(MosaicError):
    """Bad input data: rasters, vectors, bands, extents."""


class ModelError(MosaicError):
    """A model file that is damaged, lacks valid metadata or does not fit the inputs."""


class OutputError(MosaicError):
    """Outputs that cannot be written, or that exist already without overwrite."""


class ConfigError(MosaicError):
    """An invalid training or evaluation configuration."""

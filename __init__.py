"""MoSAiC for QGIS: the plugin package (this folder) with its bundled headless backend.

QGIS imports this folder as a package and calls :func:`classFactory`. Nothing QGIS-specific is imported at
module level, so the headless backend (``mosaic.backend``) can be imported without QGIS.
"""

from __future__ import annotations

from .backend.version import __version__

__all__ = ["__version__", "classFactory"]


def classFactory(iface):
    """Entry point QGIS calls with its ``QgisInterface``; returns the plugin instance."""
    from .plugin.main import MosaicPlugin

    return MosaicPlugin(iface)

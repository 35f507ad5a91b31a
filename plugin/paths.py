"""Where the plugin's files are: the plugin folder (the repository root, package ``mosaic``) and its icon.

A module of its own without imports from the plugin, so that any plugin module can use these paths without an
import circle through :mod:`.main`.
"""

from __future__ import annotations

from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent
ICON_PATH = PLUGIN_DIR / "resources" / "icons" / "mosaic.png"

"""Where the dock's runs go: a folder beside the saved project (else in the user's documents), never the system's
temporary folder unless chosen; and which layers of a project live in the temporary folder (gone after a restart).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from qgis.core import QgsProject
from qgis.PyQt.QtCore import QStandardPaths

RUNS_FOLDER_NAME = "MoSAiC runs"


def run_folder_name(run_name: str) -> str:
    """A file-system-safe folder name for ``run_name``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_name).strip("_")


def default_output_dir(project: QgsProject | None = None) -> Path:
    """``<project folder>/MoSAiC runs`` for a saved project, else ``<Documents>/MoSAiC runs``."""
    project = project or QgsProject.instance()
    folder = project.absolutePath()
    if folder:
        return Path(folder) / RUNS_FOLDER_NAME
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents or Path.home()) / RUNS_FOLDER_NAME


def output_dir(chosen: str, project: QgsProject | None = None) -> Path:
    """The folder runs go to: the one ``chosen`` in the dock, else :func:`default_output_dir`."""
    chosen = chosen.strip()
    return Path(chosen).expanduser() if chosen else default_output_dir(project)


def is_temporary(path: str | Path) -> bool:
    """Whether ``path`` lies in the system's temporary folder (emptied at restart on most systems)."""
    temp = Path(tempfile.gettempdir()).resolve()
    try:
        return Path(path).expanduser().resolve().is_relative_to(temp)
    except (OSError, ValueError):
        return False


def temporary_layers(project: QgsProject | None = None) -> list[str]:
    """Names of the project's layers whose files lie in the temporary folder."""
    project = project or QgsProject.instance()
    names = []
    for layer in project.mapLayers().values():
        source = layer.source().split("|")[0]
        if source and Path(source).is_absolute() and is_temporary(source):
            names.append(layer.name())
    return sorted(names)

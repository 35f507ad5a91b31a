"""Creating the backend Python from QGIS: the training dialog's *Create…* and the published-model dialog's offer.

What it takes is said first (download, disk, time) and the analyst agrees; then the commands of
:func:`~.backend_env.create_env_commands` run in a log window, and the new interpreter becomes the
``backend_python`` setting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QMessageBox, QWidget

from ..backend.training.log_noise import is_noise
from . import settings
from .backend_env import (
    ENV_DISK_GB,
    ENV_DOWNLOAD_GB,
    ENV_MINUTES,
    backend_python,
    create_env_commands,
    default_env_dir,
    env_python,
)
from .process_log_dialog import ProcessLogDialog

QUESTION_NAME = "mosaicCreateEnvQuestion"  #: object name of the question asked before anything is downloaded


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicBackendSetup", text)


def configured_backend_python() -> str:
    """The ``backend_python`` setting when it names an existing file, else ``""``."""
    python = backend_python()
    return python if python and Path(python).is_file() else ""


def what_it_takes(env_dir: Path | None = None) -> str:
    """The backend environment in one sentence: where it goes, its download, disk and time."""
    return tr(
        "a separate Python environment in {0}: it downloads about {1} GB and takes about {2} GB of disk (on Linux, "
        "PyTorch with its NVIDIA libraries; less on Windows and macOS), and {3}–{4} minutes depending on your "
        "connection."
    ).format(env_dir or default_env_dir(), ENV_DOWNLOAD_GB, ENV_DISK_GB, *ENV_MINUTES)


def create_backend_env(
    parent: QWidget, needs: str, on_ready: Callable[[str], None], on_fail: Callable[[str], None]
) -> ProcessLogDialog | None:
    """Ask (``needs``: why PyTorch is needed, one sentence), then create ``<profile>/python/mosaic_backend_venv``
    with the pinned backend in a log window; ``on_ready(python)`` once it works (the setting is stored first),
    ``on_fail(message)`` when QGIS's own interpreter cannot be found or a step fails. None when the analyst said no."""
    from .deps import qgis_python

    env_dir = default_env_dir()
    question = QMessageBox(
        QMessageBox.Icon.Question,
        tr("Create the backend environment?"),
        tr("{0} This creates {1}").format(needs, what_it_takes(env_dir)),
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        parent,
    )
    question.setObjectName(QUESTION_NAME)
    if question.exec() != QMessageBox.StandardButton.Yes:
        return None
    try:
        base_python = qgis_python()
    except FileNotFoundError as exc:
        on_fail(str(exc))
        return None
    dialog = ProcessLogDialog(
        tr("Creating the MoSAiC backend environment"), create_env_commands(env_dir, base_python), parent, is_noise
    )

    def done(ok: bool) -> None:
        if ok:
            python = str(env_python(env_dir))
            settings.set_value("backend_python", python)
            on_ready(python)
        else:
            on_fail(tr("Creating the backend environment failed: see its log window."))

    dialog.finished_all.connect(done)
    dialog.show()
    dialog.start()
    return dialog

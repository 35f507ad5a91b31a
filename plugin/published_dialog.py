"""*Get a published model…*: the BigEarthNet v2.0 team's published classifiers, downloaded and imported in the
background, then handed to the dock.

The list is the catalogue (:mod:`.published_catalogue`): name, heads, size, published macro AP, licence. *Get* runs
``mosaic models get NAME --progress-jsonl`` in the backend Python (the conversion needs PyTorch): resumable,
verified downloads into the cache, the import to ``<cache>/onnx/NAME.onnx``, progress from the JSON-lines events
(docs/contracts.md). *Cancel* interrupts it; what was downloaded stays in the cache and the next *Get* resumes it.
Closing the dialog leaves a *Get* running in the background (the dock keeps the dialog and stops it when the plugin
unloads).
Without a backend Python nothing is downloaded: the dialog says what the backend takes and offers to create it, then
goes on. Offline or blocked, the backend's one line names the files to fetch by hand and the import command.
"""

from __future__ import annotations

from html import escape

from qgis.core import Qgis
from qgis.PyQt.QtCore import QCoreApplication, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..backend.errors import MosaicError
from ..backend.published.download import default_cache
from .backend_env import models_get_command
from .backend_process import BackendProcess
from .backend_setup import configured_backend_python, create_backend_env, what_it_takes
from .model_card import head_purposes
from .published_catalogue import catalogue_rows, default_index, heads_text, onnx_path, published_ap

DOWNLOAD_SHARE = 90  #: % of the progress bar the downloads fill; the import the rest
IMPORT_PERCENT = {"reading": 92, "tuning": 94, "exporting": 96}
COLUMNS = ("name", "heads", "size", "ap", "licence", "here")
TABLE_ROWS_SHOWN = 6  #: the list shows this many models without scrolling


def tr(text: str) -> str:
    return QCoreApplication.translate("MosaicPublishedDialog", text)


def megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:,.1f} MB"


class PublishedModelDialog(QDialog):
    """Pick a published model, get it (download + import in the backend Python), hand it to the dock."""

    model_ready = pyqtSignal(str)

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.setObjectName("mosaicPublishedDialog")
        self.setWindowTitle(tr("Get a published model"))
        self.resize(820, 680)
        self.rows: list[dict] = []
        self.model_path = ""  #: the model the last Get made
        self.failed_message = ""
        self.env_dialog = None  #: the log of the backend environment's creation, kept while open
        self._stage = "idle"  # idle | get | cancelled
        self._getting = ""  #: the model the running Get makes
        self._total_bytes = 0
        self._done_bytes: dict[tuple[str, str], int] = {}
        self._build_ui()
        self.backend = BackendProcess(self)
        self.backend.progress.connect(self._handle_event)
        self.backend.ended.connect(self._finished)
        self.refresh()

    # -- UI ---------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        intro = QLabel(
            tr(
                "Land-cover classifiers published by the BigEarthNet v2.0 team (BIFOLD, TU Berlin), trained with all "
                "labels of BigEarthNet v2.0 (19 classes, 10 European countries, 2017–2018). A three-head model also "
                "classifies under clouds (its radar head) and where Sentinel-1 is missing. Accuracy figures are as "
                "published on BigEarthNet's test split, not measured by MoSAiC."
            ),
            self,
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("mosaicPublishedTable")
        self.table.setHorizontalHeaderLabels(
            [tr("Model"), tr("Heads"), tr("Size"), tr("Published macro AP"), tr("Licence"), tr("Downloaded")]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(TABLE_ROWS_SHOWN * self.table.verticalHeader().defaultSectionSize() + 30)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.info = QLabel(self)
        self.info.setObjectName("mosaicPublishedInfo")
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setOpenExternalLinks(True)
        self.backend_box = QLabel(self)
        self.backend_box.setObjectName("mosaicPublishedBackendNote")
        self.backend_box.setWordWrap(True)
        self.create_button = QPushButton(tr("Create the backend Python…"), self)
        self.create_button.setObjectName("mosaicPublishedCreateEnvButton")
        self.create_button.clicked.connect(self.offer_backend)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.status = QLabel(self)
        self.status.setObjectName("mosaicPublishedStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.info)
        backend_row = QHBoxLayout()
        backend_row.addWidget(self.backend_box, 1)
        backend_row.addWidget(self.create_button)
        layout.addLayout(backend_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(self._buttons())

    def _buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.get_button = QPushButton(tr("Get"), self)
        self.get_button.setObjectName("mosaicPublishedGetButton")
        self.get_button.setToolTip(tr("Download the model's checkpoints, convert them to a MoSAiC model, use it"))
        self.get_button.clicked.connect(self.get_model)
        self.cancel_button = QPushButton(tr("Cancel"), self)
        self.cancel_button.setObjectName("mosaicPublishedCancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close_button = QPushButton(tr("Close"), self)
        close_button.clicked.connect(self.close)
        buttons.addStretch(1)
        for button in (self.get_button, self.cancel_button, close_button):
            buttons.addWidget(button)
        return buttons

    def refresh(self) -> None:
        """List the catalogue (keeping the selected model) and say whether the backend Python is there."""
        selected = self.selected_name()
        try:
            self.rows = catalogue_rows()
        except MosaicError as exc:
            self.rows = []
            self._fail(str(exc))
        table = self.table
        table.setRowCount(0)
        for r, row in enumerate(self.rows):
            table.insertRow(r)
            ap = published_ap(row)
            cells = (
                row["name"],
                heads_text(row),
                f"{row['approx_mb']:,.0f} MB",
                f"{ap:.3f}" if ap is not None else tr("not recorded"),
                row["licence"],
                tr("yes") if row["downloaded"] else "",
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c in (2, 3):
                    item.setTextAlignment(int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter))
                table.setItem(r, c, item)
        names = [row["name"] for row in self.rows]
        if names:
            table.selectRow(names.index(selected) if selected in names else default_index(names))
        self._show_backend()

    def selected_name(self) -> str:
        row = self.selected_row()
        return row["name"] if row else ""

    def selected_row(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.rows[rows[0].row()] if rows and rows[0].row() < len(self.rows) else None

    def select(self, name: str) -> None:
        """Select the model ``name`` (as a click on its row)."""
        self.table.selectRow([row["name"] for row in self.rows].index(name))

    def _show_selected(self) -> None:
        row = self.selected_row()
        self.info.setText(describe(row) if row else "")

    def _show_backend(self) -> None:
        """Say what the conversion needs while no backend Python is set, and offer to create it."""
        missing = not configured_backend_python()
        self.backend_box.setText(
            tr(
                "Converting the downloaded weights into a MoSAiC model needs PyTorch, which QGIS does not have: the "
                "MoSAiC backend Python, {0} Nothing is downloaded until it exists."
            ).format(what_it_takes())
            if missing
            else ""
        )
        self.backend_box.setVisible(missing)
        self.create_button.setVisible(missing)

    # -- getting a model --------------------------------------------------------------------------
    def get_model(self) -> bool:
        """Start ``mosaic models get`` for the selected model; without a backend Python, offer to create it first
        (then it starts by itself). False when nothing started."""
        if self.is_running():
            return False
        name = self.selected_name()
        if not name:
            self._fail(tr("Choose a model in the list."))
            return False
        python = configured_backend_python()
        if not python:
            self.offer_backend()
            return False
        self.model_path = self.failed_message = ""
        self._stage, self._getting = "get", name
        self._total_bytes, self._done_bytes = 0, {}
        self.progress.setValue(0)
        self.status.setText(tr("Starting…"))
        self.get_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.backend.start(models_get_command(python, [name]))
        return True

    def offer_backend(self):
        """Ask to create the backend Python (what it takes, first); once it works, get the selected model."""

        def ready(_python: str) -> None:
            self._show_backend()
            self.get_model()

        self.env_dialog = create_backend_env(
            self,
            tr("Converting the published weights into a MoSAiC model needs PyTorch, which QGIS does not have."),
            ready,
            self._fail,
        )
        return self.env_dialog

    def is_running(self) -> bool:
        return self.backend.is_running()

    def cancel(self) -> None:
        """Interrupt the download or import; downloaded parts stay in the cache for the next *Get*."""
        if self.is_running():
            self._stage = "cancelled"
            self.status.setText(tr("Cancelling…"))
            self.backend.stop()

    def _handle_event(self, event: dict) -> None:
        kind = event["event"]
        if kind == "start":
            self._total_bytes = int(event.get("approx_bytes") or 0)
            self.status.setText(
                tr("Downloading {0} checkpoint(s), about {1}, into {2}…").format(
                    len(event.get("checkpoints", [])), megabytes(self._total_bytes), event.get("cache", "")
                )
            )
        elif kind == "download":
            self._done_bytes[(event["model"], event["file"])] = int(event.get("done_bytes") or 0)
            if self._total_bytes:
                done = sum(self._done_bytes.values())
                self.progress.setValue(min(DOWNLOAD_SHARE, round(DOWNLOAD_SHARE * done / self._total_bytes)))
            total = event.get("total_bytes")
            self.status.setText(
                tr("Downloading {0}/{1}: {2} of {3}").format(
                    event["model"], event["file"], megabytes(event["done_bytes"]), megabytes(total) if total else "?"
                )
            )
        elif kind == "import":
            self.progress.setValue(max(self.progress.value(), IMPORT_PERCENT.get(event.get("stage"), DOWNLOAD_SHARE)))
            self.status.setText(tr("Converting to a MoSAiC model ({0})…").format(event.get("stage", "")))
        elif kind == "model":
            self.model_path = event.get("path", "")

    def _finished(self, exit_code: int) -> None:
        stage, self._stage = self._stage, "idle"
        self.get_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.refresh()
        if stage == "cancelled":
            self.progress.setValue(0)
            self.status.setText(
                tr("Cancelled. What was downloaded so far stays in {0}; Get resumes from there.").format(
                    default_cache()
                )
            )
            return
        if exit_code != 0 or not self.model_path:
            self._fail(
                self.backend.error
                or tr("The backend stopped with exit status {0} before the model was ready.").format(exit_code)
            )
            return
        self.progress.setValue(100)
        self.status.setText(tr("Ready: {0} is now the model of the MoSAiC dock.").format(self.model_path))
        self.iface.messageBar().pushMessage(
            tr("MoSAiC"),
            tr("Published model ready: {0}; it is now the model of the MoSAiC dock.").format(self.model_path),
            Qgis.MessageLevel.Success,
            10,
        )
        self.model_ready.emit(self.model_path)

    def _fail(self, message: str) -> None:
        self.failed_message = message
        self.status.setText(message)
        self.iface.messageBar().pushMessage(tr("MoSAiC"), message, Qgis.MessageLevel.Critical, 0)

    def stop(self) -> None:
        """Stop a running *Get* and wait for it (plugin unload): downloaded parts stay for the next *Get*."""
        if self.is_running():
            self._stage = "cancelled"
            self.backend.stop(wait=True, timeout_s=10)

    def closeEvent(self, event) -> None:
        """Closing the dialog leaves a running *Get* in the background (the dock keeps the dialog): the model goes
        to the dock when it is ready."""
        if self.is_running():
            self.iface.messageBar().pushMessage(
                tr("MoSAiC"),
                tr(
                    "Getting {0} goes on in the background; it becomes the model of the MoSAiC dock when ready "
                    "(Get a published model… shows the progress)."
                ).format(self._getting),
                Qgis.MessageLevel.Info,
                10,
            )
        super().closeEvent(event)


def describe(row: dict) -> str:
    """The selected model: architecture and version, what each head is for with its published AP, licence, pages,
    and where the model goes."""
    purposes = head_purposes()
    heads = []
    for head, model_id in row["heads"].items():
        metrics = row["published_metrics"].get(head, {})
        scores = (
            tr("published macro AP {0:.3f}, micro AP {1:.3f}").format(metrics["ap_macro"], metrics["ap_micro"])
            if "ap_macro" in metrics and "ap_micro" in metrics
            else tr("no published metrics recorded")
        )
        page = row["model_pages"].get(head, "")
        link = f'<a href="{escape(page)}">{escape(model_id)}</a>' if page else escape(model_id)
        what = purposes[head] if len(row["heads"]) > 1 else tr("One head ({0})").format(heads_text(row))
        heads.append(f"{what} — {link}: {scores}")
    target = onnx_path(row["name"])
    there = tr("already converted: Get uses it") if target.is_file() else tr("written by Get")
    return (
        f"<b>{escape(row['name'])}</b>: {escape(row['architecture'])}, reBEN v{escape(row['version'])}, "
        f"{tr('about')} {row['approx_mb']:,.0f} MB · {tr('licence')} {escape(row['licence'])}<br>"
        + "<br>".join(heads)
        + f"<br>{tr('Metrics as published on the BigEarthNet v2.0 test split (threshold-free macro AP).')}"
        + f"<br>{tr('Model file')}: {escape(str(target))} ({there})"
    )

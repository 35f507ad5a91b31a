"""Qt 6 readiness of ``plugin/``, read statically from its source (the ground for ``supportsQt6`` in metadata.txt).

QGIS builds on Qt 6 load plugins with PyQt6, which differs from PyQt5 in ways a Qt 5 run never shows:

- Qt is imported through ``qgis.PyQt`` only (never ``PyQt5``, ``PyQt6`` or ``sip`` directly);
- enum values are reached through their enum: ``Qt.AlignmentFlag.AlignLeft``, not ``Qt.AlignLeft`` (PyQt6 has no
  unscoped names). Every ``<Class>.<Capitalised>`` of a Qt or QGIS class the code imports is resolved in the running
  QGIS: an enum value there is unscoped, a name that does not exist is a typo or an API this QGIS lacks;
- no API that Qt 6 removed (:data:`REMOVED_NAMES`, :data:`REMOVED_METHODS`, :data:`REMOVED_ENUM_VALUES`, and
  ``QFontMetrics.width(text)``, a ``.width`` call with arguments).

``QAction`` stays imported from ``qgis.PyQt.QtWidgets``: Qt 6 moved it to QtGui, but ``qgis.PyQt.QtGui`` of QGIS 3.22
does not export it, and QGIS's Qt 6 builds keep it importable from both (qgis/QGIS pull request 55658).
"""

from __future__ import annotations

import ast
import configparser
import enum
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugin"
DIRECT_QT_MODULES = {"PyQt4", "PyQt5", "PyQt6", "PySide2", "PySide6", "sip"}  #: only through qgis.PyQt
#: classes Qt 6 removed → what replaces them
REMOVED_NAMES = {
    "QRegExp": "QRegularExpression",
    "QRegExpValidator": "QRegularExpressionValidator",
    "QDesktopWidget": "QGuiApplication.screens()",
    "QTextCodec": "str.encode/bytes.decode",
    "QGLWidget": "QOpenGLWidget",
    "QMatrix": "QTransform",
    "QStringRef": "str",
    "QSound": "QSoundEffect",
}
#: methods PyQt6 / Qt 6 removed → their replacements
REMOVED_METHODS = {
    "exec_": "exec()",
    "print_": "print()",
    "desktop": "QGuiApplication.screens()",
    "setMargin": "setContentsMargins()",
    "setTabStopWidth": "setTabStopDistance()",
    "globalPos": "globalPosition()",
}
#: enum values Qt 6 removed (scoped or not) → their replacements
REMOVED_ENUM_VALUES = {
    "MidButton": "MouseButton.MiddleButton",
    "Background": "ColorRole.Window",
    "Foreground": "ColorRole.WindowText",
    "HighQualityAntialiasing": "RenderHint.Antialiasing",
    "AA_EnableHighDpiScaling": "(always on in Qt 6)",
    "AA_UseHighDpiPixmaps": "(always on in Qt 6)",
}


def _is_enum_value(value: object) -> bool:
    """A member of an enum (a sip enum is an ``int`` subclass; PyQt6 and newer QGIS use :class:`enum.Enum`)."""
    return isinstance(value, enum.Enum) or (isinstance(value, int) and type(value) not in (int, bool))


def _imported_classes(tree: ast.AST) -> dict[str, object]:
    """The names a file imports from ``qgis.*`` (Qt through qgis.PyQt, qgis.core, qgis.gui), resolved in this QGIS."""
    classes = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qgis."):
            module = importlib.import_module(node.module)
            for alias in node.names:
                classes[alias.asname or alias.name] = getattr(module, alias.name)
    return classes


def qt6_findings(source: str, filename: str) -> list[str]:
    """Every Qt 6 incompatibility in ``source``, one ``file:line: what → instead`` each."""
    tree = ast.parse(source, filename)
    classes = _imported_classes(tree)
    found = []

    def report(node: ast.AST, text: str) -> None:
        found.append(f"{filename}:{node.lineno}: {text}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in DIRECT_QT_MODULES:
                    report(node, f"imports {module} directly → import from qgis.PyQt")
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in REMOVED_NAMES:
                        report(node, f"{alias.name} is gone in Qt 6 → {REMOVED_NAMES[alias.name]}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "width" and (node.args or node.keywords):
                report(node, "QFontMetrics.width(text) is gone in Qt 6 → horizontalAdvance(text)")
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr in REMOVED_METHODS:
            report(node, f".{node.attr} is gone in Qt 6 → {REMOVED_METHODS[node.attr]}")
        if node.attr in REMOVED_ENUM_VALUES:
            report(node, f".{node.attr} is gone in Qt 6 → {REMOVED_ENUM_VALUES[node.attr]}")
        owner = node.value
        if not node.attr[:1].isupper() or not isinstance(owner, ast.Name) or owner.id not in classes:
            continue
        name = f"{owner.id}.{node.attr}"
        if not hasattr(classes[owner.id], node.attr):
            report(node, f"{name} does not exist in this QGIS")
            continue
        value = getattr(classes[owner.id], node.attr)
        if _is_enum_value(value):
            report(node, f"{name} is an unscoped enum value → {owner.id}.{type(value).__name__}.{node.attr}")
        elif isinstance(value, type):
            used = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.value is node]
            for member in used:
                if not hasattr(value, member.attr):
                    report(member, f"{name}.{member.attr} does not exist in this QGIS")
    return found


def test_plugin_source_is_qt6_ready(qgis_app):
    files = sorted(PLUGIN.rglob("*.py"))
    assert len(files) > 20  # the whole plugin package, processing/ included
    findings = [f for path in files for f in qt6_findings(path.read_text("utf-8"), str(path.relative_to(REPO)))]
    assert findings == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from PyQt5.QtCore import Qt", "imports PyQt5.QtCore directly"),
        ("import sip", "imports sip directly"),
        ("from qgis.PyQt.QtCore import Qt\nQt.AlignLeft", "Qt.AlignLeft is an unscoped enum value → Qt.AlignmentFlag"),
        ("from qgis.PyQt.QtWidgets import QDialog\nQDialog.Accepted", "→ QDialog.DialogCode.Accepted"),
        ("from qgis.PyQt.QtWidgets import QMessageBox\nQMessageBox.Yes", "→ QMessageBox.StandardButton.Yes"),
        ("from qgis.PyQt.QtWidgets import QSizePolicy\nQSizePolicy.Expanding", "→ QSizePolicy.Policy.Expanding"),
        ("from qgis.core import Qgis\nQgis.Warning", "Qgis.Warning is an unscoped enum value → Qgis.MessageLevel"),
        ("from qgis.PyQt.QtCore import Qt\nQt.AlignmentFlag.AlignLeftt", "AlignLeftt does not exist"),
        ("dialog.exec_()", ".exec_ is gone in Qt 6 → exec()"),
        ("from qgis.PyQt.QtCore import QRegExp", "QRegExp is gone in Qt 6 → QRegularExpression"),
        ("metrics.width('label')", "horizontalAdvance(text)"),
        ("from qgis.PyQt.QtCore import Qt\nQt.MouseButton.MidButton", "MidButton is gone in Qt 6"),
    ],
)
def test_each_qt6_incompatibility_is_found(qgis_app, source, expected):
    findings = qt6_findings(source, "case.py")
    assert len(findings) == 1 and expected in findings[0], findings


def test_scoped_enums_nested_classes_and_plain_calls_pass(qgis_app):
    source = (
        "from qgis.PyQt.QtCore import Qt\nfrom qgis.PyQt.QtWidgets import QSizePolicy\nfrom qgis.core import Qgis\n"
        "Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop\nQSizePolicy.Policy.Expanding\n"
        "Qgis.MessageLevel.Warning\nQgis.QGIS_VERSION\nrect.width()\nlayer.width()"
    )
    assert qt6_findings(source, "case.py") == []


def test_metadata_claims_qt6_only_with_this_test():
    parser = configparser.ConfigParser()
    parser.read(REPO / "metadata.txt", encoding="utf-8")
    assert parser["general"]["supportsQt6"] == "True"

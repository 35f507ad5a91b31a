"""The package's import graph: no circle in ``plugin/`` or ``backend/``, no arrow from the backend back up to the
root package (``mosaic/__init__.py``, the QGIS entry point), ``plugin/`` never imports torch."""

from __future__ import annotations

from pathlib import Path

from .import_graph import cycles, graph, imports, module_files

REPO = Path(__file__).resolve().parents[1]
TORCH = {"torch", "torchvision", "timm", "lightning", "torchmetrics"}


def test_plugin_and_backend_have_no_import_circle():
    assert cycles(graph(module_files(REPO, ("plugin", "backend")))) == []


def test_no_backend_module_imports_the_root_package():
    modules = module_files(REPO, ("backend",))
    upward = [
        f"{imp.module}:{imp.line}"
        for name, path in modules.items()
        if name.startswith("mosaic.backend")
        for imp in imports(name, path, modules)
        if imp.target == "mosaic"
    ]
    assert upward == []


def test_plugin_never_imports_torch():
    modules = module_files(REPO, ("plugin",))
    found = [
        f"{imp.module}:{imp.line} {imp.target}"
        for name, path in modules.items()
        for imp in imports(name, path, modules)
        if imp.target.split(".")[0] in TORCH
    ]
    assert found == []


def write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return module_files(root)


def test_the_scan_sees_circles_through_function_imports_and_arrows_up(tmp_path):
    """The circle the plugin had: main → (in a function) dock → env → main for a constant; and ``from .. import``."""
    modules = write(
        tmp_path,
        {
            "__init__.py": "__version__ = '1'\n",
            "plugin/__init__.py": "",
            "plugin/main.py": "ICON = 1\ndef open():\n    from .dock import Dock\n",
            "plugin/dock.py": "from . import env\n",
            "plugin/env.py": "from .main import ICON\n",
            "plugin/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .main import ICON\n",
            "backend/__init__.py": "",
            "backend/version.py": "from .. import __version__\nimport torch.nn\n",
        },
    )
    edges = graph(modules)
    assert cycles(edges) == [["mosaic.plugin.dock", "mosaic.plugin.env", "mosaic.plugin.main"]]
    assert edges["mosaic.plugin.typed"] == set()  # TYPE_CHECKING imports never run
    assert [i.target for i in imports("mosaic.backend.version", modules["mosaic.backend.version"], modules)] == [
        "mosaic",
        "torch.nn",
    ]

"""`make package` builds a zip that passes what the plugins.qgis.org validator checks."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from ..import_graph import graph, imports, module_files, reachable

REPO = Path(__file__).resolve().parents[2]
# Fields the plugins.qgis.org validator requires (qgis-django plugins/validator.py) plus those reviewers expect.
REQUIRED = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "repository")
EXPECTED = (
    "qgisMaximumVersion",
    "tracker",
    "homepage",
    "tags",
    "category",
    "icon",
    "hasProcessingProvider",
    "experimental",
    "changelog",
)


def build(tmp_path: Path) -> Path:
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "package_plugin.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "mosaic-" in result.stdout
    (zip_path,) = tmp_path.glob("mosaic-*.zip")
    return zip_path


def test_package_is_a_valid_qgis_plugin_zip(tmp_path):
    zip_path = build(tmp_path)
    assert zip_path.stat().st_size <= 25 * 2**20
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        metadata_text = archive.read("mosaic/metadata.txt").decode("utf-8")
        archive.extractall(tmp_path / "unpacked")

    # one top folder, named like a Python package
    tops = {name.split("/")[0] for name in names}
    assert tops == {"mosaic"}
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", "mosaic")

    # nothing the validator rejects, nothing that belongs to development only
    forbidden = re.compile(r"(__pycache__|\.pyc$|(^|/)\.git(/|$)|__MACOSX|\.DS_Store|/tests/|/\.venv/|/dist/|/out/)")
    assert not [n for n in names if forbidden.search(n)]
    assert not [n for n in names if n.startswith("mosaic/sample_data/")]
    assert not [n for n in names if n.startswith(("mosaic/docs/", "mosaic/mkdocs.yml"))]  # documentation sources

    # the plugin and the backend are inside
    for required_file in (
        "mosaic/__init__.py",
        "mosaic/LICENSE",
        "mosaic/metadata.txt",
        "mosaic/plugin/main.py",
        "mosaic/backend/cli.py",
        "mosaic/requirements/constraints.txt",
        "mosaic/requirements/numpy2.txt",
    ):
        assert required_file in names, required_file
    assert "GNU GENERAL PUBLIC LICENSE" in (tmp_path / "unpacked/mosaic/LICENSE").read_text()

    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(metadata_text)
    general = parser["general"]
    for field in REQUIRED + EXPECTED:
        assert general.get(field, "").strip(), f"metadata.txt lacks {field}"
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["qgisMaximumVersion"] == "4.99"
    assert general["category"] == "Raster"
    assert general["hasProcessingProvider"] == "yes"
    assert re.fullmatch(r"\d+\.\d+\.\d+", general["version"])
    assert zip_path.name == f"mosaic-{general['version']}.zip"
    for url_field in ("repository", "tracker", "homepage"):
        assert re.fullmatch(r"https://[\w.-]+/[\w./-]+", general[url_field]), url_field
    assert "onnxruntime" in general["about"] and "PyTorch" in general["about"]
    icon = tmp_path / "unpacked" / "mosaic" / general["icon"]
    assert icon.is_file() and icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nothing_qgis_can_load_from_the_zip_imports_torch_or_rasterio(tmp_path):
    """What QGIS may import is the root ``__init__.py``, every module of ``plugin/`` and whatever they import from
    the zip, directly or through other modules, at module level or inside functions: none of it imports torch (or
    its family) or rasterio. The backend's training, data and export modules are shipped too, because the training
    dialog installs this folder into the backend Python; the plugin only runs them there, as a subprocess
    (``python -m mosaic.backend.cli``), so they stay outside what QGIS loads. Benchmarks that drive QGIS next to
    torch live in ``tools/``, outside the zip."""
    with zipfile.ZipFile(build(tmp_path)) as archive:
        archive.extractall(tmp_path / "unpacked")
    modules = module_files(tmp_path / "unpacked" / "mosaic")
    edges = graph(modules)
    loaded = reachable(edges, {name for name in modules if name == "mosaic" or name.startswith("mosaic.plugin")})
    heavy = {"torch", "torchvision", "timm", "lightning", "torchmetrics", "rasterio"}
    found = [
        f"{name}:{imp.line} imports {imp.target}"
        for name in sorted(loaded)
        for imp in imports(name, modules[name], modules)
        if imp.target.split(".")[0] in heavy
    ]
    assert found == []
    assert {"mosaic.plugin.dock", "mosaic.plugin.classify", "mosaic.backend.inference"} <= loaded  # the scan ran
    assert "mosaic.backend.training.module" in modules and "mosaic.backend.training.module" not in loaded


def test_hidden_and_development_files_stay_out(tmp_path):
    """A developer's local folders (``.gpu`` wheels, ``.venv``), dotfiles, tests and caches are not listed."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from package_plugin import plugin_files
    finally:
        sys.path.remove(str(REPO / "tools"))
    for name in (
        "plugin/dock.py",
        ".gpu/whl/torch.whl",
        ".gitignore",
        "plugin/.DS_Store",
        "tests/test_x.py",
        "backend/__pycache__/x.pyc",
        "metadata.txt",
        "model.onnx",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [str(p) for p in plugin_files(tmp_path)] == ["metadata.txt", "plugin/dock.py"]

"""The architecture's rules as tests (docs/architecture.md, docs/contracts.md): what each layer may import, which
packages the backend has, and that the documents name what the code holds."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from .import_graph import imports, module_files

REPO = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)


def _imported(folder: str) -> list[tuple[str, str]]:
    """(module:line, imported top-level or mosaic module) for every import under ``folder``."""
    modules = module_files(REPO, (folder,))
    return [
        (f"{imp.module}:{imp.line}", imp.target)
        for name, path in modules.items()
        if name.startswith(f"mosaic.{folder.replace('/', '.')}")
        for imp in imports(name, path, modules)
    ]


def backend_packages() -> list[str]:
    """The backend's packages (folders with an ``__init__.py``), e.g. ``predict``."""
    return sorted(p.parent.name for p in (REPO / "backend").glob("*/__init__.py"))


def test_engine_imports_only_stdlib_numpy_onnxruntime_and_its_errors():
    allowed = STDLIB | {"numpy", "onnxruntime"}
    found = [
        f"{where} {target}"
        for where, target in _imported("backend/inference")
        if not (
            target.split(".")[0] in allowed
            or target.startswith("mosaic.backend.inference")
            or target == "mosaic.backend.errors"
        )
    ]
    assert found == []


def test_plugin_imports_no_torch_rasterio_or_geopandas():
    banned = {"torch", "torchvision", "timm", "lightning", "torchmetrics", "rasterio", "geopandas", "pyogrio"}
    found = [f"{where} {target}" for where, target in _imported("plugin") if target.split(".")[0] in banned]
    assert found == []


def test_data_models_and_training_import_nothing_from_predict():
    found = [
        f"{where} {target}"
        for folder in ("backend/data", "backend/models", "backend/training")
        for where, target in _imported(folder)
        if target.startswith("mosaic.backend.predict")
    ]
    assert found == []


def test_backend_top_level_holds_only_shared_basics():
    modules = sorted(p.stem for p in (REPO / "backend").glob("*.py"))
    assert len(modules) <= 7, modules
    assert set(modules) <= {"__init__", "cli", "errors", "version", "atomic", "bench", "demo"}


def test_the_formatter_owns_the_layout_of_every_python_file():
    markers = ("# fmt: " + "skip", "# fmt: " + "off")  # split so that this file does not hold them itself
    folders = ("backend", "plugin", "tools", "tests")
    files = [p for f in folders for p in (REPO / f).rglob("*.py")] + [REPO / "__init__.py"]
    opted_out = [
        f"{p.relative_to(REPO)}:{i}"
        for p in files
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if any(m in line for m in markers)
    ]
    assert len(files) > 250
    assert opted_out == []


def test_every_backend_package_is_named_in_the_architecture_and_installed():
    architecture = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    unnamed = [p for p in backend_packages() if f"{p}/" not in architecture]
    assert unnamed == []
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.findall(r'^\s+"(mosaic[\w.]*)",$', pyproject.split("packages = [", 1)[1].split("]", 1)[0], re.M)
    packages = {".".join(("mosaic", *p.relative_to(REPO).parent.parts)) for p in REPO.glob("*/**/__init__.py")}
    packages = {p for p in packages if p.startswith(("mosaic.backend", "mosaic.plugin"))} | {"mosaic"}
    assert sorted(packages) == sorted(declared)


def test_every_command_module_exists():
    from mosaic.backend.cli import COMMANDS

    missing = [m for m, _ in COMMANDS.values() if not (REPO / "backend" / (m.replace(".", "/") + ".py")).is_file()]
    assert missing == []


def _code_names() -> set[str]:
    """Every name the code defines or spells: modules, functions, classes, attributes, keywords, string constants."""
    names = set()
    for path in [*REPO.glob("backend/**/*.py"), *REPO.glob("plugin/**/*.py")]:
        names.add(path.stem)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.keyword) and node.arg:
                names.add(node.arg)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.update(re.findall(r"[A-Za-z_][\w.]*", node.value))
    return names


#: a code span of contracts.md that names code: a dotted path, a call, or an identifier with an underscore or capital
CODE_SPAN = re.compile(r"`([A-Za-z_][\w.]*(?:\([^`]*\))?)`")


def test_contracts_name_what_the_code_holds():
    names = _code_names()
    text = (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
    missing = set()
    for span in CODE_SPAN.findall(text):
        head = span.split("(")[0]
        if not re.search(r"[_A-Z.(]", span):
            continue
        for part in head.split("."):
            if part and part not in names and part not in {"mosaic", "backend", "plugin", "py", "json", "yaml"}:
                missing.add(f"{span}: {part}")
    for path in re.findall(r"`((?:backend|plugin|resources)/[\w/.-]+)`", text):
        if not (REPO / path).exists():
            missing.add(path)
    assert sorted(missing) == []

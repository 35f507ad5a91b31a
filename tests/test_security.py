"""Security scan of every Python file of the repository (AST, not grep) and Bandit on the shipped folders.

Refused anywhere (backend, plugin, tools, tests): ``eval``/``exec``/``compile``, ``pickle``/``cPickle``/``dill``
``load(s)`` and ``Unpickler``, ``marshal`` and ``shelve``, ``torch.load`` without ``weights_only=True``, Lightning
checkpoint loads (``load_from_checkpoint``, ``fit/validate/test/predict(ckpt_path=...)``) without
``weights_only=True``, ``subprocess.*`` / ``asyncio.create_subprocess_*`` with ``shell=True`` or
``create_subprocess_shell``, ``os.system``/``os.popen``/``os.exec*``/``os.spawn*``, ``yaml.load`` without a safe
loader, ``yaml.unsafe_load``/``full_load``, ``np.load(allow_pickle=True)``.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".venv", ".git", "dist", "out", "runs", "__pycache__", ".pytest_cache", ".ruff_cache"}
SHIPPED = ["backend", "plugin", "tools", "__init__.py"]  #: what the plugin zip and the backend ship

_BUILTINS = {"eval", "exec", "compile", "__import__"}
_MODULE_CALLS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("cPickle", "load"),
    ("cPickle", "loads"),
    ("dill", "load"),
    ("dill", "loads"),
    ("marshal", "load"),
    ("marshal", "loads"),
    ("shelve", "open"),
    ("os", "system"),
    ("os", "popen"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
    ("yaml", "load_all"),
    ("asyncio", "create_subprocess_shell"),
    ("builtins", "eval"),
    ("builtins", "exec"),
}
_SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
_LIGHTNING_RUNS = {"fit", "validate", "test", "predict"}


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` of a Name/Attribute chain, or ``""``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _imports(tree: ast.AST) -> dict[str, str]:
    """Local name → full dotted name for ``import a.b as c`` and ``from a import b as c``."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update({a.asname or a.name: a.name for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    return names


def _call_problem(call: ast.Call, imports: dict[str, str]) -> str | None:
    """Why ``call`` is refused (``imports`` resolves aliases), or None."""
    func = call.func
    first, dot, rest = _dotted(func).partition(".")
    name = imports.get(first, first) + dot + rest
    head, _, last = name.rpartition(".")
    module = head.rsplit(".", 1)[-1]
    if isinstance(func, ast.Name) and func.id in _BUILTINS:
        return f"{func.id}() runs code built from data"
    if (module, last) in _MODULE_CALLS:
        return f"{name}() can run code from a file or a shell"
    if module == "os" and last.startswith(("exec", "spawn")):
        return f"{name}() replaces or spawns a process outside subprocess's argument lists"
    if module in {"subprocess", "asyncio"} and _keyword(call, "shell") is not None:
        if not (isinstance(_keyword(call, "shell"), ast.Constant) and _keyword(call, "shell").value is False):
            return f"{name}(shell=...) runs a shell; pass an argument list"
    if name == "torch.load":
        if not _is_true(_keyword(call, "weights_only")):
            return "torch.load without weights_only=True unpickles arbitrary objects"
    if last == "load_from_checkpoint" and not _is_true(_keyword(call, "weights_only")):
        return "load_from_checkpoint without weights_only=True"
    if last in _LIGHTNING_RUNS and _keyword(call, "ckpt_path") is not None:
        if not _is_true(_keyword(call, "weights_only")):
            return f"{last}(ckpt_path=...) without weights_only=True"
    if module == "yaml" and last == "load":
        loader = _keyword(call, "Loader") or (call.args[1] if len(call.args) > 1 else None)
        if loader is None or _dotted(loader).rsplit(".", 1)[-1] not in _SAFE_YAML_LOADERS:
            return "yaml.load without SafeLoader; use yaml.safe_load"
    if module in {"np", "numpy"} and last == "load" and _keyword(call, "allow_pickle") is not None:
        if not (isinstance(_keyword(call, "allow_pickle"), ast.Constant) and not _keyword(call, "allow_pickle").value):
            return "np.load(allow_pickle=...) unpickles arbitrary objects"
    return None


def scan_source(source: str, filename: str = "<string>") -> list[str]:
    """``"file:line: reason"`` for every refused call in ``source``."""
    tree = ast.parse(source, filename=filename)
    imports = _imports(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            problem = _call_problem(node, imports)
            if problem:
                found.append(f"{filename}:{node.lineno}: {problem}")
    return found


def python_files(root: Path = REPO) -> list[Path]:
    """Every ``.py`` file of the repository, without the venv and build outputs."""
    return sorted(p for p in root.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(root).parts))


@pytest.mark.parametrize(
    "snippet",
    [
        "eval('1+1')",
        "exec(code)",
        "compile(src, 'f', 'exec')",
        "import builtins\nbuiltins.eval(s)",
        "import pickle\npickle.load(fh)",
        "import pickle\npickle.loads(b)",
        "import pickle\npickle.Unpickler(fh).load()",
        "import marshal\nmarshal.loads(b)",
        "import shelve\nshelve.open('db')",
        "import torch\ntorch.load(p)",
        "import torch\ntorch.load(p, weights_only=False)",
        "import torch\ntorch.load(p, weights_only=flag)",
        "M.load_from_checkpoint(p)",
        "M.load_from_checkpoint(p, weights_only=False)",
        "trainer.fit(model, ckpt_path=p)",
        "import subprocess\nsubprocess.run('ls', shell=True)",
        "import subprocess\nsubprocess.Popen(cmd, shell=flag)",
        "import subprocess as sp\nsp.check_output('ls', shell=True)",
        "import os\nos.system('ls')",
        "import os\nos.popen('ls')",
        "import os\nos.execv(exe, argv)",
        "import yaml\nyaml.load(s)",
        "import yaml\nyaml.load(s, Loader=yaml.Loader)",
        "import yaml\nyaml.unsafe_load(s)",
        "import numpy as np\nnp.load(p, allow_pickle=True)",
        "from torch import load\nload(p)",
        "from os import system as run\nrun('ls')",
    ],
)
def test_scanner_refuses_planted_example(snippet):
    assert len(scan_source(snippet)) == 1, snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "model.eval()",
        "import re\nre.compile('x')",
        "import torch\ntorch.load(p, map_location='cpu', weights_only=True)",
        "M.load_from_checkpoint(p, map_location='cpu', weights_only=True)",
        "trainer.fit(model, ckpt_path=p, weights_only=True)",
        "trainer.fit(model, datamodule=d)",
        "import subprocess\nsubprocess.run(['ls', '-l'], capture_output=True)",
        "import subprocess\nsubprocess.run(['ls'], shell=False)",
        "import yaml\nyaml.safe_load(s)",
        "import yaml\nyaml.load(s, Loader=yaml.SafeLoader)",
        "import numpy as np\nnp.load(p)",
        "import pickle\ntry:\n    pass\nexcept pickle.UnpicklingError:\n    pass",
        "json.load(fh)",
    ],
)
def test_scanner_accepts_safe_code(snippet):
    assert scan_source(snippet) == []


def test_scanner_reports_file_and_line():
    assert scan_source("x = 1\nimport os\nos.system(cmd)\n", "a.py") == [
        "a.py:3: os.system() can run code from a file or a shell"
    ]


def test_repository_has_no_unsafe_calls():
    files = python_files()
    assert len(files) > 100 and REPO / "backend" / "export" / "from_checkpoint.py" in files  # the whole tree was seen
    assert not any(".venv" in p.parts for p in files)
    problems = [
        msg for path in files for msg in scan_source(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    ]
    assert problems == []


def test_bandit_finds_nothing_of_medium_or_high_severity_in_shipped_code():
    bandit = Path(sys.executable).with_name("bandit")
    assert bandit.is_file(), "bandit is a dev dependency; run `make setup`"
    argv = [str(bandit), "-q", "-r", *SHIPPED, "-ll", "-c", "pyproject.toml", "-f", "json"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout)
    scanned = {Path(name).parts[0] for name in report["metrics"] if name != "_totals"}
    assert {"backend", "plugin", "tools", "__init__.py"} <= scanned
    assert [(r["filename"], r["line_number"], r["test_id"]) for r in report["results"]] == []
    assert done.returncode == 0, done.stderr


def test_bandit_fails_on_a_planted_shell_call(tmp_path):
    bandit = Path(sys.executable).with_name("bandit")
    planted = tmp_path / "backend"
    shutil.copytree(REPO / "backend" / "inference", planted / "inference")
    (planted / "inference" / "planted.py").write_text(  # a variable command: Bandit rates a literal one LOW
        "import subprocess\n\n\ndef run(cmd: str) -> None:\n    subprocess.run(cmd, shell=True)\n"
    )
    argv = [str(bandit), "-q", "-r", str(planted), "-ll", "-c", str(REPO / "pyproject.toml"), "-f", "json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    ids = [r["test_id"] for r in json.loads(done.stdout)["results"]]
    assert done.returncode == 1 and ids == ["B602"]

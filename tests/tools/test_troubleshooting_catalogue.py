"""The troubleshooting catalogue (docs/troubleshooting.md, the bad-input and interruption table) matches the tests:
every test it names exists, and every message it quotes is asserted by one of those tests or written by the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "troubleshooting.md"
TITLE = "# When things go wrong"
CODE = re.compile(r"`([^`]+)`")


def _rows() -> list[list[str]]:
    text = PAGE.read_text(encoding="utf-8")
    assert text.startswith(TITLE), f"{PAGE.name} does not start with {TITLE!r}"
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Case")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows if not set(row) <= set("|- ")]


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def _source_text() -> str:
    files = [*ROOT.glob("backend/**/*.py"), *ROOT.glob("plugin/**/*.py")]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def test_every_row_names_existing_tests_and_real_messages():
    rows = _rows()
    assert len(rows) >= 30, "the table lists every case of issue 8"
    source = _source_text()
    for case, _where, sees, tests in rows:
        node_ids = CODE.findall(tests)
        assert node_ids, f"{case}: no test named"
        test_text = ""
        for node in node_ids:
            file, _, name = node.partition("::")
            path = ROOT / file
            assert path.is_file(), f"{case}: {file} does not exist"
            assert name.split("[")[0] in _test_functions(path), f"{case}: {node} is not a test"
            test_text += path.read_text(encoding="utf-8")
        for quoted in CODE.findall(sees):
            for piece in (p.strip() for p in quoted.split("…")):
                if len(piece) >= 8 and not piece.startswith("--"):
                    assert piece in test_text or piece in source, f"{case}: {piece!r} is neither tested nor in the code"

"""The README stays a short entry page (≤ 250 lines) whose links into the documentation site resolve: every relative
link or image names an existing file, and every ``#anchor`` is a heading of the linked page (as MkDocs slugs it)."""

from __future__ import annotations

import re
from pathlib import Path

from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")
MAX_LINES = 250


def _headings(page: Path) -> set[str]:
    """The anchors MkDocs gives the headings of ``page`` (code blocks skipped)."""
    anchors, fenced = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            anchors.add(slugify(line.lstrip("#").strip(), "-"))
    return anchors


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines; move details to a page under docs/"


def test_readme_links_resolve():
    targets = [t for t in LINK.findall(README.read_text(encoding="utf-8")) if "://" not in t]
    assert any(t.startswith("docs/") for t in targets), "the README links to no documentation page"
    for target in targets:
        file, _, anchor = target.partition("#")
        path = ROOT / file if file else README  # "#anchor": a heading of the README itself
        assert path.is_file(), f"README links to {file}, which does not exist"
        if anchor:
            assert anchor in _headings(path), f"README links to {target}: {file} has no heading with that anchor"

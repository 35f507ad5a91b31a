"""Build the plugins.qgis.org upload: ``dist/mosaic-<version>.zip`` with the single top folder ``mosaic``.

Holds the plugin and the backend code (the training dialog installs the backend into its own Python), the
configs and pinned requirements; leaves out tests, sample data, documentation sources, developer tools, virtual
environments, caches, compiled files, VCS folders and build outputs.
"""

from __future__ import annotations

import argparse
import configparser
import fnmatch
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP_FOLDER = "mosaic"
#: Hidden files and folders (``.git``, ``.venv``, caches, a developer's local ``.gpu``) never ship; nor do these.
EXCLUDED_DIRS = {
    "tests",
    "tools",
    "docs",
    "sample_data",
    "out",
    "dist",
    "build",
    "__pycache__",
    "lightning_logs",
    "runs",
}
EXCLUDED_FILES = ("*.pyc", "*.pyo", "Makefile", "mkdocs.yml", "*.egg-info", "*.onnx")
MAX_BYTES = 25 * 1024 * 1024


def plugin_files(root: Path = REPO) -> list[Path]:
    """Files that go into the plugin zip, relative to ``root``, sorted."""
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in EXCLUDED_DIRS or part.startswith(".") or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and not any(fnmatch.fnmatch(path.name, pat) for pat in EXCLUDED_FILES):
            files.append(rel)
    return files


def plugin_version(root: Path = REPO) -> str:
    """``version`` from metadata.txt."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(root / "metadata.txt", encoding="utf-8")
    return parser["general"]["version"]


def build(out_dir: Path, root: Path = REPO) -> Path:
    """Write the zip (atomically: temporary name, then rename) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{TOP_FOLDER}-{plugin_version(root)}.zip"
    partial = target.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel in plugin_files(root):
            archive.write(root / rel, f"{TOP_FOLDER}/{rel.as_posix()}")
    if partial.stat().st_size > MAX_BYTES:
        partial.unlink()
        raise SystemExit(f"package is larger than {MAX_BYTES // 2**20} MB: leave large files out")
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    target = build(args.out)
    print(f"wrote {target.relative_to(Path.cwd()) if target.is_relative_to(Path.cwd()) else target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Convert the official SEN12MS test list into ``resources/sen12ms/test_list.csv`` (plain text in, plain text out).

Inputs are the two **text** files of the public SEN12MS repository (github.com/schmitt-muc/SEN12MS, ``splits/``):
``SEN12MS_holdOutScenes.txt`` (the 26 hold-out scenes, ``ROIs1158_spring/s1_63`` per line) and ``test_list.txt``
(the 18,106 test patches, ``ROIs1158_spring_s2_124_p100.tif`` per line). The repository's ``*.pkl`` copies of the
lists are never read: unpickling runs code. The checks below make sure the two files describe the same split.

Output: one row per hold-out scene, ``scene,patches`` with ``scene`` = ``ROIs1158_spring/124`` and ``patches`` the
space-separated patch numbers of that scene in the official test list, ascending.

Usage: ``python tools/sen12ms_splits.py HOLDOUT_TXT TEST_LIST_TXT [--out resources/sen12ms/test_list.csv]``
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_SCENE = re.compile(r"^(ROIs\d+_[a-z]+)/s1_(\d+)$")
_PATCH = re.compile(r"^(ROIs\d+_[a-z]+)_s2_(\d+)_p(\d+)\.tif$")


def read_holdout(path: Path) -> list[str]:
    """Hold-out scenes as ``season/scene`` (``ROIs1158_spring/63``), in file order."""
    scenes = []
    for line in Path(path).read_text(encoding="ascii").split():
        match = _SCENE.match(line)
        if not match:
            raise ValueError(f"{path}: unexpected hold-out scene line {line!r}")
        scenes.append(f"{match.group(1)}/{match.group(2)}")
    return scenes


def read_test_list(path: Path) -> dict[str, list[int]]:
    """``season/scene`` → ascending patch numbers of the official test list."""
    patches: dict[str, list[int]] = defaultdict(list)
    names = Path(path).read_text(encoding="ascii").split()
    if len(names) != len(set(names)):
        raise ValueError(f"{path}: repeated patch names")
    for name in names:
        match = _PATCH.match(name)
        if not match:
            raise ValueError(f"{path}: unexpected test patch name {name!r}")
        patches[f"{match.group(1)}/{match.group(2)}"].append(int(match.group(3)))
    return {scene: sorted(p) for scene, p in patches.items()}


def convert(holdout: Path, test_list: Path, out: Path) -> int:
    """Write the CSV; returns the number of test patches. Raises ``ValueError`` when the two lists disagree."""
    scenes, patches = read_holdout(holdout), read_test_list(test_list)
    if set(scenes) != set(patches):
        raise ValueError(f"hold-out scenes and test list disagree: {sorted(set(scenes) ^ set(patches))}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="ascii") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["scene", "patches"])
        for scene in scenes:
            writer.writerow([scene, " ".join(map(str, patches[scene]))])
    return sum(map(len, patches.values()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("holdout", type=Path, help="splits/SEN12MS_holdOutScenes.txt of the SEN12MS repository")
    parser.add_argument("test_list", type=Path, help="splits/test_list.txt of the SEN12MS repository")
    parser.add_argument("--out", type=Path, default=REPO / "resources" / "sen12ms" / "test_list.csv")
    args = parser.parse_args(argv)
    n = convert(args.holdout, args.test_list, args.out)
    print(f"{args.out}: {n} test patches")


if __name__ == "__main__":
    main()

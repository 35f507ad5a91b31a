"""How many patches each split of a BigEarthNet v2 layout dataset holds (``metadata.parquet``'s ``split`` column),
for the training dialog's checks before a run starts.

``python -m mosaic.backend.data.dataset_summary ROOT`` prints one JSON line,
``{"event": "dataset", "splits": {"train": 6, "validation": 6, "test": 6}}``, or ``{"event": "error", "message": …}``
and exits 2. It reads one column with pandas (no torch): about a second, where starting a training takes 15–20 s.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

METADATA = "metadata.parquet"


def split_sizes(root: str | Path) -> dict[str, int]:
    """Patches per split (``train``, ``validation``, ``test``) of the dataset in ``root``."""
    import pandas as pd

    splits = pd.read_parquet(Path(root) / METADATA, columns=["split"])["split"]
    return {str(name): int(count) for name, count in splits.value_counts().items()}


def labelled_rows(n: int, fraction: float) -> int:
    """How many of ``n`` train patches keep their labels under ``label_fraction``: all at 1, else
    ``max(1, round(fraction · n))``, the size :func:`~mosaic.backend.data.subsets.label_fraction_subset` draws."""
    if fraction >= 1.0 or n == 0:
        return n
    return min(n, max(1, round(fraction * n)))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        event = {"event": "dataset", "splits": split_sizes(argv[0])}
    except (OSError, ValueError, KeyError, IndexError, ImportError) as exc:
        print(json.dumps({"event": "error", "message": f"cannot read {METADATA}: {exc}"}))
        return 2
    print(json.dumps(event))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The tables of ``mosaic experiment``: ``results.csv`` (one row per run), ``results.md`` (the article's layout) and
``results_ap_macro.png`` (bars with the seed spread).

``results.md`` holds one table per dataset × label fraction × evaluation mode with the strategies as rows and macro /
micro AP and F1 at 0.5 as columns (the article's metrics; its layout, not its numbers); each cell is ``mean ± s`` over
the seeds, ``s`` the sample standard deviation ``sqrt(Σ (x − mean)² / (n − 1))`` (``± –`` with one seed), and ``n``
the number of seeds. A table whose pre-trainings saw different numbers of images (``pretrain_images_seen``) is
refused: it says which runs differ instead of comparing them (and its plot panel stays empty).
"""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any

import yaml

from ..atomic import atomic_write

#: The test metrics of ``mosaic evaluate`` a row of ``results.csv`` carries, in order.
METRIC_COLUMNS: tuple[str, ...] = (
    "ap_macro",
    "ap_micro",
    "f1_macro",
    "f1_micro",
    "f1_macro_tuned",
    "f1_micro_tuned",
    "hamming_loss",
)
#: Columns of ``results.csv``, in order.
COLUMNS: tuple[str, ...] = (
    "dataset",
    "strategy",
    "eval_mode",
    "label_fraction",
    "seed",
    *METRIC_COLUMNS,
    "test_patches",
    "train_images",
    "labelled_images",
    "images_seen",
    "pretrain_images_seen",
    "labelled_sha256",
    "pretrain_seconds",
    "train_seconds",
    "eval_seconds",
    "checkpoint",
)
METRICS: tuple[tuple[str, str], ...] = (
    ("ap_macro", "AP macro"),
    ("ap_micro", "AP micro"),
    ("f1_macro", "F1 macro"),
    ("f1_micro", "F1 micro"),
)
MODE_TITLES = {
    "joint": "joint training (the pre-training's own classifier)",
    "linear_probe": "linear probe (frozen encoders, one linear layer)",
    "finetune": "fine-tuning (all weights, encoders at a lower learning rate)",
}


def mean_spread(values: list[float]) -> tuple[float, float | None]:
    """``(mean, sample standard deviation)`` of ``values``; the deviation is ``None`` for a single value."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _fraction(value: float | None) -> str:
    return "all labels" if value is None else f"{value:.0%} of the training labels"


def _groups(exp, rows: list[dict]) -> dict[tuple, list[dict]]:
    """Rows by (dataset, label fraction, mode, strategy), in the experiment's order."""
    out: dict[tuple, list[dict]] = {}
    for d in exp.datasets:
        for f in exp.label_fractions:
            for mode in exp.eval_modes:
                for s in exp.strategies:
                    key = (d.name, f, mode, s.name)
                    out[key] = [
                        r for r in rows if (r["dataset"], r["label_fraction"], r["eval_mode"], r["strategy"]) == key
                    ]
    return out


def budget_mismatch(rows: list[dict]) -> str | None:
    """``None`` when every row of a comparison had a pre-training of the same ``pretrain_images_seen`` (rows
    without it are pending), else a description of the differing budgets: ``"Supervised S1+S2 12, MoSAiC-1 24"``."""
    seen: dict[str, set[int]] = {}
    for r in rows:
        if r.get("pretrain_images_seen") is not None:
            seen.setdefault(r["strategy"], set()).add(int(r["pretrain_images_seen"]))
    if len(set().union(*seen.values())) <= 1:
        return None
    return ", ".join(f"{name} {'/'.join(str(v) for v in sorted(values))}" for name, values in seen.items())


def _comparison(groups: dict[tuple, list[dict]], exp, dataset: str, fraction, mode: str) -> list[dict]:
    return [r for s in exp.strategies for r in groups[dataset, fraction, mode, s.name]]


def markdown(exp, rows: list[dict], missing: list[str]) -> str:
    """``results.md``: the protocol, then one table per dataset × label fraction × evaluation mode."""
    settings = {"protocol": exp.protocol, "evaluation": exp.evaluation, "overrides": exp.overrides}
    lines = [
        f"# {exp.title}",
        "",
        f"Experiment `{exp.path.name}`: {len(exp.strategies)} strategies × "
        f"{len(exp.label_fractions)} label fraction(s) × {len(exp.seeds)} seed(s) {exp.seeds} × evaluation modes "
        f"{', '.join(exp.eval_modes)} × {len(exp.datasets)} dataset(s); test split, mean ± standard deviation "
        "over the seeds (n); F1 at 0.5. Settings (over each strategy's "
        "config and the protocol defaults):",
        "",
        "```yaml",
        yaml.safe_dump(settings, sort_keys=False).strip(),
        "```",
    ]
    groups = _groups(exp, rows)
    for d in exp.datasets:
        for f in exp.label_fractions:
            for mode in exp.eval_modes:
                lines += ["", f"## {d.name}, {_fraction(f)}: {MODE_TITLES[mode]}", ""]
                mismatch = budget_mismatch(_comparison(groups, exp, d.name, f, mode))
                if mismatch is not None:
                    lines.append(
                        "Not comparable: the pre-trainings saw different numbers of images (pretrain_images_seen: "
                        f"{mismatch}); every strategy needs the same budget (protocol.epochs, one batch size)."
                    )
                    continue
                lines += [
                    "| strategy | " + " | ".join(t for _, t in METRICS) + " | n |",
                    "|---|" + "---|" * (len(METRICS) + 1),
                ]
                for s in exp.strategies:
                    found = groups[d.name, f, mode, s.name]
                    cells = []
                    for key, _ in METRICS:
                        values = [r[key] for r in found if r.get(key) is not None]
                        if values:
                            mean, spread = mean_spread(values)
                            cells.append(f"{mean:.4f} ± {'–' if spread is None else f'{spread:.4f}'}")
                        else:
                            cells.append("pending")
                    lines.append(f"| {s.name} | " + " | ".join(cells) + f" | {len(found)} |")
    if missing:
        lines += ["", f"Pending ({len(missing)}): " + "; ".join(missing) + "."]
    lines += [
        "",
        "![macro AP per strategy, bars = mean, whiskers = standard deviation, dots = seeds](results_ap_macro.png)",
        "",
    ]
    return "\n".join(lines)


def csv_text(rows: list[dict]) -> str:
    """``results.csv``: :data:`COLUMNS`, one row per evaluated run."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def plot(exp, rows: list[dict], path: Path) -> None:
    """Bars of the mean macro AP per strategy and evaluation mode, whiskers ± one standard deviation over the seeds,
    one dot per seed; one panel per dataset × label fraction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(d, f) for d in exp.datasets for f in exp.label_fractions]
    groups = _groups(exp, rows)
    width = 0.8 / len(exp.eval_modes)
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(max(6.0, 1.3 * len(exp.strategies) + 2), 3.6 * len(panels)), squeeze=False, dpi=100
    )
    for ax, (d, f) in zip(axes[:, 0], panels):
        for j, mode in enumerate(exp.eval_modes):
            if budget_mismatch(_comparison(groups, exp, d.name, f, mode)) is not None:
                continue  # refused in results.md too
            xs, means, spreads = [], [], []
            for i, s in enumerate(exp.strategies):
                values = [r["ap_macro"] for r in groups[d.name, f, mode, s.name] if r.get("ap_macro") is not None]
                x = i - 0.4 + width * (j + 0.5)
                if values:
                    mean, spread = mean_spread(values)
                    xs.append(x)
                    means.append(mean)
                    spreads.append(spread or 0.0)
                    ax.scatter([x] * len(values), values, s=10, color="black", zorder=3)
            ax.bar(xs, means, width, yerr=spreads, capsize=3, label=mode.replace("_", " "), zorder=2)
        ax.set_xticks(range(len(exp.strategies)), [s.name for s in exp.strategies], rotation=20, ha="right")
        ax.set_ylabel("macro AP (test)")
        ax.set_ylim(0, 1)
        ax.set_title(f"{d.name}, {_fraction(f)}", fontsize=10)
        ax.grid(axis="y", alpha=0.3, zorder=0)
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def write_tables(exp, out: Path, rows: list[dict], missing: list[str]) -> list[Path]:
    """Write ``results.csv``, ``results.md`` and ``results_ap_macro.png`` into ``out``; returns their paths."""
    files = [out / "results.csv", out / "results.md", out / "results_ap_macro.png"]
    texts: dict[Path, Any] = {files[0]: csv_text(rows), files[1]: markdown(exp, rows, missing)}
    for path, text in texts.items():
        atomic_write(path, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    plot(exp, rows, files[2])
    return files

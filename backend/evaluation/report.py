"""What ``mosaic evaluate`` shows: the Markdown report, the heads table and t-SNE plots of the embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_write


def tsne_plot(embedding: np.ndarray, target: np.ndarray, class_names, title: str, path: Path, seed: int = 0) -> None:
    """2-D t-SNE of ``embedding`` coloured by each sample's rarest label (grey: no label) → PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    from ..data.classes import class_colors

    n = embedding.shape[0]
    xy = TSNE(n_components=2, perplexity=float(min(30, max(2, (n - 1) // 3))), init="pca", random_state=seed)
    xy = xy.fit_transform(embedding.astype(np.float64))
    counts = target.sum(0)
    rarity = np.where(target > 0, counts[None, :], np.inf)
    primary = np.where(target.any(1), rarity.argmin(1), -1)
    colors = class_colors(list(class_names))
    fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
    for c in [-1, *sorted(set(primary.tolist()) - {-1})]:
        sel = primary == c
        if sel.any():
            ax.scatter(
                xy[sel, 0],
                xy[sel, 1],
                s=18,
                c="#999999" if c < 0 else colors[c],
                label="no label" if c < 0 else class_names[c],
                edgecolors="none",
            )
    ax.set_title(f"{title}: t-SNE of {n} patches, coloured by rarest label", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight"))
    plt.close(fig)


def markdown_report(result: dict, plots: list[str]) -> str:
    """``report.md`` of an :func:`~.evaluate.evaluate_checkpoint` result with its t-SNE ``plots``."""
    m = result["metrics"]
    lines = [
        f"# MoSAiC evaluation: {result['checkpoint']}",
        "",
        f"Split `{result['split']}` ({m['n_samples']} patches); thresholds tuned on `{result['val_split']}`.",
        "Classes without positives are left out of the macro means: "
        + (", ".join(m["classes_without_positives"]) or "none")
        + ".",
        "",
        "| metric | at 0.5 | at tuned thresholds |",
        "|---|---|---|",
        f"| AP macro | {m['ap_macro']:.4f} | |",
        f"| AP micro | {m['ap_micro']:.4f} | |",
        f"| F1 macro | {m['f1_macro']:.4f} | {m['f1_macro_tuned']:.4f} |",
        f"| F1 micro | {m['f1_micro']:.4f} | {m['f1_micro_tuned']:.4f} |",
        f"| Hamming loss | {m['hamming_loss']:.4f} | {m['hamming_loss_tuned']:.4f} |",
        "",
        "| class | positives | AP | F1@0.5 | F1@tuned | threshold | Hamming | Brier |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def f(v):
        return "–" if v is None else f"{v:.4f}"

    for name, c in m["per_class"].items():
        lines.append(
            f"| {name} | {c['n_positives']} | {f(c['ap'])} | {f(c['f1'])} | {f(c['f1_tuned'])} | "
            f"{c['threshold']:.3f} | {c['hamming_loss']:.4f} | {c['brier']:.4f} |"
        )
    cloudy = (
        f"{result['cloudy_patches']} snow / cloud / shadow patches (split `{result['cloudy_split']}`)."
        if result.get("cloudy_patches")
        else "This dataset has no snow / cloud / shadow patches."
    )
    lines += [
        "",
        "## Heads on clean and on snow / cloud / shadow patches",
        "",
        "Each head at its own thresholds tuned on validation; the S1-only head never sees S2, so clouds cannot "
        f"reach it. {cloudy}",
        "",
        *heads_table(result),
    ]
    lines += ["", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)


def heads_table(result: dict) -> list[str]:
    """Markdown table lines: every head of an :func:`evaluate_checkpoint` result on the evaluated split and on the
    snow / cloud / shadow patches (:func:`head_rows`)."""
    lines = [
        "| head | patches | AP macro | AP micro | F1 macro (tuned) | F1 micro (tuned) |",
        "|---|---|---|---|---|---|",
    ]
    for head, row in head_rows(result):
        lines += [
            f"| {head}, {where} | {n} | {ap:.4f} | {ap_mi:.4f} | {f1:.4f} | {f1_mi:.4f} |"
            for where, n, ap, ap_mi, f1, f1_mi in row
        ]
    return lines


def head_rows(result: dict) -> list[tuple[str, list[tuple]]]:
    """``[(head, [(where, patches, AP macro, AP micro, F1 macro tuned, F1 micro tuned), ...]), ...]`` of an
    :func:`evaluate_checkpoint` result: every head on the evaluated split and on the snow / cloud / shadow patches."""
    rows = []
    for head, r in [("fused", result), *result.get("heads", {}).items()]:
        cells = []
        for where, m in ((result["split"], r["metrics"]), ("snow/cloud/shadow", r.get("cloudy_metrics"))):
            if m:
                cells.append(
                    (where, m["n_samples"], m["ap_macro"], m["ap_micro"], m["f1_macro_tuned"], m["f1_micro_tuned"])
                )
        rows.append((head, cells))
    return rows

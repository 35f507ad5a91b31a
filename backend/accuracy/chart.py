"""The report's bar chart: estimated area of each class with its 95 % confidence interval (matplotlib, Agg)."""

from __future__ import annotations

import io
from collections.abc import Sequence


def area_chart_png(
    names: Sequence[str],
    estimates: Sequence[float],
    ci95: Sequence[float],
    unit: str,
    mapped: Sequence[float] | None = None,
) -> bytes | None:
    """PNG of horizontal bars ``estimates ± ci95`` per class (with the mapped areas as diamonds where given); None
    when matplotlib is not installed (QGIS without it: the report says so)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return None
    height = 1.5 + 0.38 * len(names)
    figure = Figure(figsize=(8.5, height), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(names)))[::-1]
    axes.barh(
        positions, estimates, xerr=ci95, color="#4c78a8", ecolor="#222222", capsize=3, label="estimated ± 95 % CI"
    )
    if mapped is not None:
        axes.scatter(mapped, positions, marker="D", color="#f58518", zorder=3, label="mapped (pixel counting)")
    axes.set_yticks(positions, [n if len(n) <= 42 else n[:40] + "…" for n in names])
    axes.set_xlabel(f"area ({unit})")
    axes.set_xlim(left=0)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if x >= 100 or x == 0 else f"{x:g}"))
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize="small", frameon=False)
    axes.grid(axis="x", alpha=0.3)
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()

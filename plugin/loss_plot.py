"""A small live line plot (QPainter): training loss per step and validation metrics per epoch."""

from __future__ import annotations

import math

from qgis.PyQt.QtCore import QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QPainter, QPainterPath, QPen
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget

SERIES_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


class LossPlot(QWidget):
    """Plots named series of ``(x, y)`` points; each series is scaled to its own y range (shown in the legend).

    x is the training step; epoch metrics are placed at the step the epoch ended.
    """

    MARGIN = 8

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("mosaicLossPlot")
        self.setMinimumSize(320, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.series: dict[str, list[tuple[float, float]]] = {}

    def add_point(self, name: str, x: float, y: float) -> None:
        """Append a point to series ``name`` (non-finite values are skipped) and repaint."""
        if math.isfinite(x) and math.isfinite(y):
            self.series.setdefault(name, []).append((float(x), float(y)))
            self.update()

    def clear(self) -> None:
        self.series.clear()
        self.update()

    def x_range(self) -> tuple[float, float]:
        xs = [x for points in self.series.values() for x, _ in points]
        lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        return lo, hi if hi > lo else lo + 1.0

    @staticmethod
    def y_range(points: list[tuple[float, float]]) -> tuple[float, float]:
        ys = [y for _, y in points]
        lo, hi = min(ys), max(ys)
        return lo, hi if hi > lo else lo + 1.0

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("white"))
        legend_h = 16 * max(1, len(self.series))
        area = QRectF(self.rect()).adjusted(self.MARGIN, self.MARGIN + legend_h, -self.MARGIN, -self.MARGIN)
        painter.setPen(QPen(QColor("#999999"), 1))
        painter.drawRect(area)
        x0, x1 = self.x_range()
        for i, (name, points) in enumerate(self.series.items()):
            color = QColor(SERIES_COLORS[i % len(SERIES_COLORS)])
            y0, y1 = self.y_range(points)
            path = QPainterPath()
            for j, (x, y) in enumerate(points):
                px = area.left() + (x - x0) / (x1 - x0) * area.width()
                py = area.bottom() - (y - y0) / (y1 - y0) * area.height()
                path.moveTo(px, py) if j == 0 else path.lineTo(px, py)
                if len(points) == 1:
                    painter.setBrush(color)
                    painter.drawEllipse(QPointF(px, py), 2.5, 2.5)
            painter.setPen(QPen(color, 1.6))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
            last = points[-1][1]
            spread = f"  (axis {y0:.3g}–{y1:.3g})" if len({y for _, y in points}) > 1 else ""
            painter.drawText(QPointF(self.MARGIN, self.MARGIN + 12 + 16 * i), f"{name}: {last:.4g}{spread}")
        painter.end()

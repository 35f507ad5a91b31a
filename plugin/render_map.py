"""Render prediction outputs through QGIS with their styles: PNG maps and a QGIS project (used by ``make demo``).

Run as ``python -m mosaic.plugin.render_map OUT_DIR --model MODEL.onnx [--background S2_B04.tif ...]``: loads
``labels.tif``, ``confidence.tif``, ``probabilities.tif`` and ``tiles.gpkg`` from ``OUT_DIR`` as the dock does
(same layer group, same ``.qml`` styles), writes ``map_labels.png`` and ``map_confidence.png`` with
QgsMapRendererParallelJob, and saves ``demo.qgz`` so ``make qgis`` opens the styled result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

from ..backend.inference import read_metadata
from .classify import ClassifyResult, default_outputs
from .layers import add_result_layers


def render(layers: list, extent, path: Path, width: int = 600) -> None:
    """Render ``layers`` (top first) over ``extent`` to a PNG of ``width`` px (height keeps the aspect ratio)."""
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setDestinationCrs(layers[0].crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(width, max(1, round(width * extent.height() / extent.width()))))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(path), "PNG")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--title", default="MoSAiC demo")
    args = parser.parse_args(argv)

    app = QgsApplication([], False)
    app.initQgis()
    metadata = read_metadata(str(args.model))
    outputs = {k: p for k, p in default_outputs(args.out_dir).items() if p.exists()}
    result = ClassifyResult(outputs, tuple(metadata.class_names), tuple(metadata.class_colors))
    project = QgsProject.instance()
    _group, added = add_result_layers(result, args.title, project)
    labels: QgsRasterLayer = added["labels"]
    extent = labels.extent()
    render([labels], extent, args.out_dir / "map_labels.png")
    render([added["confidence"]], extent, args.out_dir / "map_confidence.png")
    project.write(str(args.out_dir / "demo.qgz"))
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())

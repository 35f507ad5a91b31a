"""Render prediction outputs through QGIS with their styles: PNG maps and a QGIS project (used by ``make demo``).

Run as ``python -m mosaic.plugin.render_map OUT_DIR --model MODEL.onnx [--background S2_FOLDER]``: loads
``labels.tif``, ``confidence.tif``, ``probabilities.tif`` and ``tiles.gpkg`` from ``OUT_DIR`` as the dock does
(same layer group, same styles), writes ``map_labels.png`` (the labels over the scene's true colour from the
``…_B04/B03/B02`` files of ``S2_FOLDER``, as an analyst sees them in QGIS) and ``map_confidence.png`` with
QgsMapRendererParallelJob, and saves ``demo.qgz`` so ``make qgis`` opens the styled result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsContrastEnhancement,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
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


TRUE_COLOUR = ("B04", "B03", "B02")  #: red, green, blue


def true_colour_layer(folder: Path, out_dir: Path) -> QgsRasterLayer | None:
    """The S2 band files B04, B03, B02 of ``folder`` as one RGB layer (a VRT in ``out_dir``), stretched by cumulative
    cut; None when the folder lacks one of them."""
    from osgeo import gdal

    from ..backend.inference.bandnames import recognise_band

    files = {recognise_band(p.name, TRUE_COLOUR): p for p in sorted(Path(folder).glob("*.tif"))}
    if not all(band in files for band in TRUE_COLOUR):
        return None
    vrt = Path(out_dir) / "true_colour.vrt"
    gdal.BuildVRT(str(vrt), [str(files[band]) for band in TRUE_COLOUR], separate=True).FlushCache()
    layer = QgsRasterLayer(str(vrt), "Sentinel-2 true colour", "gdal")
    layer.setContrastEnhancement(
        QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum,
        QgsRasterMinMaxOrigin.Limits.CumulativeCut,
    )
    return layer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--title", default="MoSAiC demo")
    parser.add_argument("--background", type=Path, help="folder of the S2 band files drawn under the labels")
    args = parser.parse_args(argv)

    from osgeo import gdal

    gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")  # statistics stay in memory: no .aux.xml beside the user's files
    app = QgsApplication([], False)
    app.initQgis()
    metadata = read_metadata(str(args.model))
    outputs = {k: p for k, p in default_outputs(args.out_dir).items() if p.exists()}
    result = ClassifyResult(outputs, tuple(metadata.class_names), tuple(metadata.class_colors))
    project = QgsProject.instance()
    _group, added = add_result_layers(result, args.title, project)
    labels: QgsRasterLayer = added["labels"]
    extent = labels.extent()
    background = true_colour_layer(args.background, args.out_dir) if args.background else None
    if background is not None:
        project.addMapLayer(background, False)
        project.layerTreeRoot().addLayer(background)  # below the run's group
    render([labels, *([background] if background is not None else [])], extent, args.out_dir / "map_labels.png")
    render([added["confidence"]], extent, args.out_dir / "map_confidence.png")
    project.write(str(args.out_dir / "demo.qgz"))
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())

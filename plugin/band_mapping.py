"""Which band of which QGIS raster layer feeds each model band (S2 may be one stack or one layer per band).

Band names are recognised by the engine's :func:`~mosaic.backend.inference.recognise_band` from the band
description, then (single-band layers) the file name, then the layer name. Candidates are searched in the
picked layer first, then layers in the same folder, then every other raster layer of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qgis.core import QgsProject, QgsRasterLayer


@dataclass(frozen=True, eq=False)
class BandSource:
    """Band ``band`` (1-based) of raster ``layer``."""

    layer: QgsRasterLayer
    band: int

    def __eq__(self, other) -> bool:
        return isinstance(other, BandSource) and (self.layer.id(), self.band) == (other.layer.id(), other.band)

    def __hash__(self) -> int:
        return hash((self.layer.id(), self.band))


def layer_file(layer: QgsRasterLayer) -> str:
    """The file behind a layer (``source()`` without GDAL open options), or ``""``."""
    return layer.source().split("|")[0]


def band_texts(layer: QgsRasterLayer, band: int) -> list[str]:
    """Texts that may name band ``band`` of ``layer``, most specific first."""
    provider = layer.dataProvider()
    texts = [provider.bandDescription(band) if hasattr(provider, "bandDescription") else "", layer.bandName(band)]
    if layer.bandCount() == 1:
        texts += [Path(layer_file(layer)).name, layer.name()]
    return [t for t in texts if t]


def recognised_name(layer: QgsRasterLayer, band: int, names: tuple[str, ...]) -> str | None:
    """The model band name (one of ``names``) that band ``band`` of ``layer`` holds, or None."""
    from ..backend.inference import recognise_band  # the engine needs onnxruntime: import it late

    for text in band_texts(layer, band):
        found = recognise_band(text, names)
        if found is not None:
            return found
    return None


def project_rasters(project: QgsProject | None = None) -> list[QgsRasterLayer]:
    """The project's valid raster layers in layer-tree order."""
    project = project or QgsProject.instance()
    tree_order = [node.layer() for node in project.layerTreeRoot().findLayers()]
    return [lyr for lyr in tree_order if isinstance(lyr, QgsRasterLayer) and lyr.isValid()]


def candidate_layers(picked: QgsRasterLayer | None, layers: list[QgsRasterLayer]) -> list[QgsRasterLayer]:
    """``layers`` in search order: ``picked``, then layers in its folder, then the rest."""
    layers = list(layers)
    if picked is None:
        return layers
    folder = Path(layer_file(picked)).parent

    def rank(layer: QgsRasterLayer) -> int:
        if layer.id() == picked.id():
            return 0
        return 1 if Path(layer_file(layer)).parent == folder else 2

    if picked.id() not in {lyr.id() for lyr in layers}:
        layers.insert(0, picked)
    return sorted(layers, key=rank)


def detect_mapping(
    names: tuple[str, ...], picked: QgsRasterLayer | None, layers: list[QgsRasterLayer] | None = None
) -> dict[str, BandSource | None]:
    """Model band name → the first recognised source among ``layers`` (default: the project's rasters)
    searched in :func:`candidate_layers` order; None when not found."""
    mapping: dict[str, BandSource | None] = dict.fromkeys(names)
    for layer in candidate_layers(picked, project_rasters() if layers is None else layers):
        for band in range(1, layer.bandCount() + 1):
            name = recognised_name(layer, band, names)
            if name is not None and mapping[name] is None:
                mapping[name] = BandSource(layer, band)
    return mapping


def missing(mapping: dict[str, BandSource | None]) -> list[str]:
    """Model bands without a source, in model order."""
    return [name for name, source in mapping.items() if source is None]

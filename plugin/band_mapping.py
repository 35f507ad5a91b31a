"""Which band of which QGIS raster layer feeds each model band, decided by the engine's one band resolver.

The plugin only gathers facts: :func:`raster_info` describes a layer as the engine's
:class:`~mosaic.backend.inference.rasters.RasterInfo` (as ``mosaic predict`` describes a file), and
:func:`detect_mapping` hands layers to :func:`~mosaic.backend.inference.band_resolver.resolve_bands` (band
descriptions, file and layer names incl. STAC common names, a stack in the model's order, partial names). The
layers tried, widest last: the picked layer alone, with the layers of its folder, with every other layer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCsException,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsUnitTypes,
)

from ..backend.errors import InputError

#: QGIS raster data types → numpy types (the stored values)
NUMPY_TYPES = {
    Qgis.DataType.Byte: "uint8",
    Qgis.DataType.UInt16: "uint16",
    Qgis.DataType.Int16: "int16",
    Qgis.DataType.UInt32: "uint32",
    Qgis.DataType.Int32: "int32",
    Qgis.DataType.Float32: "float32",
    Qgis.DataType.Float64: "float64",
}
_GENERIC_BAND_NAME = re.compile(r"\w+ 0*(\d+)")  #: QGIS's own band names ("Band 1"): no information


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


def gdal_dataset(layer: QgsRasterLayer):
    """The GDAL dataset of ``layer`` when it is a plain file GDAL opens alike (no open options), else None."""
    from osgeo import gdal

    if layer.providerType() != "gdal" or "|" in layer.source():
        return None
    dataset = gdal.OpenEx(layer.source(), gdal.OF_RASTER | gdal.OF_READONLY)
    if dataset is None or (dataset.RasterXSize, dataset.RasterYSize) != (layer.width(), layer.height()):
        return None
    return dataset


def _band_name(layer: QgsRasterLayer, band: int) -> str:
    """QGIS's name of the band when it says more than "Band 1" (e.g. "Band 1: B02"), else ""."""
    name = layer.bandName(band)
    generic = _GENERIC_BAND_NAME.fullmatch(name)
    return "" if generic is not None and int(generic.group(1)) == band else name


def _bands(layer: QgsRasterLayer, dataset) -> tuple[list, str, dict[str, str]]:
    """``(BandInfo per band, numpy dtype name, dataset metadata)``: from GDAL for a plain file (the stored
    values' facts, as ``mosaic predict`` reads them), else from the QGIS provider."""
    from ..backend.inference.rasters import BandInfo

    if dataset is not None:
        from osgeo import gdal_array

        bands = []
        for b in range(1, dataset.RasterCount + 1):
            band = dataset.GetRasterBand(b)
            scale, offset = band.GetScale(), band.GetOffset()
            scale, offset = 1.0 if scale is None else float(scale), 0.0 if offset is None else float(offset)
            bands.append(BandInfo(band.GetDescription() or _band_name(layer, b), band.GetNoDataValue(), scale, offset))
        numeric = gdal_array.GDALTypeCodeToNumericTypeCode(dataset.GetRasterBand(1).DataType)
        return bands, _np_name(numeric), dict(dataset.GetMetadata() or {})
    provider = layer.dataProvider()
    bands = [
        BandInfo(
            _band_name(layer, b),
            provider.sourceNoDataValue(b) if provider.sourceHasNoDataValue(b) else None,
            provider.bandScale(b),
            provider.bandOffset(b),
        )
        for b in range(1, layer.bandCount() + 1)
    ]
    return bands, NUMPY_TYPES.get(provider.sourceDataType(1), "complex64"), {}


def _np_name(numeric) -> str:
    """numpy's name of a numpy type (``uint16``), ``complex64`` for anything else."""
    import numpy as np

    return np.dtype(numeric).name if numeric is not None else "complex64"


def raster_info(layer: QgsRasterLayer):
    """The facts the engine's input inspector needs about ``layer`` (a
    :class:`~mosaic.backend.inference.rasters.RasterInfo`): bands, stored type, CRS, ground pixel size in metres
    at the centre (projected: from the CRS's scale there, ``projected_pixel_m``, as ``mosaic predict``;
    geographic: ``ground_pixel_m`` at the centre latitude; None when the CRS cannot be placed on the Earth), the
    centre in WGS 84 and GDAL metadata."""
    from ..backend.inference.rasters import RasterInfo, ground_pixel_m, projected_pixel_m

    dataset = gdal_dataset(layer)
    bands, dtype, tags = _bands(layer, dataset)
    crs = layer.crs()
    dx, dy = layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY()
    extent = layer.extent()
    # the centre of pixel (height // 2, width // 2), as rasterio's ds.xy does
    x = extent.xMinimum() + (layer.width() // 2 + 0.5) * dx
    y = extent.yMaximum() - (layer.height() // 2 + 0.5) * dy
    centre = points = None
    if crs.isValid():
        wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
        try:  # the centre, and the points one pixel east and one pixel south of it
            transform = QgsCoordinateTransform(crs, wgs84, QgsProject.instance())
            points = [transform.transform(QgsPointXY(px, py)) for px, py in ((x, y), (x + dx, y), (x, y - dy))]
            points = tuple((p.x(), p.y()) for p in points)
            if all(math.isfinite(v) for p in points for v in p):
                centre = points[0]
        except QgsCsException:
            centre = None
    pixel_m, metres, scale = None, False, None
    if centre is not None and crs.isGeographic():
        pixel_m = ground_pixel_m(dx, dy, centre[1])
    elif centre is not None:
        factor = QgsUnitTypes.fromUnitToUnitFactor(crs.mapUnits(), QgsUnitTypes.DistanceUnit.DistanceMeters)
        standard = QgsUnitTypes.DistanceUnitType.Standard
        if QgsUnitTypes.unitType(crs.mapUnits()) == standard and math.isfinite(factor) and factor > 0:
            pixel_m, scale = projected_pixel_m(dx, dy, factor, points)
            metres = crs.mapUnits() == QgsUnitTypes.DistanceUnit.DistanceMeters
    name = (crs.authid() or crs.description()) if crs.isValid() else ""
    return RasterInfo(layer_file(layer), layer.name(), tuple(bands), dtype, name, pixel_m, metres, centre, tags, scale)


def project_rasters(project: QgsProject | None = None) -> list[QgsRasterLayer]:
    """The project's valid raster layers in layer-tree order."""
    project = project or QgsProject.instance()
    tree_order = [node.layer() for node in project.layerTreeRoot().findLayers()]
    return [lyr for lyr in tree_order if isinstance(lyr, QgsRasterLayer) and lyr.isValid()]


#: names of cloud masks and cloud probabilities as common products spell them: Major-TOM's ``cloud_mask``,
#: ``cloudmask``, ``cloud_prob(ability)``, Sen2Cor's ``MSK_CLDPRB``, Sentinel Hub's ``CLM``, ``s2cloudless``, ``Fmask``,
#: Earth Engine's ``QA60``
_CLOUD_MASK_NAME = re.compile(
    r"(?<![a-z])(cloud[_ -]?(mask|prob|probability)|cloudmask|cldprb|clm|s2cloudless|fmask|qa60)(?![a-z])",
    re.IGNORECASE,
)


def names_cloud_mask(text: str) -> bool:
    """True when ``text`` (a band description, file or layer name) names a cloud mask or cloud probability."""
    return _CLOUD_MASK_NAME.search(text) is not None


def find_cloud_layer(picked: QgsRasterLayer | None, layers: list[QgsRasterLayer]) -> QgsRasterLayer | None:
    """The cloud layer beside the S2 bands: the first of :func:`candidate_layers` (the S2 layer itself, its folder,
    the rest) whose layer name, file name or a band names a scene classification layer (``SCL``), a cloud mask or a
    cloud probability (:func:`names_cloud_mask`)."""
    from ..backend.inference.clouds import names_scl

    for layer in candidate_layers(picked, layers) if picked is not None else []:
        texts = [layer.name(), Path(layer_file(layer)).name]
        texts += [_band_name(layer, band) for band in range(1, layer.bandCount() + 1)]
        if any(names_scl(text) or names_cloud_mask(text) for text in texts):
            return layer
    return None


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
    """Model band name → its source among ``layers`` (default: the project's rasters), as the engine's band
    resolver decides on the picked layer alone, then with the layers of its folder, then with all of them; when
    none of these resolves, the bands whose names are recognised (first in :func:`candidate_layers` order) and
    None for the others."""
    from ..backend.inference.band_resolver import band_name, resolve_bands

    candidates = candidate_layers(picked, project_rasters() if layers is None else layers)
    modality = "S1" if set(names) <= {"VV", "VH", "HH", "HV"} else "S2"
    infos = {layer.id(): raster_info(layer) for layer in candidates}
    for group in _widening(picked, candidates):
        try:
            picks = resolve_bands([infos[layer.id()] for layer in group], names, modality)
        except InputError:
            continue
        return {p.band: BandSource(group[p.raster], p.index) for p in picks}
    mapping: dict[str, BandSource | None] = dict.fromkeys(names)
    for layer in candidates:
        info = infos[layer.id()]
        for band in range(1, info.count + 1):
            name = band_name(info, band)
            if name in mapping and mapping[name] is None:
                mapping[name] = BandSource(layer, band)
    return mapping


def _widening(picked: QgsRasterLayer | None, candidates: list[QgsRasterLayer]) -> list[list[QgsRasterLayer]]:
    """The layer sets tried in turn: ``picked`` alone, with the layers of its folder, every candidate."""
    if picked is None:
        return [candidates]
    folder = Path(layer_file(picked)).parent
    same_folder = [lyr for lyr in candidates if lyr.id() == picked.id() or Path(layer_file(lyr)).parent == folder]
    groups, ids = [], []
    for group in ([picked], same_folder, candidates):
        if [lyr.id() for lyr in group] not in ids:
            groups.append(group)
            ids.append([lyr.id() for lyr in group])
    return groups


def missing(mapping: dict[str, BandSource | None]) -> list[str]:
    """Model bands without a source, in model order."""
    return [name for name, source in mapping.items() if source is None]

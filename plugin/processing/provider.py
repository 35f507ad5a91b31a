"""The ``mosaic`` Processing provider."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..paths import ICON_PATH


class MosaicProvider(QgsProcessingProvider):
    """Registers the MoSAiC algorithms under the provider id ``mosaic``."""

    def id(self) -> str:
        return "mosaic"

    def name(self) -> str:
        return "MoSAiC land cover"

    def longName(self) -> str:
        return "MoSAiC multi-modal (Sentinel-1 + Sentinel-2) land-cover classification"

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def loadAlgorithms(self) -> None:
        from .algorithms import all_algorithms

        for algorithm in all_algorithms():
            self.addAlgorithm(algorithm)

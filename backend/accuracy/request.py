"""The typed requests between the commands (``mosaic sample``, ``mosaic assess``, Processing) and the library."""

from __future__ import annotations

from dataclasses import dataclass

from .design import DEFAULT_EXPECTED_ACCURACY, DEFAULT_MINIMUM, DEFAULT_TARGET_SE


@dataclass(frozen=True)
class SampleRequest:
    """Draw a stratified random sample of a run's cells into the GeoPackage ``out``."""

    labels: str  #: the run's labels.tif
    probabilities: str  #: the run's probabilities.tif (its band descriptions name the classes)
    out: str  #: the sample GeoPackage to write (a QGIS style .qml is written beside it)
    strata: str = "top-class"  #: ``top-class``, ``presence`` (of ``presence_class``) or ``layer``
    presence_class: str | None = None  #: the class whose presence makes the two strata
    strata_layer: str | None = None  #: a raster (its values) or a vector (``strata_field``) of strata
    strata_field: str | None = None  #: the stratum field of a vector stratum layer
    allocation: str = "compromise"  #: ``compromise``, ``proportional`` or ``equal``
    minimum: int = DEFAULT_MINIMUM  #: compromise allocation: units per rare stratum
    total: int | None = None  #: sample size (None: from ``target_se``, Olofsson et al. 2014 eq. 13)
    target_se: float = DEFAULT_TARGET_SE  #: target standard error of overall accuracy
    expected_accuracy: float = DEFAULT_EXPECTED_ACCURACY  #: anticipated user's accuracy of every stratum
    seed: int = 0  #: the random draw's seed (same seed, same sample)
    overwrite: bool = False  #: replace an existing ``out``


@dataclass(frozen=True)
class AssessRequest:
    """Assess a map from a labelled sample, and/or its agreement with a reference raster, into the folder ``out``.

    The sample is a GeoPackage of ``mosaic sample`` (its strata areas inside) or a CSV of ``map,reference[,stratum]``
    rows with ``areas`` (CSV ``stratum,area``). A ``reference`` (raster or vector) labels the sample's units; a
    reference raster with the map (``labels``/``probabilities``) also gives the agreement cross-tabulation.
    """

    out: str  #: output folder
    sample: str | None = None  #: labelled sample: GeoPackage of ``mosaic sample`` or CSV
    areas: str | None = None  #: CSV ``stratum,area`` (with a CSV sample)
    area_unit: str = "pixels"  #: unit of the CSV areas
    labels: str | None = None  #: the run's labels.tif (for agreement)
    probabilities: str | None = None  #: the run's probabilities.tif (for agreement)
    reference: str | None = None  #: reference raster or vector file
    reference_layer: str | None = None  #: layer of a vector reference (None: the first)
    reference_field: str | None = None  #: vector reference: field of the (top) class
    reference_labels_field: str | None = None  #: vector reference: field of the multi-labels (``;``- or ``,``-joined)
    class_map: str | None = None  #: ``corine`` or a CSV ``value,class`` mapping reference values to map classes
    overwrite: bool = False  #: replace existing outputs in ``out``

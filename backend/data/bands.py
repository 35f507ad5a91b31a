"""The one place that defines band names, band order, native resolutions and normalisation statistics.

Canonical band order (stored with every checkpoint and model):

* Sentinel-2 L2A: ESA order restricted to the chosen band set. ``s2_10`` (default, the reference ``s2`` set):
  B02 B03 B04 B05 B06 B07 B08 B8A B11 B12; ``s2_12``: B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B11 B12.
  Values are reflectance × 10000 (UInt16 on disk, float32 in memory), nodata 0.
* Sentinel-1 GRD: VV, VH (this order; torchgeo returns VH, VV), backscatter in dB (float32), nodata NaN.

All bands are brought to the 10 m grid (120 × 120 px per BigEarthNet patch); 20 m and 60 m bands are
upsampled with nearest (default) or bilinear, both exactly as the reBEN reference reader
(:func:`~mosaic.backend.data.readers.upsample`).

Normalisation: ``x_norm = (x - mean) / std`` per band, with the published train-split statistics of the dataset
(:data:`STATISTICS`): BigEarthNet v2.0 per upsampling (ConfigILM ``BENv2_utils.py``, ``STATS``) or SEN12MS
(official classification code, ``SEN12MS_STATS``).
"""

from __future__ import annotations

import math
from typing import Literal

Upsampling = Literal["nearest", "bilinear"]

S2_BANDS_ALL: tuple[str, ...] = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B11",
    "B12",
)
S2_BAND_SETS: dict[str, tuple[str, ...]] = {
    "s2_10": ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"),
    "s2_12": S2_BANDS_ALL,
}
S1_BANDS: tuple[str, ...] = ("VV", "VH")

#: Native ground sampling distance of each band in metres.
GSD_M: dict[str, int] = {
    "B01": 60,
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B06": 20,
    "B07": 20,
    "B08": 10,
    "B8A": 20,
    "B09": 60,
    "B11": 20,
    "B12": 20,
    "VV": 10,
    "VH": 10,
}

PATCH_SIZE_PX = 120  #: BigEarthNet patch side at 10 m (1200 m)
TARGET_GSD_M = 10  #: every band is brought to this grid

S2_NODATA = 0  #: UInt16 nodata of Sentinel-2 L2A files
#: DN convention of the training data (BigEarthNet, 2017–2018, processing baseline before 04.00):
#: reflectance = (DN + add_offset) / quantification_value; ``mosaic prepare`` harmonises own scenes to it
S2_RADIOMETRY = {"level": "L2A", "quantification_value": 10000, "add_offset": 0}

#: Published per-band (mean, std) of the official BigEarthNet v2.0 train split, per upsampling.
STATS: dict[str, dict[str, tuple[float, float]]] = {
    "nearest": {
        "B01": (361.0767822265625, 575.0687255859375),
        "B02": (438.3720703125, 607.02685546875),
        "B03": (614.0556640625, 603.2968139648438),
        "B04": (588.4096069335938, 684.56884765625),
        "B05": (942.8433227539062, 738.4326782226562),
        "B06": (1769.931640625, 1100.4560546875),
        "B07": (2049.551513671875, 1275.805419921875),
        "B08": (2193.2919921875, 1369.3717041015625),
        "B8A": (2235.556640625, 1356.5440673828125),
        "B09": (2241.455322265625, 1316.393310546875),
        "B11": (1568.226806640625, 1070.1612548828125),
        "B12": (997.7324829101562, 813.5276489257812),
        "VV": (-12.643863677978516, 5.133493900299072),
        "VH": (-19.352558135986328, 5.590505599975586),
    },
    "bilinear": {
        "B01": (360.64678955078125, 563.1734008789062),
        "B02": (438.3720703125, 607.02685546875),
        "B03": (614.0556640625, 603.2968139648438),
        "B04": (588.4096069335938, 684.56884765625),
        "B05": (942.7476806640625, 727.5784301757812),
        "B06": (1769.8486328125, 1087.4288330078125),
        "B07": (2049.475830078125, 1261.4302978515625),
        "B08": (2193.2919921875, 1369.3717041015625),
        "B8A": (2235.48681640625, 1342.490478515625),
        "B09": (2241.10595703125, 1294.35546875),
        "B11": (1568.2115478515625, 1063.9197998046875),
        "B12": (997.715087890625, 806.8846435546875),
        "VV": (-12.643863677978516, 5.133493900299072),
        "VH": (-19.352558135986328, 5.590505599975586),
    },
}


#: Published per-band (mean, std) of the SEN12MS train split: ``bands_mean`` / ``bands_std`` of the official
#: multi-label classification code (github.com/schmitt-muc/SEN12MS ``classification/main_train.py`` and
#: ``dataset.py``); S2 L1C DN (no clipping), S1 dB after clipping to [-25, 0] dB (:data:`S1_CLIP_DB`).
#: Only the 10 bands of ``s2_10`` are published (no B01, B09).
SEN12MS_STATS: dict[str, tuple[float, float]] = {
    "B02": (1226.4215, 741.6254),
    "B03": (1137.3799, 740.883),
    "B04": (1139.6792, 960.1045),
    "B05": (1350.9973, 946.76056),
    "B06": (1932.9058, 985.52747),
    "B07": (2211.1584, 1082.4341),
    "B08": (2154.9846, 1057.7628),
    "B8A": (2409.1128, 1136.1942),
    "B11": (2001.8622, 1132.7898),
    "B12": (1356.0801, 991.48016),
    "VV": (-11.76858, 4.525339),
    "VH": (-18.294598, 4.3586307),
}

#: Normalisation statistics by dataset name (as registered in :func:`mosaic.backend.data.make_dataset`) and
#: upsampling; SEN12MS is released on the 10 m grid, so only ``nearest`` (no upsampling) applies.
STATISTICS: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "bigearthnet_v2": STATS,
    "sen12ms": {"nearest": SEN12MS_STATS},
}


#: S1 backscatter range of the official SEN12MS classification code (dB): ``np.clip(s1, -25, 0)``.
S1_CLIP_DB = (-25.0, 0.0)

#: Value ranges the training data was clipped to, by dataset name and band (physical units): the model clips its
#: inputs to them in the graph (:class:`~mosaic.backend.models.normalization.BandNormalization`), so inference sees
#: what training saw. Datasets not listed are not clipped.
INPUT_RANGES: dict[str, dict[str, tuple[float, float]]] = {"sen12ms": {"VV": S1_CLIP_DB, "VH": S1_CLIP_DB}}


def band_ranges(bands: tuple[str, ...] | list[str], statistics: str = "bigearthnet_v2") -> list | None:
    """``[(low, high)]`` per band of ``bands`` for the dataset ``statistics`` (±inf where a band is not clipped),
    or ``None`` when none of them is (:data:`INPUT_RANGES`)."""
    ranges = INPUT_RANGES.get(statistics, {})
    if not any(b in ranges for b in bands):
        return None
    return [ranges.get(b, (-math.inf, math.inf)) for b in bands]


def s2_bands(band_set: str = "s2_10") -> tuple[str, ...]:
    """The ordered S2 band names of ``band_set`` (``s2_10`` or ``s2_12``)."""
    try:
        return S2_BAND_SETS[band_set]
    except KeyError:
        raise ValueError(f"unknown S2 band set {band_set!r}; choose one of {sorted(S2_BAND_SETS)}") from None


def band_stats(
    bands: tuple[str, ...] | list[str], upsampling: Upsampling = "nearest", statistics: str = "bigearthnet_v2"
) -> tuple[list, list]:
    """Per-band ``(means, stds)`` lists for ``bands`` in the given order: the published ``statistics``
    (:data:`STATISTICS`, a dataset name) matching ``upsampling``; ``ValueError`` where none are published."""
    try:
        table = STATISTICS[statistics][upsampling]
    except KeyError:
        raise ValueError(f"no published {statistics!r} statistics for {upsampling!r} upsampling") from None
    missing = [b for b in bands if b not in table]
    if missing:
        raise ValueError(
            f"no published {statistics!r} statistics for band(s) {', '.join(missing)}: choose bands it covers "
            "(SEN12MS: s2_10) or give model.norm_mean / model.norm_std (`mosaic stats` computes them)"
        )
    return [table[b][0] for b in bands], [table[b][1] for b in bands]


def input_spec(bands: list[str], mean: list[float], std: list[float], s1: bool) -> dict:
    """The data convention of ``bands`` as a model-metadata ``inputs`` entry (JSON-ready; S2 records the DN
    convention, ``radiometry``, schema v2): written by ``mosaic export``, the target of ``mosaic prepare``."""
    spec = {
        "bands": list(bands),
        "units": "dB" if s1 else "reflectance x 10000",
        "dtype": "float32",
        "nodata": "nan" if s1 else S2_NODATA,
        "gsd_m": [GSD_M[b] for b in bands],
        "normalisation": {
            "method": "standardise",
            "mean": list(map(float, mean)),
            "std": list(map(float, std)),
            "in_graph": True,
        },
    }
    if not s1:
        spec["radiometry"] = dict(S2_RADIOMETRY)
    return spec

"""Facts about the published BigEarthNet v2.0 (reBEN) models of BIFOLD / TU Berlin: model ids, versions, band orders,
statistics, classes and architectures.

Sources: the model cards on the Hugging Face organisation ``BIFOLD-BigEarthNetv2-0`` (licence MIT; band orders per
version), and ``configilm`` (the library the models were trained and published with: ``BENv2_utils`` statistics,
nearest upsampling, label order; ``ConfigILM`` builds ``timm.create_model(timm_model_name, num_classes=19,
in_chans=channels, img_size=120, drop_rate, drop_path_rate)``, dropping the keyword arguments a model does not take).

* Model ids: ``<timm name>-<band config>-v<version>``, band config ``s1`` (2 channels), ``s2`` (10) or ``all`` (12),
  e.g. ``resnet50-all-v0.2.0``. ``config.json`` does not say the version: only the id does.
* Band orders changed between versions (:data:`BAND_ORDERS`): v0.1.1 S2 ``B02 B03 B04 B08 B05 B06 B07 B11 B12 B8A``,
  S1 ``VH VV``, S1+S2 = S2 then S1; v0.2.0 S2 in ESA order, S1 ``VV VH``, S1+S2 = S1 then S2.
* Every published model takes 120 × 120 px at 10 m; the 20 m bands are upsampled with nearest (pixel replication),
  then ``x' = (x − mean) / std`` per band with the BigEarthNet v2.0 train statistics of that upsampling (the same
  values as :data:`mosaic.backend.data.bands.STATS` ``["nearest"]``). S2 is L2A reflectance × 10000 as in the
  BigEarthNet v2.0 GeoTIFFs (2017–2018, processing baseline before 04.00: no +1000 DN offset), S1 is dB.
* Outputs: 19 logits in the alphabetical order of the class names (configilm ``NEW_LABELS``), sigmoid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..data.bands import S2_RADIOMETRY, band_stats
from ..data.classes import BEN19_CLASSES
from ..errors import ModelError

ORGANISATION = "BIFOLD-BigEarthNetv2-0"  #: the Hugging Face organisation that publishes the models
LICENCE = "MIT"  #: licence of the published weights (model cards) and of the training code
DATASET = "BigEarthNet v2.0 (reBEN): official train split, all labels"
DATASET_LICENCE = "CDLA-Permissive-1.0"
PATCH_SIZE_PX = 120  #: input side of every published model (also ViT-B/8 and Mixer-B/16: no 224 px resize)
UPSAMPLING = "nearest"  #: how the 20 m bands were brought to 10 m in training (configilm ``stack_and_interpolate``)
RADIOMETRY = dict(S2_RADIOMETRY)  #: DN convention of the training data: L2A, reflectance × 10000, offset 0
CLASS_NAMES: tuple[str, ...] = tuple(sorted(BEN19_CLASSES))  #: output order: the 19 names sorted (code points)

VERSIONS: tuple[str, ...] = ("0.1.1", "0.2.0")
BAND_CONFIGS: tuple[str, ...] = ("s1", "s2", "all")
#: The modalities of a band config, as this project names them.
MODALITIES: dict[str, str] = {"s1": "s1", "s2": "s2", "all": "s1s2"}
#: The head each band config serves in a model of several checkpoints (S1+S2 fused, S1-only, S2-only).
HEAD_OF: dict[str, str] = {"all": "fused", "s1": "s1", "s2": "s2"}

_S2_V011 = ("B02", "B03", "B04", "B08", "B05", "B06", "B07", "B11", "B12", "B8A")
_S2_V020 = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
#: Input channel order of each version and band config (model cards; configilm before / after its 0.7.0 band fix).
BAND_ORDERS: dict[str, dict[str, tuple[str, ...]]] = {
    "0.1.1": {"s1": ("VH", "VV"), "s2": _S2_V011, "all": (*_S2_V011, "VH", "VV")},
    "0.2.0": {"s1": ("VV", "VH"), "s2": _S2_V020, "all": ("VV", "VH", *_S2_V020)},
}

#: timm architecture families the published models use (and their smaller siblings, same code in timm), and
#: whether configilm's ``img_size=120`` reaches the model (ViT, MLP-Mixer, MobileViT build their token grid for
#: 120 px; the convolutional ones take any size).
ARCHITECTURES: dict[str, str] = {
    "resnet": "ResNet (resnet18, resnet50, resnet101)",
    "convnextv2_": "ConvNeXt-V2 (convnextv2_base)",
    "vit_": "ViT (vit_base_patch8_224, built for 120 px)",
    "mixer_": "MLP-Mixer (mixer_b16_224, built for 120 px)",
    "mobilevit": "MobileViT (mobilevit_s)",
    "convmixer_": "ConvMixer (convmixer_768_32)",
}

_ID = re.compile(r"(?P<architecture>[a-z][a-z0-9_]*)-(?P<band_config>s1|s2|all)-v(?P<version>\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class ModelId:
    """A published model's name: ``<architecture>-<band_config>-v<version>``."""

    architecture: str
    band_config: str
    version: str

    def __str__(self) -> str:
        return f"{self.architecture}-{self.band_config}-v{self.version}"


def find_model_id(text: str) -> ModelId | None:
    """The model id inside ``text`` (a folder name, a Hugging Face cache folder ``models--BIFOLD-…--<id>``, a URL),
    or None."""
    found = _ID.search(text)
    return ModelId(found["architecture"], found["band_config"], found["version"]) if found else None


def check_version(version: str) -> str:
    """``version`` without a leading ``v``; :class:`ModelError` for a version whose band order is not known here."""
    version = version.removeprefix("v")
    if version not in VERSIONS:
        raise ModelError(
            f"reBEN version {version} is not known to this MoSAiC (its band order is not recorded); "
            f"supported versions: {', '.join(VERSIONS)}."
        )
    return version


def check_architecture(timm_name: str) -> str:
    """``timm_name`` when it belongs to a supported family (:data:`ARCHITECTURES`); :class:`ModelError` otherwise."""
    if not timm_name.startswith(tuple(ARCHITECTURES)):
        raise ModelError(
            f"the published architecture {timm_name!r} is not supported; supported (all at 120 px): "
            f"{'; '.join(ARCHITECTURES.values())}."
        )
    return timm_name


def band_config_of(channels: int) -> str:
    """The band config (``s1``, ``s2``, ``all``) of a model with ``channels`` input channels."""
    by_channels = {len(order): config for config, order in BAND_ORDERS["0.2.0"].items()}
    if channels not in by_channels:
        raise ModelError(
            f"a published reBEN model has 2 (S1), 10 (S2) or 12 (S1+S2) input channels, not {channels}; "
            "give the folder of a BigEarthNet v2.0 model."
        )
    return by_channels[channels]


def statistics(bands: tuple[str, ...] | list[str]) -> tuple[list[float], list[float]]:
    """Per-band ``(means, stds)`` the published models normalise ``bands`` with (BigEarthNet v2.0, nearest)."""
    return band_stats(list(bands), UPSAMPLING)

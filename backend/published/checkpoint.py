"""One published reBEN checkpoint: a folder with ``config.json`` and ``model.safetensors`` (as downloaded from a model
page), read safely (safetensors holds tensors only) and built as the official architecture.

The model id (hence the version, i.e. the band order) comes from the folder's name or a path component above it
(``resnet50-all-v0.2.0``, or a Hugging Face cache folder ``models--BIFOLD-BigEarthNetv2-0--resnet50-all-v0.2.0``),
else from the version the user gives; with neither the checkpoint is refused, never guessed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from . import reben
from .download import sha256_of

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: Prefixes of the state-dict keys in published files: the Lightning module holds ``model``, a configilm model
#: whose ``vision_encoder`` is the timm network.
KEY_PREFIXES = ("model.vision_encoder.", "vision_encoder.")
_OPTIONAL_KWARGS = ("img_size", "drop_rate", "drop_path_rate")  #: configilm drops these when a model rejects them
_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


@dataclass(frozen=True)
class PublishedCheckpoint:
    """A published checkpoint: where it is, its id (architecture from ``config.json``, band config from its channel
    count, version from its name or the user), its ``config.json`` and the SHA-256 of its weights file."""

    folder: Path
    model_id: reben.ModelId
    config: dict
    sha256: str

    @property
    def bands(self) -> tuple[str, ...]:
        """Input channel order of this checkpoint."""
        return reben.BAND_ORDERS[self.model_id.version][self.model_id.band_config]

    @property
    def modalities(self) -> str:
        """``s1``, ``s2`` or ``s1s2``."""
        return reben.MODALITIES[self.model_id.band_config]

    @property
    def weights(self) -> Path:
        return self.folder / WEIGHTS_FILE

    def build(self):
        """The official architecture (timm, as configilm builds it) with these weights, in eval mode."""
        model = build_architecture(self.config)
        state = read_state_dict(self.weights)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
            raise ModelError(
                f"{self.weights} does not fit {self.config['timm_model_name']} with {self.config['channels']} "
                f"channels ({first[:160]}); give config.json and model.safetensors of the same model."
            ) from None
        return model.eval()


def read_checkpoint(folder: str | os.PathLike, version: str | None = None) -> PublishedCheckpoint:
    """The published checkpoint in ``folder``; ``version`` (``0.1.1`` / ``0.2.0``) when the path names none.

    :class:`ModelError` (one sentence) when a file is missing or not of a published model, when the version is known
    from neither the path nor ``version`` (or they disagree), or when the path's id disagrees with ``config.json``.
    """
    folder = Path(folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise ModelError(
                f"{folder} holds no {name}; give the folder of a published model (config.json + model.safetensors)."
            )
    config = read_config(folder / CONFIG_FILE)
    architecture = reben.check_architecture(config["timm_model_name"])
    band_config = reben.band_config_of(config["channels"])
    named = model_id_of_path(folder)
    model_version = _version(folder, named, version)
    if named is not None and (named.architecture, named.band_config) != (architecture, band_config):
        raise ModelError(
            f"{folder} is named {named} but its config.json describes {architecture} with {config['channels']} "
            f"channels ({band_config}); give the files of the model the folder is named after."
        )
    return PublishedCheckpoint(
        folder, reben.ModelId(architecture, band_config, model_version), config, sha256_of(folder / WEIGHTS_FILE)
    )


def model_id_of_path(folder: Path) -> reben.ModelId | None:
    """The model id in the name of ``folder`` or of the nearest folder above it that names one."""
    for part in (folder.resolve().name, *(p.name for p in folder.resolve().parents)):
        found = reben.find_model_id(part)
        if found is not None:
            return found
    return None


def _version(folder: Path, named: reben.ModelId | None, given: str | None) -> str:
    if named is None and given is None:
        raise ModelError(
            f"the reBEN version of {folder} is unknown: its path names no model id such as resnet50-all-v0.2.0 and "
            "config.json does not record it; the band order differs between versions, so pass --reben-version "
            "0.1.1 or 0.2.0 as on the model page."
        )
    if named is not None and given is not None and reben.check_version(given) != named.version:
        raise ModelError(
            f"{folder} is named {named} but --reben-version says {given}; the band orders differ, so give the "
            "version of the model page."
        )
    return reben.check_version(named.version if named is not None else given)


def read_config(path: Path) -> dict:
    """The fields of a published ``config.json`` this importer relies on, checked (``ModelError`` otherwise)."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        ok = (
            isinstance(config, dict)
            and isinstance(config.get("timm_model_name"), str)
            and all(
                isinstance(config.get(k), int) and not isinstance(config.get(k), bool) for k in ("channels", "classes")
            )
        )
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise ModelError(
            f"{path} is not the config.json of a published reBEN model (timm_model_name, channels, classes); "
            "download it again from the model page."
        )
    if config.get("network_type", 0) != 0 or config["classes"] != len(reben.CLASS_NAMES):
        raise ModelError(
            f"{path} describes no BigEarthNet 19-class image classifier (classes {config['classes']}); "
            "give a model of the BigEarthNet v2.0 family."
        )
    if config.get("image_size", reben.PATCH_SIZE_PX) != reben.PATCH_SIZE_PX:
        raise ModelError(
            f"{path} says image_size {config['image_size']}, but the published models take "
            f"{reben.PATCH_SIZE_PX} px (1.2 km BigEarthNet patches) and no other input size is supported."
        )
    return config


def build_architecture(config: dict):
    """``timm.create_model`` as configilm calls it for an image classifier (random weights): ``num_classes``,
    ``in_chans``, ``img_size``, ``drop_rate``, ``drop_path_rate`` from ``config``, leaving out those of
    ``img_size`` / ``drop_rate`` / ``drop_path_rate`` that the architecture does not take."""
    import timm

    kwargs = {
        "num_classes": config["classes"],
        "in_chans": config["channels"],
        "img_size": config.get("image_size", reben.PATCH_SIZE_PX),
        **{k: config[k] for k in ("drop_rate", "drop_path_rate") if config.get(k) is not None},
    }
    while True:
        try:
            return timm.create_model(config["timm_model_name"], pretrained=False, **kwargs)
        except TypeError as exc:
            rejected = _UNEXPECTED.search(str(exc))
            if rejected is None or rejected[1] not in _OPTIONAL_KWARGS or rejected[1] not in kwargs:
                raise
            del kwargs[rejected[1]]
        except RuntimeError as exc:  # timm: unknown model name
            raise ModelError(f"timm cannot build {config['timm_model_name']!r} ({exc}); update timm.") from None


def read_state_dict(path: Path) -> dict:
    """The timm state dict in a published ``model.safetensors`` (tensors only, no code), prefixes removed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(os.fspath(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path} ({exc}); download it again from the model page.") from None
    return {_without_prefix(k): v for k, v in state.items()}


def _without_prefix(key: str) -> str:
    for prefix in KEY_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key

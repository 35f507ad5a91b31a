"""The training protocol: one ``protocol`` section of the ``mosaic train`` config that every strategy obeys.

A comparison between strategies is fair only if they see the same labelled patches, the same number of images,
the same optimiser, schedule, augmentations and budget. Those settings therefore live in one place,
``protocol.*``, and are copied into the data module, the model and the trainer when the config is parsed
(jsonargparse links); the copied keys (:data:`LINKS`) cannot be set anywhere else, so no config can differ from
the protocol by accident. ``mosaic experiment`` passes the same protocol to every run of a matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from ..errors import ConfigError

#: The augmentation set of every strategy (options of :class:`~mosaic.backend.data.transforms.PairAugment`).
DEFAULT_AUGMENT: dict[str, Any] = {
    "scale": [0.5, 1.0],
    "hflip": 0.5,
    "vflip": 0.5,
    "rot90": True,
    "s2_brightness": 0.1,
    "s2_contrast": 0.1,
    "s1_noise_db": 0.5,
}


class Protocol:
    """The settings every strategy of a comparison shares (``protocol:`` section of a training config).

    Args:
        label_fraction: fraction of the train split whose labels are used, a stratified seeded subset
            (``null``: every label). The article's setting is 0.1.
        unlabelled: what the other train patches are for. ``none`` (default): they are dropped, every term
            (self-supervised ones included) sees only the labelled patches — the article's "10 % of the available
            training data". ``ssl_terms``: they stay, unlabelled, for the self-supervised terms of the
            pre-training stage (evaluation stages never load them).
        seed: seed of everything (weights, augmentations, loader order) and of the label subset.
        epochs: training epochs (``trainer.max_epochs``).
        batch_size: per-process batch size (global batch = ``batch_size × devices × nodes``).
        lr: AdamW learning rate (peak, after warm-up).
        weight_decay: AdamW weight decay of the weight matrices (biases and norm parameters: none).
        warmup_steps: linear warm-up steps, then cosine decay to 0 over the remaining optimizer steps (this
            project's schedule; the reBEN reference warms up from lr/10 and decays to lr/10).
        augment: the augmentation set (options of ``PairAugment``; default :data:`DEFAULT_AUGMENT`).
        validation_labels: ``all`` (default): checkpoint selection and threshold tuning use every validation
            patch; ``label_fraction``: a stratified seeded ``label_fraction`` of the validation split, so a run is
            label-scarce end to end (checkpoint selection, early stopping of the evaluation stages and the
            thresholds of ``mosaic evaluate`` all see only that subset).

    The budget is ``epochs`` for every strategy: pre-training never stops early (``early_stopping.*`` acts on the
    evaluation stages only, :class:`~.callbacks.EvaluationEarlyStopping`).
    """

    def __init__(
        self,
        label_fraction: float | None = 0.1,
        unlabelled: Literal["none", "ssl_terms"] = "none",
        seed: int = 0,
        epochs: int = 100,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 1000,
        augment: dict[str, Any] | None = None,
        validation_labels: Literal["all", "label_fraction"] = "all",
    ) -> None:
        self.label_fraction = label_fraction
        self.unlabelled = unlabelled
        self.seed = seed
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.augment = augment_options(augment)
        self.validation_labels = validation_labels


def keep_unlabelled(unlabelled: str, stage: str) -> bool:
    """Whether the data module keeps the unlabelled train patches: only for ``ssl_terms`` in pre-training."""
    return unlabelled == "ssl_terms" and stage == "pretrain"


def label_scarce_validation(validation_labels: str) -> bool:
    """Whether the validation split is subsampled to the label fraction (``validation_labels: label_fraction``)."""
    if validation_labels not in ("all", "label_fraction"):
        raise ConfigError(f"protocol.validation_labels must be 'all' or 'label_fraction', not {validation_labels!r}")
    return validation_labels == "label_fraction"


def augment_options(augment: dict[str, Any] | None) -> dict[str, Any]:
    """The protocol's augmentation set, :data:`DEFAULT_AUGMENT` when not given."""
    return dict(DEFAULT_AUGMENT if augment is None else augment)


#: Config key set by the protocol → the protocol key(s) it is computed from.
LINKS: dict[str, tuple[str, ...]] = {
    "data.label_fraction": ("label_fraction",),
    "data.keep_unlabelled": ("unlabelled", "model.stage"),
    "data.seed": ("seed",),
    "seed_everything": ("seed",),
    "trainer.max_epochs": ("epochs",),
    "data.batch_size": ("batch_size",),
    "model.lr": ("lr",),
    "model.weight_decay": ("weight_decay",),
    "model.warmup_steps": ("warmup_steps",),
    "model.augment": ("augment",),
    "data.label_scarce_validation": ("validation_labels",),
}
_COMPUTE = {
    "data.keep_unlabelled": keep_unlabelled,
    "model.augment": augment_options,
    "data.label_scarce_validation": label_scarce_validation,
}


def add_protocol(parser) -> None:
    """Add the ``protocol`` section to a LightningCLI parser and link it into data, model and trainer."""
    parser.add_class_arguments(Protocol, "protocol", instantiate=False)
    for target, sources in LINKS.items():
        names = tuple(s if "." in s else f"protocol.{s}" for s in sources)
        parser.link_arguments(names if len(names) > 1 else names[0], target, _COMPUTE.get(target), apply_on="parse")


def _protocol_hint(key: str) -> str:
    return (
        f"invalid training configuration: {key} is set by the protocol section: give protocol.{LINKS[key][0]} "
        "instead (docs/experiments.md)"
    )


def _nested_keys(tree: Any, prefix: str = "") -> list[str]:
    if not isinstance(tree, dict):
        return []
    out = []
    for k, v in tree.items():
        key = f"{prefix}{k}"
        out.append(key)
        out += _nested_keys(v, f"{key}.")
    return out


def check_no_protocol_targets(argv: Sequence[str]) -> None:
    """Refuse (:class:`ConfigError`) a command line or ``--config`` file that sets a key the protocol owns.

    jsonargparse would silently replace such a value from a config file by the protocol's, so an old config with
    ``data.keep_unlabelled: true`` would change meaning without a word; this names the protocol key to use.
    """
    args = list(argv)
    for i, arg in enumerate(args):
        key = arg[2:].split("=", 1)[0] if arg.startswith("--") else None
        if key in LINKS:
            raise ConfigError(_protocol_hint(key))
        if key == "config":
            value = arg.split("=", 1)[1] if "=" in arg else (args[i + 1] if i + 1 < len(args) else "")
            path = Path(value)
            try:
                tree = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
            except (OSError, yaml.YAMLError):
                tree = None  # jsonargparse reports unreadable files itself
            for nested in _nested_keys(tree):
                if nested in LINKS:
                    raise ConfigError(f"{_protocol_hint(nested)}; in {path}")

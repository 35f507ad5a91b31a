"""``MosaicDataModule``: train / validation / test loaders over the datasets of :mod:`mosaic.backend.data`.

Datasets that read patches at their stored resolution (``read_native``, e.g. BigEarthNet v2) are loaded as compact
batches (:mod:`mosaic.backend.data.batches`: one read per batch in the workers, uint16 S2 at 10/20/60 m) and
assembled on the training device after the transfer (:meth:`MosaicDataModule.on_after_batch_transfer`), so the
model gets the same ``s2``/``s1`` tensors as through ``dataset[i]`` at a fraction of the worker-to-main traffic.
"""

from __future__ import annotations

import signal
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ..data import make_dataset
from ..data.batches import BatchLayout, NativeBatches, assemble_batch, native_loader
from ..errors import ConfigError, InputError
from .sampler import EpochSampler, SceneSampler, scene_of

#: Licence recorded in exported models, per registered dataset.
LICENCES: dict[str, str] = {"bigearthnet_v2": "CDLA-Permissive-1.0", "sen12ms": "CC-BY-4.0"}
DATASET_TITLES: dict[str, str] = {"bigearthnet_v2": "BigEarthNet v2.0 (reBEN)", "sen12ms": "SEN12MS"}


def _ignore_sigint(worker_id: int) -> None:
    """Loader workers leave Ctrl-C to the training process, which stops at the next step boundary."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class MosaicDataModule(pl.LightningDataModule):
    """Datasets built by :func:`mosaic.backend.data.make_dataset` for the train / validation / test splits.

    Args:
        dataset: registered dataset name (``bigearthnet_v2``, ``sen12ms``).
        root: dataset folder.
        s2_band_set: ``s2_10`` or ``s2_12``.
        label_fraction: keep labels for this stratified fraction of the train split (e.g. 0.1).
        keep_unlabelled: keep the other train patches, unlabelled, for the self-supervised terms (``mosaic train``
            sets it from ``protocol.unlabelled``).
        seed: seed of the label subsets and of the train order (``mosaic train`` sets it from ``protocol.seed``).
        label_scarce_validation: subsample the validation split to ``label_fraction`` (stratified, seeded), for
            a run that is label-scarce end to end (``mosaic train`` sets it from ``protocol.validation_labels``).
        batches: ``random`` (shuffled patches) or ``scene`` (IaI-SimCLR's location sampler: every training batch
            from one scene, :class:`~.sampler.SceneSampler`; validation and test are read in order either way).
        options: further constructor options of the dataset (e.g. ``lmdb_path``, ``upsampling``).
        splits: names of the train / validation / test splits.
        batch_size: per-process batch size (global batch = ``batch_size × devices × nodes``).
        num_workers: loader processes per training process.
        licence: licence of the training data recorded in exported models (default per dataset).
    """

    def __init__(
        self,
        dataset: str = "bigearthnet_v2",
        root: str = "data/bigearthnet-v2",
        s2_band_set: str = "s2_10",
        label_fraction: float | None = None,
        keep_unlabelled: bool = True,
        seed: int = 0,
        options: dict[str, Any] | None = None,
        splits: dict[str, str] | None = None,
        batch_size: int = 64,
        num_workers: int = 4,
        licence: str | None = None,
        label_scarce_validation: bool = False,
        batches: str = "random",
    ) -> None:
        super().__init__()
        if batches not in ("random", "scene"):
            raise ConfigError(f"data.batches must be 'random' or 'scene', not {batches!r}")
        self.save_hyperparameters()
        self.splits = {"train": "train", "validation": "validation", "test": "test", **(splits or {})}
        self._datasets: dict[str, Dataset] = {}
        self.train_sampler: EpochSampler | None = None
        self._resume: dict[str, int] | None = None
        self._native: dict[str, NativeBatches] = {}
        self._layout: BatchLayout | None = None  # the same for every split (checked)

    def dataset(self, stage: str) -> Dataset:
        """The dataset of ``stage`` (``train``, ``validation`` or ``test``), built once."""
        if stage not in self._datasets:
            h = self.hparams
            kwargs: dict[str, Any] = {
                "root": h.root,
                "split": self.splits[stage],
                "s2_bands": h.s2_band_set,
                "seed": h.seed,
                **(h.options or {}),
            }
            if stage == "train" and h.label_fraction is not None:
                kwargs.update(label_fraction=h.label_fraction, keep_unlabelled=h.keep_unlabelled)
            if stage == "validation" and h.label_scarce_validation and h.label_fraction is not None:
                kwargs.update(label_fraction=h.label_fraction)
            ds = make_dataset(h.dataset, **kwargs)
            if len(ds) == 0:
                raise ConfigError(f"the {self.splits[stage]!r} split of {h.root} is empty; check data.root/splits")
            self._datasets[stage] = ds
        return self._datasets[stage]

    # Data description, linked into the model's hyper-parameters by the CLI.
    @property
    def class_names(self) -> list[str]:
        return list(self.dataset("train").class_names)

    @property
    def s2_band_names(self) -> list[str]:
        return list(self.dataset("train").s2_bands)

    @property
    def s1_band_names(self) -> list[str]:
        return list(self.dataset("train").s1_bands)

    @property
    def upsampling(self) -> str:
        return str(self.dataset("train").upsampling)

    @property
    def statistics(self) -> str:
        """Whose published normalisation statistics the model uses: the dataset name (``bands.STATISTICS``)."""
        return str(self.hparams.dataset)

    @property
    def patch_size_px(self) -> int:
        return int(self.dataset("train").patch_size_px)

    @property
    def training_data(self) -> dict[str, Any]:
        h = self.hparams
        out = {
            "dataset": DATASET_TITLES.get(h.dataset, h.dataset),
            "licence": h.licence or LICENCES.get(h.dataset, "unknown"),
            "n_train": len(self.dataset("train")),
        }
        if h.label_fraction is not None:
            out["label_fraction"] = float(h.label_fraction)
        return out

    def train_record(self) -> dict[str, Any]:
        """What the train split gives this run: ``train_images`` (every patch a training step can draw, labelled
        or not), ``labelled_images`` and ``labelled_patch_ids`` (sorted), to check that runs compared with each
        other saw the same data."""
        ds = self.dataset("train")
        labelled = [str(ds.patch_id(i)) for i in range(len(ds)) if ds.labelled_mask[i]]
        return {"train_images": len(ds), "labelled_images": len(labelled), "labelled_patch_ids": sorted(labelled)}

    def _batches(self, stage: str) -> Dataset:
        """What the loader of ``stage`` iterates: compact native batches when the dataset can read them
        (:class:`~mosaic.backend.data.batches.NativeBatches`), else the dataset's samples."""
        ds = self.dataset(stage)
        if not hasattr(ds, "read_native"):
            return ds
        if stage not in self._native:
            native = self._native[stage] = NativeBatches(ds)
            if self._layout is not None and native.layout != self._layout:
                raise InputError(
                    f"the {self.splits[stage]!r} split stores its bands unlike the others; rebuild the "
                    "dataset with one `mosaic pack` run"
                )
            self._layout = native.layout
        return self._native[stage]

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """A compact batch becomes the contract's batch on the device (upsampling and float conversion there)."""
        return batch if "s2" in batch else assemble_batch(batch, self._layout)

    def _loader(self, stage: str, train: bool) -> DataLoader:
        workers = self.hparams.num_workers
        data = self._batches(stage)
        sampler = generator = None
        if train:
            resume = self._resume or {}
            sampler = self.train_sampler = self._train_sampler(resume.get("order_seed", self.hparams.seed))
            if "epoch" in resume and self.trainer is not None and self.trainer.world_size == resume["world_size"] == 1:
                sampler.resume(resume["epoch"], resume["batches_done"] * self.hparams.batch_size)
            self._resume = None
            # the loader's per-iterator seed draw then leaves the global RNG (augmentations) alone
            generator = torch.Generator().manual_seed(sampler.seed)
        options = {
            "sampler": sampler,
            "drop_last": train,
            "generator": generator,
            "num_workers": workers,
            "persistent_workers": workers > 0,
            "pin_memory": torch.cuda.is_available(),
            "worker_init_fn": _ignore_sigint if workers > 0 else None,
        }
        if isinstance(data, NativeBatches):
            return native_loader(data, self.hparams.batch_size, **options)
        return DataLoader(data, batch_size=self.hparams.batch_size, **options)

    def _train_sampler(self, seed: int) -> EpochSampler:
        ds = self.dataset("train")
        if self.hparams.batches == "scene":
            return SceneSampler([scene_of(ds, i) for i in range(len(ds))], self.hparams.batch_size, seed)
        return EpochSampler(len(ds), seed)

    def state_dict(self) -> dict[str, int]:
        """The train order's seed and, inside an epoch, that epoch and its batches already trained (exact resume)."""
        if self.train_sampler is None or self.trainer is None:
            return {}
        state = {"order_seed": self.train_sampler.seed, "world_size": self.trainer.world_size}
        loop = self.trainer.fit_loop
        epochs = loop.epoch_progress.current
        if epochs.started > epochs.processed:  # saved inside an epoch (Ctrl-C): its remaining batches come next
            state.update(epoch=epochs.processed, batches_done=loop.epoch_loop.batch_progress.current.completed)
        return state

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Applied when the train loader is built (Lightning restores the data module first)."""
        self._resume = dict(state_dict) or None

    def train_dataloader(self) -> DataLoader:
        if len(self.dataset("train")) < self.hparams.batch_size:
            fraction = self.hparams.label_fraction
            kept = f" (protocol.label_fraction={fraction:g} of its labels)" if fraction is not None else ""
            raise ConfigError(
                f"the train split has {len(self.dataset('train'))} patches{kept}, fewer than protocol.batch_size="
                f"{self.hparams.batch_size}: lower the batch size" + (" or raise the label fraction" if kept else "")
            )
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

"""``checkpoint_dataset`` rebuilds the splits a checkpoint was trained with: SEN12MS validation scenes drawn with the
checkpoint's seed, the label-scarce validation subset of ``protocol.validation_labels: label_fraction``."""

from __future__ import annotations

from pathlib import Path

import torch

from mosaic.backend.data.classes import BEN19_CLASSES, SEN12MS_CLASSES
from mosaic.backend.data.sen12ms import Sen12MS
from mosaic.backend.evaluation.checkpoint_data import checkpoint_dataset
from mosaic.backend.training.datamodule import MosaicDataModule


def _checkpoint(path: Path, data: MosaicDataModule) -> Path:
    """A checkpoint file holding what ``checkpoint_dataset`` reads: the data module's hyper-parameters, as Lightning
    saves them."""
    torch.save({"state_dict": {}, "datamodule_hyper_parameters": dict(data.hparams)}, path)
    return path


def _ids(ds) -> list[str]:
    return sorted(ds.patch_id(i) for i in range(len(ds)))


def test_sen12ms_validation_scenes_follow_the_checkpoints_seed(sen12ms_scenes, tmp_path):
    """Seeds 0…7 on 4 scenes with 1 validation scene: the thresholds are tuned on the scene the run held out."""
    held_out = {}
    for seed in range(8):
        data = MosaicDataModule(
            dataset="sen12ms", root=str(sen12ms_scenes), seed=seed, options={"validation_fraction": 0.25}
        )
        rebuilt = checkpoint_dataset(_checkpoint(tmp_path / f"{seed}.ckpt", data), "validation", list(SEN12MS_CLASSES))
        assert (
            _ids(rebuilt)
            == _ids(data.dataset("validation"))
            == _ids(Sen12MS(sen12ms_scenes, split="validation", validation_fraction=0.25, seed=seed))
        )
        held_out[seed] = {rebuilt.scene(i) for i in range(len(rebuilt))}
        assert len(held_out[seed]) == 1
    assert len({s for scenes in held_out.values() for s in scenes}) > 1  # the seed moves the validation scene


def test_label_scarce_validation_is_rebuilt_as_the_run_selected_on_it(ben_v2, tmp_path):
    data = MosaicDataModule(root=str(ben_v2), label_fraction=0.5, seed=2, label_scarce_validation=True)
    validation = data.dataset("validation")
    assert 0 < len(validation) < 6 and len(data.dataset("test")) == 6  # a stratified half; the test split stays whole
    checkpoint = _checkpoint(tmp_path / "scarce.ckpt", data)
    assert _ids(checkpoint_dataset(checkpoint, "validation", list(BEN19_CLASSES))) == _ids(validation)
    assert len(checkpoint_dataset(checkpoint, "test", list(BEN19_CLASSES))) == 6
    full = MosaicDataModule(root=str(ben_v2), label_fraction=0.5, seed=2)  # validation_labels: all (default)
    assert len(full.dataset("validation")) == 6
    assert len(checkpoint_dataset(_checkpoint(tmp_path / "full.ckpt", full), "validation", list(BEN19_CLASSES))) == 6

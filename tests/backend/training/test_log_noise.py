"""Known log noise (Lightning's tips, deprecation notes) is dropped from what users read; the rest stays."""

from __future__ import annotations

import io
import logging
import warnings

from mosaic.backend.training.log_noise import is_noise, quiet_known_noise


def test_lines_of_a_real_training_log():
    log = [
        "GPU available: False, used: False",
        "TPU available: False, using: 0 TPU cores",
        "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger](https://pypi.org/...)",
        "Loading `train_dataloader` to estimate number of stepping batches.",
        ".../lightning/pytorch/utilities/_pytree.py:21: `isinstance(treespec, LeafSpec)` is deprecated, use "
        "`isinstance(treespec, TreeSpec) and treespec.is_leaf()` instead.",
        "`Trainer.fit` stopped: `max_epochs=1` reached.",
        "mosaic train: error: the train split has 6 patches, fewer than protocol.batch_size=32: lower the batch size",
    ]
    assert [line for line in log if not is_noise(line)] == [log[0], log[5], log[6]]


def test_lightning_loggers_and_warnings_are_quieted():
    from lightning.pytorch.utilities.rank_zero import rank_zero_info

    quiet_known_noise()
    lightning_logger = logging.getLogger("lightning.pytorch")  # Lightning's own handler exists only without pytest's
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    lightning_logger.addHandler(handler)
    level = lightning_logger.level
    lightning_logger.setLevel(logging.INFO)
    try:
        rank_zero_info("💡 Tip: For seamless cloud logging and experiment tracking, try installing litlogger")
        rank_zero_info("GPU available: False, used: False")
    finally:
        lightning_logger.removeHandler(handler)
        lightning_logger.setLevel(level)
    assert stream.getvalue() == "GPU available: False, used: False\n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise()
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ... instead.", FutureWarning, stacklevel=1)
        warnings.warn("something about the user's run", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something about the user's run"]


def test_the_int8_quantisers_per_tensor_fallback_is_quieted():
    """onnxruntime's quantiser logs through the root logger (``logging.warning``) for each rank-1 weight."""
    quiet_known_noise()
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        logging.warning("Axis 1 is out-of-range for weight 'net.fusion.1.weight' with rank 1")
        logging.warning("Axis 1 is out-of-range for weight 'conv.weight' with rank 4")  # not the known case
    finally:
        root.removeHandler(handler)
    assert stream.getvalue() == "Axis 1 is out-of-range for weight 'conv.weight' with rank 4\n"

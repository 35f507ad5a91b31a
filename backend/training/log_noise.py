"""Known noise in the logs a user reads, defined once: Lightning's advertising tips, its TPU line and stepping-batch
notes, onnxruntime's quantiser's per-tensor fallback, and deprecation warnings of the libraries that say nothing about
the user's run.

The ``mosaic`` command line calls :func:`quiet_known_noise` before any command runs, so ``mosaic train``, ``make
demo`` (which runs the commands) and the plugin's training dialog (which runs them too) never print these lines; the
dialog also drops any line :func:`is_noise` matches from a backend's output. Standard library only.
"""

from __future__ import annotations

import logging
import re
import warnings

#: Lightning's info lines (its ``rank_zero_info`` loggers) that are advertising or internals
INFO_NOISE = (
    r"💡 Tip: ",
    r"TPU available: ",
    r"HPU available: ",
    r"Loading `\w+_dataloader` to estimate number of stepping batches",
)
#: warning messages (``warnings.warn``) of the libraries that are not about the user's run
WARNING_NOISE = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning's pytree helper on torch 2.x
    r"The number of training batches \(\d+\) is smaller than the logging interval",  # a tiny dataset
    r"# The axis name: \w+ will not be used, since it shares the same shape constraints",  # torch.onnx export
)
#: lines of the root logger: onnxruntime's int8 quantiser (``mosaic export --precision int8``) quantises a rank-1
#: weight (a LayerNorm scale) per tensor instead of per channel, as it should
ROOT_NOISE = (r"Axis -?\d+ is out-of-range for weight '[^']+' with rank 1$",)
_LINE = re.compile("|".join(f"(?:{p})" for p in (*INFO_NOISE, *WARNING_NOISE, *ROOT_NOISE)))
#: the loggers Lightning's ``rank_zero_info`` writes to (a filter on the logger a record starts at applies)
LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


def is_noise(line: str) -> bool:
    """Whether ``line`` of a log is known noise (see the module docstring)."""
    return _LINE.search(line) is not None


class _NoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not is_noise(record.getMessage())


def quiet_known_noise() -> None:
    """Drop the known noise from Lightning's loggers, the root logger and ``warnings`` for the rest of this
    process."""
    for name in (*LIGHTNING_LOGGERS, ""):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoiseFilter) for f in logger.filters):
            logger.addFilter(_NoiseFilter())
    for message in WARNING_NOISE:
        warnings.filterwarnings("ignore", message=f".*{message}")

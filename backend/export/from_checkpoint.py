"""A training checkpoint to an ONNX model: fp32, or an fp16 / int8 copy that records its own test metrics."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelError, OutputError
from ..training.module import load_module
from .metadata import build_metadata, read_evaluation
from .onnx_file import export_onnx, save_model
from .precision import METHODS, PRECISIONS, onnx_probabilities, patch_batches, to_fp16, to_int8


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    overwrite: bool = False,
    evaluation: str | os.PathLike | None = None,
    precision: str = "fp32",
    data_root: str | os.PathLike | None = None,
    calibration_batches: int = 4,
    batch_size: int = 8,
) -> Path:
    """Export the inference graph and metadata of a training checkpoint to ``out``.

    With ``evaluation`` (``metrics.json`` of ``mosaic evaluate``) the tuned thresholds and test metrics are
    recorded (``thresholds_tuned: true``); otherwise 0.5 thresholds and the last validation metrics.
    ``precision`` fp16 / int8 writes a reduced copy (:func:`reduce_precision`; patches of the checkpoint's dataset
    or of ``data_root``, ``calibration_batches`` × ``batch_size`` validation patches for int8).
    """
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
    if calibration_batches < 1 or batch_size < 1:
        raise InputError("--calibration-batches and --batch-size must be at least 1.")
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputError(f"{out} exists already; pass --overwrite to replace it.")
    module = load_module(checkpoint)
    result = read_evaluation(evaluation, module.hparams.class_names) if evaluation is not None else None
    try:
        metadata = build_metadata(module.export_metadata(result))
    except KeyError as exc:
        raise ModelError(f"checkpoint {checkpoint} lacks the setting {exc}; retrain it with this MoSAiC.") from None
    metadata["precision"] = {"dtype": "fp32"}
    if precision == "fp32":
        return export_onnx(module.inference_model(), metadata, out, overwrite=overwrite)
    from ..evaluation.checkpoint_data import checkpoint_dataset

    names = list(module.hparams.class_names)
    val, test = (checkpoint_dataset(checkpoint, split, names, data_root) for split in ("validation", "test"))
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(module.inference_model(), metadata, Path(tmp) / "fp32.onnx")
        return reduce_precision(fp32, out, precision, val, test, calibration_batches, batch_size)


def reduce_precision(
    fp32_path: Path,
    out: Path,
    precision: str,
    validation,
    test,
    calibration_batches: int = 4,
    batch_size: int = 8,
) -> Path:
    """Write the ``precision`` (fp16 / int8) copy of the fp32 model at ``fp32_path`` to ``out``.

    int8 is calibrated on the first ``calibration_batches`` batches of ``validation``. The metadata's
    ``precision`` records the method, the calibration patches and the metrics (:func:`multilabel_metrics` at the
    model's thresholds, keys ``test/<name>``) of the written file and of the fp32 graph on every ``test`` patch.
    """
    from ..inference import load_model
    from ..training.metrics import multilabel_metrics

    reference = load_model(fp32_path)
    meta = reference.metadata
    if precision == "int8":
        calibration = [
            {"s2": reference.prepare(b["s2"], meta.s2), "s1": reference.prepare(b["s1"], meta.s1)}
            for b in patch_batches(validation, batch_size, calibration_batches)
        ]
        proto, stripped = to_int8(fp32_path, calibration, {"s2": meta.s2, "s1": meta.s1})
        calibrated = {"split": "validation", "patches": sum(len(b["s2"]) for b in calibration)}
    else:
        proto, calibrated, stripped = to_fp16(fp32_path), None, ()

    def test_metrics(path: Path) -> dict:
        probs, target = onnx_probabilities(path, test, batch_size)
        m = multilabel_metrics(probs, target, meta.class_names, np.asarray(meta.thresholds))
        return {f"test/{k}": v for k, v in m.items() if isinstance(v, float) and math.isfinite(v)}

    metadata = json.loads(json.dumps(meta.raw))
    for name in stripped:  # the engine normalises these inputs (int8: :func:`.precision.strip_input_normalisation`)
        metadata["inputs"][name]["normalisation"]["in_graph"] = False
    metadata["precision"] = {
        "dtype": precision,
        "method": METHODS[precision],
        **({"calibration": calibrated} if calibrated else {}),
        "test_patches": len(test),
        "metrics": {},
        "fp32_metrics": test_metrics(fp32_path),
    }
    with tempfile.TemporaryDirectory() as tmp:
        draft = save_model(proto, metadata, Path(tmp) / "reduced.onnx")
        metadata["precision"]["metrics"] = test_metrics(draft)
    return save_model(proto, metadata, out)

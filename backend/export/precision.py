"""Reduced-precision copies of an exported model (``mosaic export --precision fp16|int8``).

* ``fp16``: onnxruntime's float16 converter (``onnxruntime.transformers.float16``) stores every initialiser and
  intermediate tensor as float16 — half the file — and keeps the graph inputs and output float32
  (``keep_io_types``), so the engine and the plugin feed and read it like the fp32 file.
* ``int8``: onnxruntime static quantisation in QDQ format: weights int8, symmetric, one scale per output channel
  (``w ≈ s_c · q``, ``q ∈ [−127, 127]``); activations uint8 with one scale and zero point per tensor
  (``x ≈ s · (q − z)``, ``q ∈ [0, 255]``) from the min/max of each tensor over a few calibration batches of real
  validation patches. The encoders are quantised, the fusion head stays float (:data:`INT8_FLOAT_OPS`). Inputs
  and output stay float32 (QuantizeLinear / DequantizeLinear inside the graph).

:func:`onnx_probabilities` runs a file through the engine (:func:`~.inference.load_model`) so the metrics recorded
for a reduced file are those of that exact file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")
METHODS = {
    "fp16": "float16 weights and activations (onnxruntime float16 converter), float32 inputs and output",
    "int8": "onnxruntime static quantisation of the encoders, QDQ, per-channel symmetric int8 weights, uint8 "
    "activations calibrated (min/max) on validation patches; fusion head float",
}

FP32_OPS = ("IsNaN", "IsInf")  #: nodata checks of the in-graph normalisation: onnxruntime's CPU kernels are float32
#: left float in int8 files: the fusion head (Concat of both encoders' pooled features → Gemm → LayerNorm → GELU's
#: Mul → Gemm → Sigmoid), < 1 % of the compute. On the demo model, quantising the head moved test AP micro by
#: −0.035 (−0.039 with only the Concat float); with the head float, by +0.001.
INT8_FLOAT_OPS = ("Concat", "Gemm", "Mul", "Sigmoid")


def patch_batches(dataset, batch_size: int, max_batches: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Physical ``s2``, ``s1`` (float32) and ``label`` arrays of ``dataset`` in order, ``batch_size`` at a time."""
    n = len(dataset) if max_batches is None else min(len(dataset), max_batches * batch_size)
    for start in range(0, n, batch_size):
        samples = [dataset[i] for i in range(start, min(start + batch_size, n))]
        yield {k: np.stack([np.asarray(s[k], dtype=np.float32) for s in samples]) for k in ("s2", "s1", "label")}


def onnx_probabilities(path: str | os.PathLike, dataset, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities ``[N, n_classes]`` of the ONNX model at ``path`` on every patch of ``dataset`` (through the
    engine: nodata filled, inputs prepared as in ``mosaic predict``) and the targets."""
    from ..inference import load_model

    model = load_model(path)
    probs, target = [], []
    for batch in patch_batches(dataset, batch_size):
        probs.append(model.predict(batch["s2"], batch["s1"]))
        target.append(batch["label"])
    return np.concatenate(probs), np.concatenate(target)


def preprocessed(fp32_path: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """onnxruntime's quantisation pre-processing of the model at ``fp32_path``, written into ``folder``: symbolic
    shape inference and graph optimisation (constants folded, BatchNorm fused into the convolutions)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(folder) / "preprocessed.onnx"
    quant_pre_process(os.fspath(fp32_path), os.fspath(out))
    return out


def to_fp16(fp32_path: str | os.PathLike):
    """The float16 ``ModelProto`` of the float32 model at ``fp32_path``: float16 weights and activations, float32
    inputs and output, :data:`FP32_OPS` kept float32 (the converter appends its input casts at the end of the
    node list: sorted afterwards)."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    with tempfile.TemporaryDirectory() as tmp:
        proto = onnx.load(os.fspath(preprocessed(fp32_path, tmp)))
    proto = convert_float_to_float16(proto, keep_io_types=True, op_block_list=[*DEFAULT_OP_BLOCK_LIST, *FP32_OPS])
    model = OnnxModel(proto)
    model.topological_sort()
    return model.model


def to_int8(fp32_path: str | os.PathLike, calibration: list[dict[str, np.ndarray]]):
    """The int8 QDQ ``ModelProto`` of the float32 model at ``fp32_path``, calibrated on ``calibration`` batches
    (``{"s2": ..., "s1": ...}`` graph inputs, prepared by the engine)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre, out = preprocessed(fp32_path, tmp), Path(tmp) / "int8.onnx"
        float_nodes = [n.name for n in onnx.load(os.fspath(pre)).graph.node if n.op_type in INT8_FLOAT_OPS]
        quantize_static(
            os.fspath(pre),
            os.fspath(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=float_nodes,
        )
        return onnx.load(os.fspath(out))

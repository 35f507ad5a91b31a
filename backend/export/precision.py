"""Reduced-precision copies of an exported model (``mosaic export --precision fp16|int8``).

* ``fp16``: onnxruntime's float16 converter (``onnxruntime.transformers.float16``) stores every initialiser and
  intermediate tensor as float16 — half the file — and keeps the graph inputs and output float32
  (``keep_io_types``), so the engine and the plugin feed and read it like the fp32 file.
* ``int8``: onnxruntime static quantisation in QDQ format: weights int8, symmetric, one scale per output channel
  (``w ≈ s_c · q``, ``q ∈ [−127, 127]``); activations uint8 with one scale and zero point per tensor
  (``x ≈ s · (q − z)``, ``q ∈ [0, 255]``) from the min/max of each tensor over a few calibration batches of real
  validation patches. The encoders are quantised, the fusion head stays float (:data:`INT8_FLOAT_OPS`). Inputs
  and output stay float32 (QuantizeLinear / DequantizeLinear inside the graph). Two things make the file fast
  end to end: the input normalisation ``(x − mean) / std`` and its NaN/±inf guard (nine element-wise float ops per
  input, a fifth of an int8 run) leave the graph for the engine, which fills nodata and normalises anyway
  (:func:`strip_input_normalisation`; metadata ``normalisation.in_graph`` false; inputs a model clips keep theirs),
  and onnxruntime's portable graph optimisations (level "extended": QDQ pairs fused into ``QLinearConv``,
  ``QLinearAdd``…) are saved into the file (:func:`optimised`), so a session starts from the fused graph.

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
    "activations calibrated (min/max) on validation patches; fusion head float; input normalisation in the engine; "
    "graph optimised (onnxruntime, extended) in the file",
}
#: the ops of the in-graph input normalisation ``nan_to_num((x − mean) / std)`` (:class:`BandNormalization`)
NORMALISATION_OPS = ("Sub", "Div", "IsNaN", "IsInf", "Where", "Less", "Greater", "And")

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


def strip_input_normalisation(proto, specs: dict) -> tuple[str, ...]:
    """Remove from ``proto`` (in place) the in-graph normalisation of each input whose subgraph is exactly
    ``nan_to_num((x − mean_b) / std_b)`` with the ``specs``' (:class:`~.inference.metadata.ModalitySpec` by input
    name) mean and std: the nodes between the input and its first other op (a Conv) are all
    :data:`NORMALISATION_OPS`, one Sub by the band means and one Div by the stds, every Where replacing with a scalar
    (0, ±max float). An input that is also clipped (a Where replacing with per-band bounds) keeps it. The consumers
    of the subgraph's output then read the input itself, which must be given normalised. Returns the inputs
    stripped."""
    from onnx import numpy_helper

    graph = proto.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    stripped = []
    for name, spec in specs.items():
        subgraph, outputs = _normalisation_subgraph(graph, name)
        if subgraph is None or len(outputs) != 1 or not _is_band_normalisation(subgraph, name, spec, constants):
            continue
        (output,) = outputs
        for node in subgraph:
            graph.node.remove(node)
        for node in graph.node:
            node.input[:] = [name if i == output else i for i in node.input]
        stripped.append(name)
    used = {i for n in graph.node for i in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    return tuple(stripped)


def _normalisation_subgraph(graph, name: str):
    """The nodes reachable from input ``name`` through :data:`NORMALISATION_OPS` only, and the tensors they give to
    other nodes; ``(None, None)`` when another op reads the input itself."""
    consumers: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    found, frontier, outputs = [], [name], set()
    while frontier:
        tensor = frontier.pop()
        for node in consumers.get(tensor, []):
            if node.op_type not in NORMALISATION_OPS:
                if tensor == name:
                    return None, None
                outputs.add(tensor)
            elif all(node is not f for f in found):
                found.append(node)
                frontier.extend(node.output)
    return found, outputs


def _is_band_normalisation(nodes, name: str, spec, constants: dict[str, np.ndarray]) -> bool:
    """``nodes`` are one ``Sub(input, mean)``, one ``Div(·, std)`` and a NaN/±inf guard of scalar replacements, with
    one output tensor."""
    ops = [n.op_type for n in nodes]
    subs, divs = [n for n in nodes if n.op_type == "Sub"], [n for n in nodes if n.op_type == "Div"]
    if (
        ops.count("Sub") != 1
        or ops.count("Div") != 1
        or subs[0].input[0] != name
        or divs[0].input[0] != subs[0].output[0]
    ):
        return False
    mean, std = constants.get(subs[0].input[1]), constants.get(divs[0].input[1])
    if mean is None or std is None or mean.size != len(spec.mean) or std.size != len(spec.std):
        return False
    if not (np.allclose(mean.ravel(), spec.mean, rtol=1e-6) and np.allclose(std.ravel(), spec.std, rtol=1e-6)):
        return False
    replacements = [constants.get(n.input[1]) for n in nodes if n.op_type == "Where"]
    return all(r is not None and r.size == 1 for r in replacements)


def normalised(batch: dict[str, np.ndarray], specs: dict) -> dict[str, np.ndarray]:
    """``batch`` with the inputs of ``specs`` normalised per band, ``(x − mean) / std`` (as the engine does)."""
    out = dict(batch)
    for name, spec in specs.items():
        mean, std = (np.asarray(v, dtype=np.float32)[:, None, None] for v in (spec.mean, spec.std))
        out[name] = (batch[name] - mean) / std
    return out


def optimised(path: str | os.PathLike, folder: str | os.PathLike):
    """The ``ModelProto`` of the model at ``path`` after onnxruntime's portable graph optimisations (level
    "extended": constant folding, QDQ pairs fused into QLinear kernels, Gemm fusions; not the CPU-specific layout of
    level "all", which every session still applies at load), as onnxruntime saves it."""
    import onnx
    import onnxruntime as ort

    out = Path(folder) / "optimised.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = os.fspath(out)
    options.log_severity_level = 3
    ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    return onnx.load(os.fspath(out))


def to_int8(fp32_path: str | os.PathLike, calibration: list[dict[str, np.ndarray]], specs: dict):
    """``(ModelProto, inputs stripped)``: the int8 QDQ model of the float32 model at ``fp32_path``, its input
    normalisation left to the engine where :func:`strip_input_normalisation` can, calibrated on ``calibration``
    batches (``{"s2": ..., "s1": ...}`` graph inputs, prepared by the engine for the fp32 graph), graph-optimised
    (:func:`optimised`). ``specs``: the fp32 model's :class:`~.inference.metadata.ModalitySpec` by input."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory() as tmp:
        proto = onnx.load(os.fspath(preprocessed(fp32_path, tmp)))
        stripped = strip_input_normalisation(proto, specs)
        pre, out = Path(tmp) / "stripped.onnx", Path(tmp) / "int8.onnx"
        onnx.save_model(proto, os.fspath(pre))
        batches = iter([normalised(b, {k: specs[k] for k in stripped}) for b in calibration])

        class Reader(CalibrationDataReader):
            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(batches, None)

        float_nodes = [n.name for n in proto.graph.node if n.op_type in INT8_FLOAT_OPS]
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
        return optimised(out, tmp), stripped

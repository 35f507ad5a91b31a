"""Writing an inference graph as an ONNX file with its metadata: temporary name, ONNX checker and the plugin's
metadata checks, then renamed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import ModelError, OutputError
from ..inference.metadata import HEAD_OUTPUTS, METADATA_KEY, parse_metadata
from ..inference.model import read_metadata

OPSET = 18


def export_onnx(model, metadata: dict, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Export ``model`` (an :class:`~.models.network.InferenceModel`, physical inputs) with ``metadata`` to
    ``path``.

    The metadata is validated first (:class:`ModelError` when invalid) and must list the heads the model outputs
    (``model.heads``; the graph outputs are named after them); the file is written to a temporary
    name, opened with onnxruntime as a final check, and renamed when complete.
    """
    import torch

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists already; pass --overwrite to replace it.")
    meta = parse_metadata(metadata, source="the exported model")
    heads = tuple(model.heads)
    if meta.heads != heads:
        raise ModelError(f"the metadata describes the heads {meta.heads} but the model outputs {heads}.")
    p = meta.patch_size_px
    example = (
        torch.from_numpy(np.full((2, len(meta.s2.bands), p, p), 1000.0, dtype=np.float32)),
        torch.from_numpy(np.full((2, len(meta.s1.bands), p, p), -12.0, dtype=np.float32)),
    )
    batch = torch.export.Dim("batch")
    model = model.eval()
    with torch.no_grad():
        program = torch.onnx.export(
            model,
            example,
            input_names=["s2", "s1"],
            output_names=[HEAD_OUTPUTS[h] for h in heads],
            opset_version=OPSET,
            dynamo=True,
            dynamic_shapes={"s2": {0: batch}, "s1": {0: batch}},
            verbose=False,
        )
    return save_model(program.model_proto, metadata, path)


def save_model(proto, metadata: dict, path: Path) -> Path:
    """Write ONNX ``proto`` with ``metadata`` to ``path``: temporary name, ONNX checker and the plugin's metadata
    checks, then renamed."""
    import json

    import onnx

    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(metadata)})

    def write(tmp: Path) -> None:
        onnx.save_model(proto, os.fspath(tmp), save_as_external_data=False)
        onnx.checker.check_model(os.fspath(tmp))
        read_metadata(tmp)  # the same checks the plugin runs

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)
    return path

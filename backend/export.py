"""``mosaic export CHECKPOINT -o model.onnx``: the inference graph as ONNX with validated metadata.

The graph is ``MosaicModule.inference_model()``: S2 and S1 encoders, fusion, classifier and sigmoid, taking
**physical inputs** — ``s2 [N, C_s2, P, P]`` reflectance × 10000 and ``s1 [N, C_s1, P, P]`` dB — and normalising
them inside (``x' = (x − mean) / std`` per band; the statistics are also recorded in the metadata with
``in_graph: true``). Output ``probabilities [N, n_classes]`` of the fused head and, for S1+S2 models trained with
per-modality heads, ``probabilities_s1`` / ``probabilities_s2`` of the S1-only / S2-only heads (metadata
``heads``); the batch axis ``N`` is dynamic.

The metadata (``resources/schema/model_metadata.v3.json``) is stored as JSON in ``metadata_props["mosaic"]``;
it is validated with the same code the plugin uses before the file is written (temporary name, renamed when
complete).

``--precision fp16|int8`` writes a reduced copy (:mod:`.precision`): int8 calibrated on a few batches of the
checkpoint's validation patches. Its metadata ``precision`` records the method and the test metrics of that
exact file next to those of the fp32 graph, both run through the engine on the same test patches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .checkpoint_file import unsafe_checkpoint_error
from .data import bands as band_defs
from .data.classes import class_colors
from .errors import InputError, ModelError, OutputError
from .inference.metadata import HEAD_OUTPUTS, METADATA_KEY, SCHEMA_VERSION, parse_metadata
from .inference.model import read_metadata
from .precision import METHODS, PRECISIONS, onnx_probabilities, patch_batches, to_fp16, to_int8

OPSET = 18


def build_metadata(parts: dict) -> dict:
    """Complete metadata (schema v3) from the model-specific ``parts`` (``MosaicModule.export_metadata()``).

    ``parts`` holds ``class_names``, ``s2_bands``, ``s1_bands``, ``upsampling``, ``norm_mean``/``norm_std``
    (``{"s2": [...], "s1": [...]}``; default: the published BigEarthNet v2 statistics for the upsampling),
    ``strategy``, ``patch_size_px``, ``training`` (``dataset``, ``licence``, ...), ``metrics`` and optionally
    ``thresholds`` (tuned on validation), ``class_colors``, ``backbone`` and ``modalities``. Without thresholds
    every class gets 0.5 and ``thresholds_tuned`` is false; without colours, CORINE colours (:func:`class_colors`).
    ``heads`` (``{"s1": {"thresholds": [...] or None, "metrics": {...}}, "s2": ...}``, optional) describes the
    per-modality heads of the graph; their thresholds default to 0.5 like the fused ones.
    """
    from .version import __version__

    names = list(parts["class_names"])
    upsampling = parts.get("upsampling", "nearest")
    inputs = {}
    for key, default_bands in (("s2", band_defs.s2_bands()), ("s1", band_defs.S1_BANDS)):
        bands = list(parts.get(f"{key}_bands", default_bands))
        mean, std = band_defs.band_stats(bands, upsampling)
        mean = parts.get("norm_mean", {}).get(key, mean)
        std = parts.get("norm_std", {}).get(key, std)
        inputs[key] = band_defs.input_spec(bands, mean, std, s1=key == "s1")
    thresholds = parts.get("thresholds")
    architecture = {k: parts[k] for k in ("backbone", "modalities") if k in parts}
    heads = {
        head: {
            "output": HEAD_OUTPUTS[head],
            "thresholds": [float(t) for t in spec["thresholds"]] if thresholds is not None else [0.5] * len(names),
            "metrics": _finite(spec.get("metrics")),
        }
        for head, spec in (parts.get("heads") or {}).items()
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "mosaic_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "class_names": names,
        "class_colors": list(parts.get("class_colors") or class_colors(names)),
        "thresholds": [float(t) for t in thresholds] if thresholds is not None else [0.5] * len(names),
        "thresholds_tuned": thresholds is not None,
        "inputs": inputs,
        "output": {"name": "probabilities", "activation": "sigmoid"},
        "patch_size_px": int(parts.get("patch_size_px", band_defs.PATCH_SIZE_PX)),
        "gsd_m": float(band_defs.TARGET_GSD_M),
        "upsampling": upsampling,
        "strategy": str(parts["strategy"]),
        "training": dict(parts.get("training") or {}),
        "metrics": _finite(parts.get("metrics")),
        **({"architecture": architecture} if architecture else {}),
        **({"heads": heads} if heads else {}),
    }


def _finite(metrics: dict | None) -> dict[str, float]:
    """The finite values of ``metrics`` as floats (JSON has no NaN)."""
    return {k: float(v) for k, v in (metrics or {}).items() if math.isfinite(float(v))}


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


def load_module(checkpoint: str | os.PathLike):
    """The :class:`MosaicModule` of ``checkpoint`` on CPU, in eval mode."""
    from .training.module import MosaicModule

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise InputError(f"checkpoint {checkpoint} does not exist; give the path of a .ckpt file from `mosaic train`.")
    try:
        # the checkpoint's own weights replace any pre-training (init_checkpoint), which need not exist any more
        module = MosaicModule.load_from_checkpoint(
            checkpoint, map_location="cpu", weights_only=True, init_checkpoint=None
        )
        return module.eval()
    except pickle.UnpicklingError as exc:
        raise unsafe_checkpoint_error(checkpoint, exc) from None
    except (OSError, RuntimeError, KeyError, ValueError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"cannot load checkpoint {checkpoint.name} ({reason}); give a .ckpt from `mosaic train`."
        ) from None


def read_evaluation(path: str | os.PathLike, class_names: list[str]) -> dict:
    """The ``metrics.json`` of ``mosaic evaluate`` (tuned thresholds + test metrics), checked against the classes."""
    import json

    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
        thresholds, names = list(result["thresholds"]), list(result["class_names"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{path} is not a metrics.json written by `mosaic evaluate`; check the path.") from None
    if names != list(class_names) or len(thresholds) != len(names):
        raise InputError(f"{path} was computed for other classes than this checkpoint's; evaluate this checkpoint.")
    return result


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
    from .checkpoint_file import checkpoint_dataset

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
    from .inference import load_model
    from .training.metrics import multilabel_metrics

    reference = load_model(fp32_path)
    meta = reference.metadata
    if precision == "int8":
        calibration = [
            {"s2": reference.prepare(b["s2"], meta.s2), "s1": reference.prepare(b["s1"], meta.s1)}
            for b in patch_batches(validation, batch_size, calibration_batches)
        ]
        proto = to_int8(fp32_path, calibration)
        calibrated = {"split": "validation", "patches": sum(len(b["s2"]) for b in calibration)}
    else:
        proto, calibrated = to_fp16(fp32_path), None

    def test_metrics(path: Path) -> dict:
        probs, target = onnx_probabilities(path, test, batch_size)
        m = multilabel_metrics(probs, target, meta.class_names, np.asarray(meta.thresholds))
        return {f"test/{k}": v for k, v in m.items() if isinstance(v, float) and math.isfinite(v)}

    metadata = dict(meta.raw)
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="training checkpoint (.ckpt) written by `mosaic train`")
    parser.add_argument("-o", "--output", required=True, help="ONNX file to write, e.g. model.onnx")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--evaluation",
        default=None,
        metavar="METRICS_JSON",
        help="metrics.json of `mosaic evaluate` on this checkpoint: record its tuned per-class "
        "thresholds and test metrics (default: thresholds 0.5, flagged as not tuned)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default); fp16: float16 weights, half the file; int8: static quantisation "
        "calibrated on validation patches. fp16/int8 record their own test metrics",
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help="dataset folder for calibration and test metrics of fp16/int8 (default: the one "
        "the checkpoint was trained on)",
    )
    parser.add_argument(
        "--calibration-batches",
        type=int,
        default=4,
        help="int8: batches of validation patches to calibrate on (default 4)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="patches per calibration / test batch")


def run(args: argparse.Namespace) -> int:
    out = export_checkpoint(
        args.checkpoint,
        args.output,
        overwrite=args.overwrite,
        evaluation=args.evaluation,
        precision=args.precision,
        data_root=args.data_root,
        calibration_batches=args.calibration_batches,
        batch_size=args.batch_size,
    )
    meta = read_metadata(out)
    print(
        f"wrote {out} ({len(meta.class_names)} classes, strategy {meta.strategy}, heads {', '.join(meta.heads)}, "
        f"{meta.precision})"
    )
    ap, ap32 = (meta.precision_info.get(k, {}).get("test/ap_macro") for k in ("metrics", "fp32_metrics"))
    if ap is not None and ap32 is not None:
        print(f"test AP macro: {ap:.4f} ({meta.precision}) vs {ap32:.4f} (fp32)")
    return 0

"""Open an exported MoSAiC ONNX model with onnxruntime and check it against its metadata."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import ModelError
from .metadata import METADATA_KEY, ModalitySpec, ModelMetadata, parse_metadata
from .providers import ProviderPlan, describe, fallback_note, plan_providers


def _session(path: Path, threads: int | None, plan: ProviderPlan, optimise: bool = True) -> ort.InferenceSession:
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; give the path of an exported .onnx model.")
    options = ort.SessionOptions()
    if not optimise:  # metadata only: no graph rewriting at load
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    # no busy-waiting between ops: lets the prefetching reader thread run while onnxruntime works
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(os.fspath(path), options, providers=list(plan.use))
    except Exception as exc:  # onnxruntime raises several private exception types for broken files
        first_line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path.name} is not a readable ONNX model ({first_line}); re-export or re-download it."
        ) from None


class OnnxModel:
    """An onnxruntime session plus its validated :class:`ModelMetadata`.

    ``providers``: execution providers by name or alias (``["cuda"]``, ``"auto"``; :mod:`.providers`); those the
    installed onnxruntime lacks fall back to the CPU, and :attr:`provider_note` says so.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        threads: int | None = None,
        providers: Sequence[str] | str | None = None,
        optimise: bool = True,
    ):
        """``optimise`` False: no graph optimisation at load (for reading the metadata, not for running)."""
        self.path = Path(path)
        #: the providers asked for and those the session was created with (CPU last)
        self.provider_plan = plan_providers(providers, ort.get_available_providers())
        self.session = _session(self.path, threads, self.provider_plan, optimise)
        props = self.session.get_modelmeta().custom_metadata_map
        self.metadata: ModelMetadata = parse_metadata(props.get(METADATA_KEY), source=self.path.name)
        self._check_signature()

    @property
    def providers(self) -> list[str]:
        """Execution providers in use, best first (the session's own list: what a run uses)."""
        return self.session.get_providers()

    @property
    def provider_note(self) -> str | None:
        """One sentence when a requested provider is missing or could not start and the model runs on the CPU."""
        return fallback_note(self.provider_plan, self.providers)

    @property
    def device(self) -> str:
        """``"CPU (CPUExecutionProvider)"`` or ``"GPU (CUDAExecutionProvider)"``: where the model runs."""
        return describe(self.providers)

    def _check_signature(self) -> None:
        """The graph's inputs/outputs must match the metadata (names, channel counts, patch size, classes)."""
        m = self.metadata
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        expected = {"s2": len(m.s2.bands), "s1": len(m.s1.bands)}
        for name, channels in expected.items():
            shape = inputs.get(name)
            if shape is None or len(shape) != 4 or shape[1:] != [channels, m.patch_size_px, m.patch_size_px]:
                raise ModelError(
                    f"{self.path.name}: input {name!r} is {shape}, but the metadata says "
                    f"[N, {channels}, {m.patch_size_px}, {m.patch_size_px}]; re-export the model."
                )
        for head in m.heads:
            name = m.output_name(head)
            out = outputs.get(name)
            if out is None or len(out) != 2 or out[1] != m.n_classes:
                raise ModelError(
                    f"{self.path.name}: output {name!r} is {out}, but the metadata lists {m.n_classes} classes; "
                    "re-export the model."
                )

    def prepare(self, x: np.ndarray, spec: ModalitySpec, bad: np.ndarray | None = None) -> np.ndarray:
        """Physical values → model input: NaN and ±inf filled with the band mean, then normalised unless the graph
        does it.

        ``x' = (x - mean) / std`` per band (only when ``spec.normalised_in_graph`` is False). Works in place on
        float32 ``x`` (``[N, C, P, P]`` tiles, or ``[C, h, w]`` pixels of several tiles) and returns it. ``bad``:
        ``~np.isfinite(x)`` when the caller has it already.
        """
        mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
        bad = ~np.isfinite(x) if bad is None else bad
        if bad.any():
            np.copyto(x, np.broadcast_to(mean, x.shape), where=bad)
        if not spec.normalised_in_graph:
            x -= mean
            x /= np.asarray(spec.std, dtype=np.float32)[:, None, None]
        return x

    def run(self, s2: np.ndarray, s1: np.ndarray) -> np.ndarray:
        """Run the graph on already prepared inputs; the fused head's ``float32 [N, n_classes]``."""
        return self.session.run(["probabilities"], {"s2": s2, "s1": s1})[0]

    def run_heads(self, s2: np.ndarray, s1: np.ndarray) -> dict[str, np.ndarray]:
        """Run the graph once on already prepared inputs; ``{head: float32 [N, n_classes]}`` for every head of
        :attr:`ModelMetadata.heads` (``fused`` first)."""
        heads = self.metadata.heads
        outputs = self.session.run([self.metadata.output_name(h) for h in heads], {"s2": s2, "s1": s1})
        return dict(zip(heads, outputs))

    def _prepared(self, s2: np.ndarray, s1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.prepare(np.array(s2, dtype=np.float32), self.metadata.s2),
            self.prepare(np.array(s1, dtype=np.float32), self.metadata.s1),
        )

    def predict(self, s2: np.ndarray, s1: np.ndarray) -> np.ndarray:
        """Fused probabilities ``float32 [N, n_classes]`` for physical inputs (NaN = nodata; copies, inputs
        untouched)."""
        return self.run(*self._prepared(s2, s1))

    def predict_heads(self, s2: np.ndarray, s1: np.ndarray) -> dict[str, np.ndarray]:
        """``{head: probabilities float32 [N, n_classes]}`` of every head for physical inputs, from one run.

        NaN = nodata as in :meth:`predict`. The ``s1`` head depends on ``s1`` alone and the ``s2`` head on ``s2``
        alone, so for a tile without usable S2 any ``s2`` (zeros, NaN) gives the same ``s1`` probabilities.
        """
        return self.run_heads(*self._prepared(s2, s1))


def load_model(
    path: str | os.PathLike, threads: int | None = None, providers: Sequence[str] | str | None = None
) -> OnnxModel:
    """Open and validate a MoSAiC ONNX model (see :class:`OnnxModel`); :class:`ModelError` when unusable."""
    return OnnxModel(path, threads=threads, providers=providers)


def read_metadata(path: str | os.PathLike) -> ModelMetadata:
    """The validated metadata of the model at ``path`` (opened without graph optimisation: quick)."""
    return OnnxModel(path, threads=1, optimise=False).metadata

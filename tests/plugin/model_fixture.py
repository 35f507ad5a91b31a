"""A real MoSAiC network exported with the project's own exporter, for plugin tests.

torch runs in the TEST process only (never in plugin code). Until the trainer can produce a few-step
checkpoint, the network is untrained (timm ResNet-18 encoders for S2 and S1, random weights, seeded); it goes
through the same :func:`mosaic.backend.export.export_onnx` as ``mosaic export``, with schema-valid metadata.
"""

from __future__ import annotations

from pathlib import Path

from mosaic.backend.data.classes import BEN19_CLASSES

BACKBONE = "resnet18"
METRICS = {"test/ap_macro": 0.123}  #: a recorded metric, so the dock's metadata view has one to show


def export_test_model(path: Path, heads: tuple[str, ...] = ("fused",)) -> Path:
    """Write the ONNX model with embedded metadata to ``path``; ``heads``: its classification heads (``fused``, and
    the per-modality ``s1`` / ``s2`` heads)."""
    import torch

    from mosaic.backend.data.bands import S1_BANDS, band_stats, s2_bands
    from mosaic.backend.export.metadata import build_metadata
    from mosaic.backend.export.onnx_file import export_onnx
    from mosaic.backend.models.network import InferenceModel, MosaicNet

    torch.manual_seed(0)
    (m2, s2), (m1, s1) = band_stats(s2_bands(), "nearest"), band_stats(S1_BANDS, "nearest")
    modality_heads = [h for h in heads if h != "fused"]
    net = MosaicNet("s1s2", BACKBONE, m2, s2, m1, s1, n_classes=len(BEN19_CLASSES), modality_classifiers=modality_heads)
    parts = {
        "class_names": list(BEN19_CLASSES),
        "strategy": "supervised",
        "training": {"dataset": "untrained test network (random weights, seed 0)", "licence": "CDLA-Permissive-1.0"},
        "metrics": METRICS,
        "heads": {h: {"metrics": {}} for h in modality_heads},
    }
    return export_onnx(InferenceModel(net.eval(), heads), build_metadata(parts), path)

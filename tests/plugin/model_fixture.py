"""A real, small timm-based MoSAiC-shaped ONNX model for plugin tests (torch runs in the TEST process only).

Until ``mosaic export`` exists: a ResNet-18 (timm, random weights, seeded) over the 12 stacked, normalised
S2 + S1 channels, sigmoid output, exported with ``torch.onnx`` and schema-valid metadata embedded.
"""

from __future__ import annotations

import json
from pathlib import Path

from mosaic.backend.data.bands import GSD_M, S1_BANDS, band_stats, s2_bands
from mosaic.backend.data.classes import BEN19_CLASSES, class_colors

PATCH = 120


def model_metadata() -> dict:
    s2 = list(s2_bands("s2_10"))
    s1 = list(S1_BANDS)

    def modality(bands: list[str], units: str, nodata) -> dict:
        mean, std = band_stats(bands, "nearest")
        return {
            "bands": bands, "units": units, "dtype": "float32", "nodata": nodata,
            "gsd_m": [GSD_M[b] for b in bands],
            "normalisation": {"method": "standardise", "mean": mean, "std": std, "in_graph": True},
        }  # fmt: skip

    return {
        "schema_version": 1,
        "class_names": list(BEN19_CLASSES),
        "class_colors": class_colors(BEN19_CLASSES),
        "thresholds": [0.5] * len(BEN19_CLASSES),
        "thresholds_tuned": False,
        "inputs": {"s2": modality(s2, "reflectance x 10000", 0), "s1": modality(s1, "dB", "nan")},
        "output": {"name": "probabilities", "activation": "sigmoid"},
        "patch_size_px": PATCH,
        "gsd_m": 10,
        "upsampling": "nearest",
        "strategy": "supervised",
        "training": {"dataset": "untrained test model (random weights, seed 0)", "licence": "CDLA-Permissive-1.0"},
        "metrics": {"test/ap_macro": 0.123},
    }


def export_test_model(path: Path) -> Path:
    """Write the ONNX model with metadata to ``path``."""
    import onnx
    import timm
    import torch

    meta = model_metadata()
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = timm.create_model("resnet18", pretrained=False, in_chans=12, num_classes=19)
            mean = meta["inputs"]["s2"]["normalisation"]["mean"] + meta["inputs"]["s1"]["normalisation"]["mean"]
            std = meta["inputs"]["s2"]["normalisation"]["std"] + meta["inputs"]["s1"]["normalisation"]["std"]
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

        def forward(self, s2, s1):
            x = (torch.cat([s2, s1], dim=1) - self.mean) / self.std
            return torch.sigmoid(self.backbone(x))

    net = Net().eval()
    s2 = torch.zeros(1, 10, PATCH, PATCH)
    s1 = torch.zeros(1, 2, PATCH, PATCH)
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(
        net, (s2, s1), str(tmp), input_names=["s2", "s1"], output_names=["probabilities"],
        dynamic_axes={"s2": {0: "N"}, "s1": {0: "N"}, "probabilities": {0: "N"}}, dynamo=False,
    )  # fmt: skip
    model = onnx.load(str(tmp))
    entry = model.metadata_props.add()
    entry.key, entry.value = "mosaic", json.dumps(meta)
    onnx.save(model, str(path))
    tmp.unlink()
    return path

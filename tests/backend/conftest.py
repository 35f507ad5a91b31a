"""Fixtures for the export / inference / predict tests: the project's real network, untrained, and its ONNX file.

``MosaicNet`` (S1 and S2 ResNet-18 encoders from timm, random init, no downloads; concatenation + MLP fusion;
linear classifier) wrapped in ``InferenceModel`` (sigmoid), normalising its physical inputs inside with the
published BigEarthNet v2 statistics. Exported once per session with the production exporter: fused-only
(``torch_model``, ``onnx_model_path``: the graph of every model before per-modality heads) and with the S1-only and
S2-only heads (``heads_torch_model``, ``heads_onnx_model_path``).

``sen12ms_scenes``: a SEN12MS miniature in the official layout with several scenes of several patches each (no real
SEN12MS data exists here), for what groups or splits by scene.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from mosaic.backend.data.bands import S1_BANDS, band_stats, s2_bands
from mosaic.backend.data.classes import BEN19_CLASSES
from mosaic.backend.models.network import InferenceModel, MosaicNet


def build_inference_model(backbone: str = "resnet18", seed: int = 0, heads=("fused",)) -> InferenceModel:
    """The exported graph of an untrained MoSAiC network (S1 + S2, 19 BigEarthNet classes) with ``heads``."""
    torch.manual_seed(seed)
    (s2_mean, s2_std), (s1_mean, s1_std) = band_stats(s2_bands(), "nearest"), band_stats(S1_BANDS, "nearest")
    net = MosaicNet(
        "s1s2",
        backbone,
        s2_mean,
        s2_std,
        s1_mean,
        s1_std,
        n_classes=len(BEN19_CLASSES),
        modality_classifiers=[h for h in heads if h != "fused"],
    )
    return InferenceModel(net, heads).eval()


def metadata_parts(model: InferenceModel) -> dict:
    """What ``MosaicModule.export_metadata()`` provides, for the untrained test network."""
    norm = model.net.norm
    return {
        "class_names": list(BEN19_CLASSES),
        "s2_bands": list(s2_bands()),
        "s1_bands": list(S1_BANDS),
        "upsampling": "nearest",
        "norm_mean": {m: norm[m].mean.flatten().tolist() for m in ("s2", "s1")},
        "norm_std": {m: norm[m].std.flatten().tolist() for m in ("s2", "s1")},
        "strategy": "supervised",
        "patch_size_px": 120,
        "training": {"dataset": "none (untrained test network)", "licence": "CDLA-Permissive-1.0"},
        "metrics": {},
        "heads": {h: {"metrics": {}} for h in model.heads if h != "fused"},
    }


@pytest.fixture(scope="session")
def torch_model() -> InferenceModel:
    return build_inference_model()


@pytest.fixture(scope="session")
def onnx_model_path(tmp_path_factory, torch_model) -> str:
    """The test network exported with :func:`mosaic.backend.export.export_onnx` (default metadata)."""
    from mosaic.backend.export.metadata import build_metadata
    from mosaic.backend.export.onnx_file import export_onnx

    path = tmp_path_factory.mktemp("model") / "model.onnx"
    export_onnx(torch_model, build_metadata(metadata_parts(torch_model)), path)
    return str(path)


@pytest.fixture(scope="session")
def heads_torch_model() -> InferenceModel:
    return build_inference_model(heads=("fused", "s1", "s2"))


@pytest.fixture(scope="session")
def heads_onnx_model_path(tmp_path_factory, heads_torch_model) -> str:
    """The test network with S1-only and S2-only heads, exported with three outputs (default metadata)."""
    from mosaic.backend.export.metadata import build_metadata
    from mosaic.backend.export.onnx_file import export_onnx

    path = tmp_path_factory.mktemp("model") / "heads.onnx"
    export_onnx(heads_torch_model, build_metadata(metadata_parts(heads_torch_model)), path)
    return str(path)


#: The scenes of ``sen12ms_scenes`` (season folder, scene) → IGBP class code of all their patches.
SEN12MS_SCENES = {
    ("ROIs1158_spring", 1): 1,  # Forest
    ("ROIs1158_spring", 2): 10,  # Grassland
    ("ROIs1868_summer", 5): 12,  # Croplands
    ("ROIs1970_fall", 7): 17,  # Water
}
SEN12MS_PATCHES_PER_SCENE = 3


@pytest.fixture(scope="session")
def sen12ms_scenes(tmp_path_factory):
    """Official-layout SEN12MS folder: the scenes of :data:`SEN12MS_SCENES`, 3 patches each (``p1``…``p3``), 256 px,
    constant bands (S1 −10 / −17 dB, S2 band k = 100·k, one IGBP class per scene), deflate-compressed."""
    root = tmp_path_factory.mktemp("sen12ms_scenes")
    size = 256
    arrays = {
        "s1": (np.stack([np.full((size, size), -10.0), np.full((size, size), -17.0)]), "float32"),
        "s2": (np.stack([np.full((size, size), 100 * k) for k in range(1, 14)]), "uint16"),
    }
    for (season, scene), code in SEN12MS_SCENES.items():
        arrays["lc"] = (np.full((4, size, size), code), "uint16")
        for patch in range(1, SEN12MS_PATCHES_PER_SCENE + 1):
            for kind, (array, dtype) in arrays.items():
                path = root / season / f"{kind}_{scene}" / f"{season}_{kind}_{scene}_p{patch}.tif"
                path.parent.mkdir(parents=True, exist_ok=True)
                profile = {"driver": "GTiff", "width": size, "height": size, "count": array.shape[0], "dtype": dtype}
                transform = from_origin(300000, 5000000, 10, 10)
                with rasterio.open(
                    path, "w", **profile, crs="EPSG:32633", transform=transform, compress="deflate"
                ) as f:
                    f.write(array.astype(dtype))
    return root

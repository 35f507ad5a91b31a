"""The network takes physical units: normalisation inside, canonical band order, heads, encoders, export part."""

from __future__ import annotations

import pytest
import torch

from mosaic.backend.data.bands import SEN12MS_STATS, STATS, band_stats, s2_bands
from mosaic.backend.data.bigearthnet import BigEarthNetV2
from mosaic.backend.data.classes import SEN12MS_CLASSES
from mosaic.backend.errors import ConfigError
from mosaic.backend.models.encoders import build_encoder
from mosaic.backend.models.heads import mulsupcon_head
from mosaic.backend.models.network import MosaicNet
from mosaic.backend.models.normalization import BandNormalization
from mosaic.backend.training.module import MosaicModule


def test_band_normalization_formula_and_nodata():
    norm = BandNormalization([-12.643863677978516, -19.352558135986328], [5.133493900299072, 5.590505599975586])
    x = torch.tensor([[[[-12.643863677978516, float("nan")]], [[-13.76, -19.352558135986328]]]])
    y = norm(x)
    torch.testing.assert_close(
        y, torch.tensor([[[[0.0, 0.0]], [[(-13.76 + 19.352558135986328) / 5.590505599975586, 0.0]]]])
    )
    with pytest.raises(ValueError, match="standard deviations"):
        BandNormalization([1.0, 2.0], [1.0])


def test_band_normalization_clips_to_the_valid_range_and_keeps_nodata():
    """``(clip(x) - mean) / std``: VV limited to [-25, 0] dB, VH not clipped (±inf); NaN stays nodata (0)."""
    norm = BandNormalization([-10.0, -20.0], [2.0, 4.0], [(-25.0, 0.0), (-float("inf"), float("inf"))])
    x = torch.tensor([[[[-40.0, 3.0, -12.0, float("nan")]], [[-40.0, 3.0, -12.0, float("nan")]]]])
    want = torch.tensor([[[[-7.5, 5.0, -1.0, 0.0]], [[-5.0, 5.75, 2.0, 0.0]]]])
    torch.testing.assert_close(norm(x), want)
    assert "low" not in norm.state_dict()  # rebuilt from the configuration: checkpoints stay as they were
    with pytest.raises(ValueError, match="valid ranges"):
        BandNormalization([1.0, 2.0], [1.0, 1.0], [(0.0, 1.0)])


def _net(modalities="s1s2", backbone="resnet18", heads=("intra_s1", "intra_s2", "inter_s1", "inter_s2", "fused")):
    m2, s2 = band_stats(s2_bands("s2_10"))
    m1, s1 = band_stats(("VV", "VH"))
    torch.manual_seed(0)
    return MosaicNet(modalities, backbone, m2, s2, m1, s1, 19, fusion_dim=32, projection_dim=16, heads=heads).eval()


def test_network_on_a_real_patch_equals_manual_pipeline(ben_v2):
    sample = BigEarthNetV2(ben_v2, split="test")[0]
    s2, s1 = sample["s2"][None], sample["s1"][None]
    net = _net()
    mean2, std2 = band_stats(s2_bands("s2_10"), "nearest")
    x2 = (s2 - torch.tensor(mean2).view(1, -1, 1, 1)) / torch.tensor(std2).view(1, -1, 1, 1)
    vv, vh = STATS["nearest"]["VV"], STATS["nearest"]["VH"]  # (mean, std)
    x1 = torch.stack([(s1[:, 0] - vv[0]) / vv[1], (s1[:, 1] - vh[0]) / vh[1]], dim=1)
    with torch.no_grad():
        h = torch.cat([net.encoder["s1"](x1), net.encoder["s2"](x2)], dim=1)
        expected = net.classifier(net.fusion(h))
        torch.testing.assert_close(net(s2, s1), expected, atol=1e-5, rtol=1e-5)
        feats = net.features(s2, s1)
    assert feats["h_s1"].shape == (1, 512) and feats["h_s2"].shape == (1, 512) and feats["fused"].shape == (1, 32)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items() if k.startswith("norm.")} == {
        "norm.s1.mean": (1, 2, 1, 1),
        "norm.s1.std": (1, 2, 1, 1),
        "norm.s2.mean": (1, 10, 1, 1),
        "norm.s2.std": (1, 10, 1, 1),
    }


def test_single_modality_ignores_the_other_input_and_builds_only_asked_heads():
    net = _net("s1", heads=("intra_s1",))
    assert set(net.heads) == {"intra_s1"} and set(net.encoder) == {"s1"}
    s1 = torch.randn(2, 2, 64, 64) * 3 - 12
    with torch.no_grad():
        a = net(torch.full((2, 10, 64, 64), 500.0), s1)
        b = net(torch.full((2, 10, 64, 64), 3000.0), s1)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="unknown projection heads"):
        _net(heads=("typo",))
    with pytest.raises(ValueError, match="modalities"):
        _net("s3")


@pytest.mark.parametrize(("backbone", "width"), [("resnet18", 512), ("convnextv2_atto", 320)])
def test_timm_encoders_take_any_band_count(backbone, width):
    enc = build_encoder(backbone, in_chans=12)
    with torch.no_grad():
        assert enc(torch.randn(2, 12, 64, 64)).shape == (2, width)
    with pytest.raises(ConfigError, match="unknown backbone"):
        build_encoder("resnet_typo", 2)


def test_module_stores_normalisation_matching_upsampling_and_bands():
    module = MosaicModule(
        strategy="supervised", backbone="resnet18", fusion_dim=16, upsampling="bilinear", s2_bands=s2_bands("s2_12")
    )
    h = module.hparams
    assert h.s2_bands == list(s2_bands("s2_12")) and h.s1_bands == ["VV", "VH"]
    assert h.norm_mean["s2"][0] == STATS["bilinear"]["B01"][0] and h.norm_std["s2"][-1] == STATS["bilinear"]["B12"][1]
    torch.testing.assert_close(module.net.norm["s2"].mean.flatten(), torch.tensor(h.norm_mean["s2"]))
    parts = module.export_metadata()
    assert parts["norm_std"]["s2"] == h.norm_std["s2"] and parts["upsampling"] == "bilinear"
    model = module.inference_model()
    assert model.heads == ("fused", "s1", "s2")  # an S1+S2 supervised model trains the per-modality heads too
    with torch.no_grad():
        probs = model.probabilities(torch.full((3, 12, 120, 120), 1000.0), torch.full((3, 2, 120, 120), -15.0))
    for p in probs.values():
        assert p.shape == (3, 19) and bool(((p > 0) & (p < 1)).all())


def test_module_takes_the_statistics_of_its_dataset():
    """SEN12MS models normalise with the official SEN12MS statistics, not BigEarthNet's; s2_12 has none published."""
    module = MosaicModule(
        strategy="supervised",
        backbone="resnet18",
        fusion_dim=16,
        class_names=SEN12MS_CLASSES,
        patch_size_px=256,
        statistics="sen12ms",
    )
    h = module.hparams
    assert h.norm_mean["s1"] == [-11.76858, -18.294598] and h.norm_std["s1"] == [4.525339, 4.3586307]
    assert h.norm_mean["s2"][0] == SEN12MS_STATS["B02"][0] == 1226.4215 and h.norm_std["s2"][-1] == 991.48016
    torch.testing.assert_close(module.net.norm["s1"].std.flatten(), torch.tensor([4.525339, 4.3586307]))
    with pytest.raises(ConfigError, match="no published 'sen12ms' statistics for band\\(s\\) B01, B09"):
        MosaicModule(
            strategy="supervised", backbone="resnet18", fusion_dim=16, s2_bands=s2_bands("s2_12"), statistics="sen12ms"
        )
    # explicit statistics need no published ones
    own = {"s2": [0.0] * 12, "s1": [0.0, 0.0]}
    ones = {k: [1.0] * len(v) for k, v in own.items()}
    ok = MosaicModule(
        strategy="supervised",
        backbone="resnet18",
        fusion_dim=16,
        s2_bands=s2_bands("s2_12"),
        statistics="sen12ms",
        norm_mean=own,
        norm_std=ones,
    )
    assert ok.hparams.norm_mean == own


def test_early_fusion_stacks_the_normalised_bands_into_one_encoder(ben_v2):
    sample = BigEarthNetV2(ben_v2, split="test")[0]
    s2, s1 = sample["s2"][None], sample["s1"][None]
    (m2, sd2), (m1, sd1) = band_stats(s2_bands("s2_10")), band_stats(("VV", "VH"))
    torch.manual_seed(0)
    net = MosaicNet("s1s2", "resnet18", m2, sd2, m1, sd1, 19, fusion_dim=32, heads=("fused",), fusion="early").eval()
    assert set(net.encoder) == {"s1s2"} and net.branches == ("s1s2",) and set(net.heads) == {"fused"}
    assert net.encoder["s1s2"].conv1.weight.shape[1] == 12
    x = torch.cat(
        [
            (s2 - torch.tensor(m2).view(1, -1, 1, 1)) / torch.tensor(sd2).view(1, -1, 1, 1),
            (s1 - torch.tensor(m1).view(1, -1, 1, 1)) / torch.tensor(sd1).view(1, -1, 1, 1),
        ],
        dim=1,
    )
    with torch.no_grad():
        expected = net.classifier(net.fusion(net.encoder["s1s2"](torch.nan_to_num(x))))
        torch.testing.assert_close(net(s2, s1), expected, atol=1e-5, rtol=1e-5)
        assert set(net.features(s2, s1)) == {"h_s1s2", "fused"}
    with pytest.raises(ValueError, match="early fusion needs"):
        MosaicNet("s1s2", "resnet18", m2, sd2, m1, sd1, 19, heads=("intra_s1",), fusion="early")
    with pytest.raises(ValueError, match="early fusion needs"):
        MosaicNet("s2", "resnet18", m2, sd2, m1, sd1, 19, heads=(), fusion="early")


def test_convnextv2_atto_encodes_the_s2_and_s1_band_counts_of_a_real_patch(ben_v2):
    """ConvNeXt-V2 (atto) through timm with 10 (S2) and 2 (S1) input channels, on a real 120 px pair."""
    sample = BigEarthNetV2(ben_v2, split="test")[0]
    net = _net(backbone="convnextv2_atto", heads=("fused",))
    assert net.encoder["s2"].stem[0].in_channels == 10 and net.encoder["s1"].stem[0].in_channels == 2
    with torch.no_grad():
        feats = net.features(sample["s2"][None], sample["s1"][None])
        logits = net(sample["s2"][None], sample["s1"][None])
    assert feats["h_s2"].shape == (1, 320) and feats["h_s1"].shape == (1, 320) and logits.shape == (1, 19)
    assert bool(torch.isfinite(logits).all()) and float(feats["h_s2"].std()) > 0


@pytest.mark.parametrize(
    ("in_dim", "hidden"),
    [(2048, 1024), (512, 256), (256, 256)],
    ids=["resnet50", "resnet18", "yeast_mlp"],
)
def test_mulsupcon_head_has_the_official_shapes(in_dim, hidden):
    """Official MulSupCon ``models.py: MLP(in_dim, out_dim=256, n_hidden=1)``: the hidden width halves while it stays
    at least 2 × 256 (ResNet-50 2048 → 1024 → 256, ResNet-18 512 → 256 → 256, the yeast MLP's 256 → 256 → 256)."""
    head = mulsupcon_head(in_dim)
    shapes = [(type(m).__name__, tuple(m.weight.shape) if hasattr(m, "weight") else None) for m in head]
    assert shapes == [
        ("Linear", (hidden, in_dim)),
        ("BatchNorm1d", (hidden,)),
        ("ReLU", None),
        ("Dropout", None),
        ("Linear", (256, hidden)),
    ]
    assert head[3].p == 0.1 and head[0].bias is not None and head(torch.randn(4, in_dim)).shape == (4, 256)


def test_encoder_without_max_pool_and_with_timm_drop_rates():
    """``max_pool=False`` drops a ResNet's stem max-pool (IaI-SimCLR's ResNetEncoder): twice the feature-map side;
    ConvNeXt has none to drop. The drop rates reach timm."""
    x = torch.randn(2, 2, 64, 64)
    pooled = build_encoder("resnet18", 2)
    plain = build_encoder("resnet18", 2, max_pool=False)
    assert isinstance(pooled.maxpool, torch.nn.MaxPool2d) and isinstance(plain.maxpool, torch.nn.Identity)
    assert pooled.forward_features(x).shape[-1] == 2 and plain.forward_features(x).shape[-1] == 4
    assert plain(x).shape == pooled(x).shape == (2, 512)
    convnext = build_encoder("convnextv2_atto", 2, max_pool=False, drop_rate=0.15, drop_path_rate=0.15)
    assert convnext.drop_rate == 0.15 and convnext.stages[-1].blocks[-1].drop_path.drop_prob == pytest.approx(0.15)

"""Batched S1/S2 augmentations: values against torch reference operations, alignment, seeding, statistics."""

from __future__ import annotations

import math

import pytest
import torch

from mosaic.backend.data.transforms import (
    Geometry,
    ModalityAugment,
    PairAugment,
    crop_resize,
    dihedral,
    gaussian_blur,
    greyscale,
    s1_noise,
    s2_jitter,
    sample_crop_boxes,
)


def _batch(b=4, c=3, size=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, size, size, generator=g) * 5000


def test_dihedral_equals_torch_flip_then_rot90_per_sample():
    """Every flip combination with every quarter turn, on non-contiguous channels_last input too."""
    x = _batch(b=16)
    h = torch.tensor([False, True] * 8)
    v = torch.tensor([False, False, True, True] * 4)
    k = torch.arange(4).repeat_interleave(4)
    for inp in (x, x.contiguous(memory_format=torch.channels_last)):
        out = dihedral(inp, h, v, k)
        for i in range(16):
            ref = x[i].flip(-1) if h[i] else x[i]
            ref = ref.flip(-2) if v[i] else ref
            assert torch.equal(out[i], torch.rot90(ref, int(k[i]), dims=(-2, -1))), i


def test_crop_resize_full_box_is_identity_and_pixel_box_is_exact_crop():
    # tolerance 0.1 on values up to 5000: float32 grid coordinates are exact to ~1e-5 px
    x = _batch()
    full = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).repeat(4, 1)
    torch.testing.assert_close(crop_resize(x, full, 120), x, rtol=0, atol=0.1)
    # box rows 30..89, cols 12..71 (60 px) resampled to 60 px -> exactly that crop
    box = torch.tensor([[30 / 120, 12 / 120, 0.5, 0.5]]).repeat(4, 1)
    torch.testing.assert_close(crop_resize(x, box, 60), x[:, :, 30:90, 12:72], rtol=0, atol=0.1)
    # a 2x2-pixel box resampled to 8 px: output column 4 has its centre at input x = 1.125 px, row 0 at y = 0.125 px
    # (clamped to row 0): bilinear weights 0.375 / 0.625 between input columns 0 and 1
    up = crop_resize(x, torch.tensor([[0.0, 0.0, 1 / 60, 1 / 60]]).repeat(4, 1), 8)
    expected = 0.375 * x[:, :, 0, 0] + 0.625 * x[:, :, 0, 1]
    torch.testing.assert_close(up[:, :, 0, 4], expected, rtol=0, atol=0.1)


def test_crop_boxes_respect_scale_ratio_and_bounds():
    g = torch.Generator().manual_seed(3)
    boxes = sample_crop_boxes(10_000, (0.3, 0.8), (3 / 4, 4 / 3), g)
    top, left, h, w = boxes.unbind(1)
    assert bool((top >= 0).all() and (left >= 0).all() and (top + h <= 1 + 1e-6).all() and (left + w <= 1 + 1e-6).all())
    area = h * w
    assert float(area.min()) >= 0.3 - 1e-5 and float(area.max()) <= 0.8 + 1e-5
    ratio = w / h
    assert float(ratio.min()) >= 3 / 4 - 1e-5 and float(ratio.max()) <= 4 / 3 + 1e-5
    assert abs(float(area.mean()) - 0.55) < 0.01


def test_aligned_pairs_share_geometry_and_unaligned_do_not():
    s2 = _batch(8, 10, 120, seed=1)
    s1 = s2[:, :2].clone()  # same scene content in both modalities
    options = dict(s2_brightness=0.0, s2_contrast=0.0, s1_noise_db=0.0)
    a2, a1 = PairAugment(aligned=True, **options)(s2, s1, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a2[:, :2], a1, rtol=0, atol=1e-3)  # the same crop box, flips and rotation
    u2, u1 = PairAugment(aligned=False, **options)(s2, s1, torch.Generator().manual_seed(0))
    assert (u2[:, :2] - u1).abs().amax(dim=(1, 2, 3)).gt(1).sum() >= 6


def test_seeded_generator_reproduces_views():
    s2, s1 = _batch(4, 10), _batch(4, 2, seed=2) / 500 - 20
    aug = PairAugment()
    first = aug(s2, s1, torch.Generator().manual_seed(7))
    second = aug(s2, s1, torch.Generator().manual_seed(7))
    third = aug(s2, s1, torch.Generator().manual_seed(8))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], third[0])
    assert first[0].shape == (4, 10, 120, 120) and first[1].shape == (4, 2, 120, 120)


def test_s2_jitter_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.full((2000, 4, 8, 8), 1000.0) + torch.randn(2000, 4, 8, 8, generator=g) * 100
    out = s2_jitter(x, brightness=0.2, contrast=0.3, generator=g)
    gain = out.mean(dim=(-2, -1)) / x.mean(dim=(-2, -1))  # the band mean scales by b ~ U(0.8, 1.2)
    assert float(gain.min()) >= 0.8 - 1e-3 and float(gain.max()) <= 1.2 + 1e-3
    assert abs(float(gain.mean()) - 1.0) < 0.01 and abs(float(gain.var()) - 0.4**2 / 12) < 0.002
    stretch = out.std(dim=(-2, -1)) / x.std(dim=(-2, -1))  # the spread scales by c ~ U(0.7, 1.3)
    assert float(stretch.min()) >= 0.7 - 1e-3 and float(stretch.max()) <= 1.3 + 1e-3
    # independent per band: the draws of two bands of one sample are uncorrelated
    corr = torch.corrcoef(torch.stack([gain[:, 0], gain[:, 1]]))[0, 1]
    assert abs(float(corr)) < 0.1


def test_s1_noise_is_additive_gaussian_in_db():
    g = torch.Generator().manual_seed(0)
    x = torch.full((16, 2, 64, 64), -15.0)
    noise = s1_noise(x, 0.7, g) - x
    assert abs(float(noise.mean())) < 0.01 and abs(float(noise.std()) - 0.7) < 0.01


def test_modality_augment_applies_given_geometry():
    x = _batch(2, 2)
    aug = ModalityAugment("s1", size=120, s1_noise_db=0.0)
    geometry = Geometry(
        boxes=torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 2),
        hflip=torch.tensor([True, False]),
        vflip=torch.tensor([False, False]),
        turns=torch.tensor([0, 1]),
    )
    out = aug(x, geometry=geometry)
    torch.testing.assert_close(out[0], x[0].flip(-1), rtol=0, atol=0.1)
    torch.testing.assert_close(out[1], torch.rot90(x[1], 1, dims=(-2, -1)), rtol=0, atol=0.1)
    with pytest.raises(ValueError, match="kind"):
        ModalityAugment("rgb")


def test_gaussian_blur_and_greyscale_equal_torchvision():
    """Per-sample σ blur = torchvision ``gaussian_blur`` (reflect padding) with that σ; greyscale = torchvision's
    ``rgb_to_grayscale`` of (B04, B03, B02) written into every band (IaI-SimCLR's ``greyscale_multichannel``)."""
    from torchvision.transforms.functional import gaussian_blur as tv_blur
    from torchvision.transforms.functional import rgb_to_grayscale

    x = _batch(3, 10, 64)
    sigma = torch.tensor([0.1, 0.9, 2.0])
    out = gaussian_blur(x, sigma, 7)
    for i in range(3):
        torch.testing.assert_close(out[i], tv_blur(x[i], [7, 7], [float(sigma[i])] * 2), rtol=0, atol=0.05)
    grey = greyscale(x, (2, 1, 0))
    want = rgb_to_grayscale(x[:, [2, 1, 0]])
    assert grey.shape == x.shape and torch.equal(grey[:, :1], grey[:, 9:])
    torch.testing.assert_close(grey[:, :1], want, rtol=1e-5, atol=0.05)


def test_iai_simclr_radiometry_draws_jitter_or_grey_then_blur():
    """``s2_jitter`` 0.8 / ``s2_grey`` 0.1 (one draw: jitter, else grey, else nothing) and ``blur`` 0.3 per sample;
    the default options draw nothing extra (the protocol's views stay as they were)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2000, 10, 16, 16, generator=g) * 1000 + 500
    aug = ModalityAugment("s2", size=16, s2_brightness=0.8, s2_contrast=0.8, s2_jitter=0.8, s2_grey=0.1, blur=0.3)
    assert aug.blur_kernel == 3 and ModalityAugment("s2", size=256, blur=0.3).blur_kernel == 27  # as the official
    out = aug.radiometric(x, g)
    grey = out.std(dim=1).amax(dim=(-2, -1)) < 1e-3  # every band equal
    kept = (out == x).flatten(1).all(1)
    jittered = ~grey & ~kept
    assert abs(float(grey.float().mean()) - 0.1) < 0.03 and abs(float(jittered.float().mean()) - 0.8 * 1) < 0.04
    blur_only = ModalityAugment("s1", size=16, s1_noise_db=0.0, blur=0.3).radiometric(x, g)
    blurred = float((blur_only != x).flatten(1).any(1).float().mean())
    assert 0.25 < blurred < 0.33  # 30 %, less the draws of σ ≈ 0.1 whose kernel is the identity in float32
    state = torch.Generator().manual_seed(5)
    plain = ModalityAugment("s2", size=16)
    torch.testing.assert_close(
        plain.radiometric(x[:8], state), s2_jitter(x[:8], 0.1, 0.1, torch.Generator().manual_seed(5))
    )
    with pytest.raises(ValueError, match="probabilities"):
        ModalityAugment("s2", s2_jitter=0.8, s2_grey=0.3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_gpu_batches():
    s2, s1 = _batch(4, 10).cuda(), _batch(4, 2).cuda()
    out2, out1 = PairAugment()(s2, s1, torch.Generator(device="cuda").manual_seed(0))
    assert out2.is_cuda and out1.is_cuda and math.isfinite(float(out2.sum()))

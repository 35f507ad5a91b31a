"""Batched augmentations in torch for ``[B, C, H, W]`` tensors (CPU or GPU), one draw per sample.

Geometric: random resized crop (box area ``∈ scale · H·W``, aspect ratio log-uniform in ``ratio``, resampled to
``size`` with bilinear ``grid_sample``), horizontal / vertical flips, rotations by ``k · 90°``.
Radiometric, per modality and in physical units:

* S2 brightness / contrast per band: ``x' = (x - m) · c + m · b`` with ``m`` the band's spatial mean,
  ``c ~ U(1 - contrast, 1 + contrast)``, ``b ~ U(1 - brightness, 1 + brightness)`` drawn per sample and band.
* S1 additive noise in dB: ``x' = x + n``, ``n ~ N(0, noise_db²)`` per pixel.

:class:`PairAugment` applies the same geometric draw to S1 and S2 of one place when ``aligned=True`` (the
crop box is expressed in fractions of the patch, so grids of different sizes stay co-registered), and
independent draws otherwise. Every random number comes from the optional ``torch.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn.functional import affine_grid, grid_sample

Box = torch.Tensor  #: ``[B, 4]`` float: (top, left, height, width) as fractions of the input side


def _uniform(n: int, low: float, high: float, generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def sample_crop_boxes(
    n: int,
    scale: tuple[float, float] = (0.5, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Box:
    """``n`` random crop boxes (top, left, height, width) in fractions of the patch side.

    Area fraction ``a ~ U(scale)``, aspect ``r = exp(U(log ratio))``; ``w = sqrt(a·r)``, ``h = sqrt(a/r)`` clipped
    to 1; the top-left corner is uniform over the positions that keep the box inside the patch.
    """
    area = _uniform(n, *scale, generator, device)
    log_r = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), generator, device)
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    top = torch.rand(n, generator=generator, device=device) * (1 - h)
    left = torch.rand(n, generator=generator, device=device) * (1 - w)
    return torch.stack([top, left, h, w], dim=1)


def crop_resize(x: torch.Tensor, boxes: Box, size: int, mode: str = "bilinear") -> torch.Tensor:
    """Crop each sample of ``x [B, C, H, W]`` to its box (fractions) and resample to ``size × size``.

    Implemented as one ``affine_grid`` + ``grid_sample`` (``align_corners=False``): a full box ``(0, 0, 1, 1)`` with
    ``size == H`` returns ``x`` exactly, and a box on whole pixels of the same size in pixels is an exact crop.
    """
    top, left, h, w = boxes.to(x.dtype).unbind(1)
    theta = torch.zeros(x.shape[0], 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = w
    theta[:, 0, 2] = 2 * left + w - 1
    theta[:, 1, 1] = h
    theta[:, 1, 2] = 2 * top + h - 1
    grid = affine_grid(theta, [x.shape[0], x.shape[1], size, size], align_corners=False)
    return grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=False)


def dihedral(x: torch.Tensor, hflip: torch.Tensor, vflip: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Flip (horizontal: last axis, vertical: H axis) then rotate by ``turns · 90°`` each sample of square ``x``.

    Equal to ``torch.rot90(x[i].flip(...), turns[i], dims=(-2, -1))`` per sample, done as one ``gather`` with a
    per-sample index computed on the device: no host synchronisation and one pass over ``x``. Output pixel
    ``(r, c)`` of a turn by ``k`` (counter-clockwise) reads ``(c, n-1-r)`` for ``k = 1``, ``(n-1-r, n-1-c)`` for
    ``k = 2``, ``(n-1-c, r)`` for ``k = 3`` of the flipped sample.
    """
    b, c, n = x.shape[0], x.shape[1], x.shape[-1]
    r = torch.arange(n, device=x.device).view(1, n, 1).expand(b, n, n)
    col = torch.arange(n, device=x.device).view(1, 1, n).expand(b, n, n)
    k = turns.view(b, 1, 1)
    row_src = torch.where(k == 1, col, torch.where(k == 2, n - 1 - r, torch.where(k == 3, n - 1 - col, r)))
    col_src = torch.where(k == 1, n - 1 - r, torch.where(k == 2, n - 1 - col, torch.where(k == 3, r, col)))
    row_src = torch.where(vflip.view(b, 1, 1), n - 1 - row_src, row_src)
    col_src = torch.where(hflip.view(b, 1, 1), n - 1 - col_src, col_src)
    index = (row_src * n + col_src).view(b, 1, n * n).expand(b, c, n * n)
    return x.reshape(b, c, n * n).gather(2, index).view(x.shape)


def s2_jitter(
    x: torch.Tensor, brightness: float, contrast: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per-sample, per-band ``(x - m) · c + m · b`` (see module docstring); reflectance stays ≥ 0."""
    b, c = x.shape[:2]
    gain = _uniform(b * c, 1 - brightness, 1 + brightness, generator, x.device).view(b, c, 1, 1)
    stretch = _uniform(b * c, 1 - contrast, 1 + contrast, generator, x.device).view(b, c, 1, 1)
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return ((x - mean) * stretch.to(x.dtype) + mean * gain.to(x.dtype)).clamp(min=0)


def s1_noise(x: torch.Tensor, noise_db: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x + N(0, noise_db²)`` per pixel, in dB."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + noise_db * noise


@dataclass
class Geometry:
    """One geometric draw for a batch: crop boxes, flip flags and quarter turns per sample."""

    boxes: Box
    hflip: torch.Tensor
    vflip: torch.Tensor
    turns: torch.Tensor


class ModalityAugment:
    """Geometric + radiometric augmentation of one modality; ``kind`` is ``"s2"`` or ``"s1"``."""

    def __init__(
        self,
        kind: str,
        size: int = 120,
        scale: tuple[float, float] = (0.5, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip: float = 0.5,
        vflip: float = 0.5,
        rot90: bool = True,
        s2_brightness: float = 0.1,
        s2_contrast: float = 0.1,
        s1_noise_db: float = 0.5,
    ):
        if kind not in ("s2", "s1"):
            raise ValueError(f"kind must be 's2' or 's1', got {kind!r}")
        self.kind, self.size, self.scale, self.ratio = kind, size, scale, ratio
        self.hflip, self.vflip, self.rot90 = hflip, vflip, rot90
        self.s2_brightness, self.s2_contrast, self.s1_noise_db = s2_brightness, s2_contrast, s1_noise_db

    def draw(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Geometry:
        """A geometric draw for ``n`` samples."""
        boxes = sample_crop_boxes(n, self.scale, self.ratio, generator, device)
        hflip = torch.rand(n, generator=generator, device=device) < self.hflip
        vflip = torch.rand(n, generator=generator, device=device) < self.vflip
        turns = (
            torch.randint(0, 4, (n,), generator=generator, device=device)
            if self.rot90
            else torch.zeros(n, dtype=torch.long, device=device)
        )
        return Geometry(boxes, hflip, vflip, turns)

    def geometric(self, x: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        """Apply a draw: crop-and-resize, then flips, then rotation."""
        x = crop_resize(x, geometry.boxes, self.size)
        return dihedral(x, geometry.hflip, geometry.vflip, geometry.turns)

    def radiometric(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """S2 brightness/contrast jitter or S1 dB noise."""
        if self.kind == "s2":
            return s2_jitter(x, self.s2_brightness, self.s2_contrast, generator)
        return s1_noise(x, self.s1_noise_db, generator)

    def __call__(
        self, x: torch.Tensor, generator: torch.Generator | None = None, geometry: Geometry | None = None
    ) -> torch.Tensor:
        geometry = geometry or self.draw(x.shape[0], generator, x.device)
        return self.radiometric(self.geometric(x, geometry), generator)


class PairAugment:
    """Augment co-registered S2 and S1 batches; ``aligned=True`` shares the geometric draw between them."""

    def __init__(self, aligned: bool = True, **options):
        self.aligned = aligned
        self.s2 = ModalityAugment("s2", **options)
        self.s1 = ModalityAugment("s1", **options)

    def __call__(
        self, s2: torch.Tensor, s1: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        geometry = self.s2.draw(s2.shape[0], generator, s2.device)
        s1_geometry = geometry if self.aligned else self.s1.draw(s1.shape[0], generator, s1.device)
        return self.s2(s2, generator, geometry), self.s1(s1, generator, s1_geometry)

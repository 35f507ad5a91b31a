"""Batched augmentations in torch for ``[B, C, H, W]`` tensors (CPU or GPU), one draw per sample.

Geometric: random resized crop (box area ``∈ scale · H·W``, aspect ratio log-uniform in ``ratio``, resampled to
``size`` with bilinear ``grid_sample``), horizontal / vertical flips, rotations by ``k · 90°``.
Radiometric, per modality and in physical units:

* S2 brightness / contrast per band: ``x' = (x - m) · c + m · b`` with ``m`` the band's spatial mean,
  ``c ~ U(1 - contrast, 1 + contrast)``, ``b ~ U(1 - brightness, 1 + brightness)`` drawn per sample and band.
* S1 additive noise in dB: ``x' = x + n``, ``n ~ N(0, noise_db²)`` per pixel.
* Optional (off by default; IaI-SimCLR's official intra-modal augmentations): with probability ``s2_jitter`` the S2
  brightness / contrast above, else with probability ``s2_grey`` greyscale
  ``g = 0.2989 R + 0.587 G + 0.114 B`` (B04, B03, B02) written into every band; then for either modality, with
  probability ``blur``, a Gaussian blur of kernel ``k`` = the odd ceiling of ``blur_kernel · size`` and
  ``σ ~ U(0.1, 2.0)`` px per sample (reflect padding).

:class:`PairAugment` applies the same geometric draw to S1 and S2 of one place when ``aligned=True`` (the
crop box is expressed in fractions of the patch, so grids of different sizes stay co-registered), and
independent draws otherwise. Every random number comes from the optional ``torch.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn.functional import affine_grid, conv2d, grid_sample, pad

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


def greyscale(x: torch.Tensor, rgb: tuple[int, int, int]) -> torch.Tensor:
    """``g = 0.2989 R + 0.587 G + 0.114 B`` of the bands ``rgb = (red, green, blue)`` repeated over every band."""
    red, green, blue = (x[:, i : i + 1] for i in rgb)
    return (0.2989 * red + 0.587 * green + 0.114 * blue).expand_as(x).contiguous()


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel: int) -> torch.Tensor:
    """Separable Gaussian blur of each sample of ``x [B, C, H, W]`` with its own ``sigma [B]`` (px), odd ``kernel``
    size, reflect padding: ``w_i ∝ exp(-i² / (2σ²))``, ``i = -k//2 … k//2``, normalised to sum 1."""
    b, c, h, w = x.shape
    r = kernel // 2
    offsets = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    weights = torch.exp(-(offsets[None] ** 2) / (2 * sigma.to(x.dtype)[:, None] ** 2))
    weights = (weights / weights.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [B·C, k]
    y = pad(x.reshape(1, b * c, h, w), (r, r, 0, 0), mode="reflect")
    y = conv2d(y, weights.view(b * c, 1, 1, kernel), groups=b * c)
    y = pad(y, (0, 0, r, r), mode="reflect")
    return conv2d(y, weights.view(b * c, 1, kernel, 1), groups=b * c).view(b, c, h, w)


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
    """Geometric + radiometric augmentation of one modality; ``kind`` is ``"s2"`` or ``"s1"``.

    ``s2_jitter`` (probability of the S2 brightness / contrast jitter, default always), ``s2_grey``, ``rgb``,
    ``blur`` and ``blur_kernel``: see the module docstring; with the defaults no extra random number is drawn.
    """

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
        s2_jitter: float = 1.0,
        s2_grey: float = 0.0,
        rgb: tuple[int, int, int] = (2, 1, 0),
        blur: float = 0.0,
        blur_kernel: float = 0.1,
    ):
        if kind not in ("s2", "s1"):
            raise ValueError(f"kind must be 's2' or 's1', got {kind!r}")
        if min(s2_jitter, s2_grey) < 0.0 or s2_jitter + s2_grey > 1.0 or not 0.0 <= blur <= 1.0:
            raise ValueError(
                f"s2_jitter, s2_grey and blur are probabilities (s2_jitter + s2_grey ≤ 1), not {s2_jitter}, "
                f"{s2_grey}, {blur}"
            )
        self.kind, self.size, self.scale, self.ratio = kind, size, scale, ratio
        self.hflip, self.vflip, self.rot90 = hflip, vflip, rot90
        self.s2_brightness, self.s2_contrast, self.s1_noise_db = s2_brightness, s2_contrast, s1_noise_db
        self.s2_jitter, self.s2_grey, self.rgb, self.blur = s2_jitter, s2_grey, tuple(rgb), blur
        self.blur_kernel = 2 * math.ceil((blur_kernel * size - 1) / 2) + 1  # the odd ceiling, ≥ 1

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
        """S2 brightness/contrast jitter (or greyscale) or S1 dB noise, then the optional blur."""
        n = x.shape[0]
        if self.kind == "s2" and (self.s2_jitter < 1.0 or self.s2_grey > 0.0):
            u = torch.rand(n, generator=generator, device=x.device).view(n, 1, 1, 1)
            jittered = s2_jitter(x, self.s2_brightness, self.s2_contrast, generator)
            grey = greyscale(x, self.rgb) if self.s2_grey > 0.0 else x
            x = torch.where(u < self.s2_jitter, jittered, torch.where(u < self.s2_jitter + self.s2_grey, grey, x))
        elif self.kind == "s2":
            x = s2_jitter(x, self.s2_brightness, self.s2_contrast, generator)
        else:
            x = s1_noise(x, self.s1_noise_db, generator)
        if self.blur > 0.0:
            blurred = torch.rand(n, generator=generator, device=x.device).view(n, 1, 1, 1) < self.blur
            sigma = _uniform(n, 0.1, 2.0, generator, x.device)
            x = torch.where(blurred, gaussian_blur(x, sigma, self.blur_kernel), x)
        return x

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

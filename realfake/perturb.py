"""Image perturbations for the robustness curves and for CNNDetection-style training augmentation.

Every function takes a uint8 tensor (C x H x W, or N x C x H x W) and returns a uint8 tensor of the
same shape, values in [0, 255]. Strength 0 (sigma 0, quality None, fraction 1, zoom 1) returns the
input unchanged.

- gaussian_blur(x, sigma)      Gaussian blur, kernel 2*ceil(3 sigma)+1, reflect padding (torchvision)
- jpeg(x, quality)             JPEG re-encoding at `quality` (Pillow, libjpeg; 4:2:0 chroma), decoded back
- center_crop(x, fraction)     keep the central `fraction` of each side, resize back to H x W (bilinear)
- zoom(x, factor)              resize by `factor` (up > 1, down < 1) and back to H x W: resampling loss
- flip_shift(x, g, flip, shift) training augmentation: random mirror and shift (reflect padding), per image
- cnndetection_augment(x, g)   Wang et al. 2020: blur sigma ~ U[0, 3] with p = 0.5, then JPEG
                               quality ~ U{30..100} with p = 0.5, per image, seeded by generator g
"""
from __future__ import annotations

import io
import math

import numpy as np

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from PIL import Image


def _check(x: torch.Tensor) -> None:
    if x.dtype != torch.uint8 or x.ndim not in (3, 4):
        raise ValueError(f"expected a uint8 tensor C x H x W or N x C x H x W, got {x.dtype} {tuple(x.shape)}")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    _check(x)
    if sigma <= 0:
        return x.clone()
    size = 2 * math.ceil(3 * sigma) + 1
    # torchvision pads by reflection, which needs the kernel no larger than the image
    side = min(x.shape[-1], x.shape[-2])
    size = min(size, side - 1 if side % 2 == 0 else side)
    out = TF.gaussian_blur(x.float(), kernel_size=[size, size], sigma=[sigma, sigma])
    return out.round().clamp(0, 255).to(torch.uint8)


def jpeg(x: torch.Tensor, quality: int | None) -> torch.Tensor:
    _check(x)
    if quality is None:
        return x.clone()
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    if x.ndim == 4:
        return torch.stack([jpeg(image, quality) for image in x])
    array = x.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, "JPEG", quality=int(quality))
    decoded = np.asarray(Image.open(buffer))
    return torch.from_numpy((decoded[..., None] if decoded.ndim == 2 else decoded).copy()).permute(2, 0, 1)


def _resize(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    out = TF.resize(x.float(), size, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8)


def center_crop(x: torch.Tensor, fraction: float) -> torch.Tensor:
    _check(x)
    if not 0 < fraction <= 1:
        raise ValueError(f"crop fraction must be in (0, 1], got {fraction}")
    height, width = x.shape[-2:]
    if fraction == 1:
        return x.clone()
    crop = TF.center_crop(x, [max(1, round(height * fraction)), max(1, round(width * fraction))])
    return _resize(crop, [height, width])


def zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    _check(x)
    if factor <= 0:
        raise ValueError(f"zoom factor must be positive, got {factor}")
    height, width = x.shape[-2:]
    if factor == 1:
        return x.clone()
    scaled = _resize(x, [max(1, round(height * factor)), max(1, round(width * factor))])
    return _resize(scaled, [height, width])


PERTURBATIONS = {
    "blur": (gaussian_blur, "Gaussian blur sigma", [0, 0.5, 1.0, 1.5, 2.0, 3.0]),
    "jpeg": (jpeg, "JPEG quality", [None, 95, 90, 75, 50, 30]),
    "crop": (center_crop, "centre-crop fraction", [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]),
    "zoom": (zoom, "zoom factor", [1.0, 0.5, 0.75, 1.5, 2.0]),
}


def apply(x: torch.Tensor, kind: str, strength) -> torch.Tensor:
    """PERTURBATIONS[kind] at `strength` on a batch or one image."""
    if kind not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[kind][0](x, strength)


def cnndetection_augment(x: torch.Tensor, generator: torch.Generator, blur_p: float = 0.5, jpeg_p: float = 0.5,
                         sigma_max: float = 3.0, quality_range: tuple[int, int] = (30, 100)) -> torch.Tensor:
    """Wang et al. (2020) "Blur+JPEG (0.5)" augmentation on a uint8 batch N x C x H x W, per image."""
    _check(x)
    if x.ndim == 3:
        return cnndetection_augment(x[None], generator, blur_p, jpeg_p, sigma_max, quality_range)[0]
    n = len(x)
    do_blur = torch.rand(n, generator=generator) < blur_p
    sigmas = torch.rand(n, generator=generator) * sigma_max
    do_jpeg = torch.rand(n, generator=generator) < jpeg_p
    qualities = torch.randint(quality_range[0], quality_range[1] + 1, (n,), generator=generator)
    out = x.clone()
    for i in range(n):
        if do_blur[i] and sigmas[i] > 0:
            out[i] = gaussian_blur(out[i], float(sigmas[i]))
        if do_jpeg[i]:
            out[i] = jpeg(out[i], int(qualities[i]))
    return out


def flip_shift(x: torch.Tensor, generator: torch.Generator, flip: bool, shift: int) -> torch.Tensor:
    """Random horizontal flip (p = 0.5) and a random shift by up to `shift` pixels with reflect padding, per image,
    on a batch N x C x H x W of any dtype (uint8 pixels or float network input). The hands and CIFAKE recipes use it;
    the random draws are: flips, then vertical, then horizontal shifts."""
    n, _, h, w = x.shape
    if flip:
        flip_mask = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(flip_mask[:, None, None, None], x.flip(3), x)
    if shift:
        padded = F.pad(x if x.is_floating_point() else x.float(), (shift,) * 4, mode="reflect").to(x.dtype)
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]    # n x h x 1
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]    # n x 1 x w
        batch = torch.arange(n, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)   # n x c x h x w
    return x

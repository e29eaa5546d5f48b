"""Where the detector looks: Grad-CAM (the maintained `grad-cam` package) and the mean Fourier spectrum per class."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from realfake.sd_detector.train import to_input


def last_conv(model: nn.Module) -> nn.Module:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the model has no Conv2d layer for Grad-CAM")
    return convs[-1]


def grad_cam(model: nn.Module, pixels: torch.Tensor, target_class: int = 1, layer: nn.Module | None = None) -> np.ndarray:
    """Grad-CAM maps (N x H x W, values 0..1) for `target_class` (1 = generated) at `layer` (default: the last conv).

    Computed in float32 (no autocast) by pytorch_grad_cam.GradCAM (Selvaraju et al. 2017).
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    model = model.eval()
    x = to_input(pixels, channels_last=False).requires_grad_(False)
    with GradCAM(model=model, target_layers=[layer or last_conv(model)]) as cam:
        maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(target_class)] * len(x))
    return np.asarray(maps)


def plot_grad_cam(pixels: torch.Tensor, maps: np.ndarray, titles: list[str], ncols: int = 8,
                  title: str = "Grad-CAM for the 'generated' logit"):
    """Each image above its Grad-CAM heat map overlaid on it."""
    from pytorch_grad_cam.utils.image import show_cam_on_image
    n = len(pixels)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(2 * nrows, ncols, figsize=(1.5 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        r, c = 2 * (i // ncols), i % ncols
        image = pixels[i].permute(1, 2, 0).numpy()
        axes[r, c].imshow(image, interpolation="nearest")
        axes[r, c].set_title(titles[i], fontsize=7)
        axes[r + 1, c].imshow(show_cam_on_image(image.astype(np.float32) / 255, maps[i], use_rgb=True),
                              interpolation="nearest")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def mean_spectrum(pixels: torch.Tensor, highpass: bool = True) -> np.ndarray:
    """Mean log-magnitude 2-D Fourier spectrum (centred) of the greyscale images, H x W.

    highpass subtracts a 3x3 mean-filtered copy first, so the image content (mostly low frequencies) is
    suppressed and the periodic traces of up-sampling, if any, stand out (Wang et al. 2020, Fig. 4 do the same
    with a denoising filter).
    """
    grey = pixels.float().mean(1, keepdim=True)
    if highpass:
        grey = grey - torch.nn.functional.avg_pool2d(torch.nn.functional.pad(grey, (1, 1, 1, 1), mode="reflect"), 3, 1)
    spectrum = torch.fft.fftshift(torch.fft.fft2(grey[:, 0]), dim=(-2, -1)).abs()
    return torch.log(spectrum + 1e-3).mean(0).numpy()


def plot_spectra(spectra: dict[str, np.ndarray], title: str = "Mean Fourier spectrum (high-pass residual, log magnitude)"):
    names = list(spectra)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.4 * (len(names) + 1), 3.2))
    vmin = min(s.min() for s in spectra.values())
    vmax = max(s.max() for s in spectra.values())
    for ax, name in zip(axes, names):
        im = ax.imshow(spectra[name], cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_title(name)
        ax.axis("off")
    fig.colorbar(im, ax=axes[:-1].tolist(), shrink=0.8)
    if len(names) >= 2:
        difference = spectra[names[1]] - spectra[names[0]]
        limit = np.abs(difference).max()
        im2 = axes[-1].imshow(difference, cmap="coolwarm", vmin=-limit, vmax=limit)
        axes[-1].set_title(f"{names[1]} minus {names[0]}")
        fig.colorbar(im2, ax=axes[-1], shrink=0.8)
    axes[-1].axis("off")
    fig.suptitle(title)
    return fig

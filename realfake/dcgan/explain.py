"""What do the detectors look at, and where does the reference generator's artefact come from?

* `gradcam_map` / `gradient_map`: a detector's Grad-CAM (pytorch-grad-cam, at its 14x14 block) and its input
  gradient |d logit / d pixel|, each averaged over many generated digits: where the "generated" evidence is.
* `masked_detectability`: the detector scored again with the bottom rows of every image (real and generated)
  set to black: what is left when the edge is hidden.
* `bottom_row_study`: how often the bottom row is lit, and the AP of bottom-row brightness alone as a detector.
* `overlap_map`: how many paths lead from the first feature map to each output pixel through a stack of
  transposed convolutions (all-ones kernels). Uneven counts are the checkerboard of Odena et al. (2016): a
  kernel 3 with stride 2 gives alternate pixels one and two taps, a stride-2 layer after it doubles the period
  to four pixels, and at the border, where the last layer's kernel has a single row to give, nothing evens it out.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score
from torch import nn

from .detectability import detection_summary, scores


def _floats(images: torch.Tensor, device) -> torch.Tensor:
    return images.to(device).float() / 255


def gradcam_map(detector: nn.Module, images: torch.Tensor, layer: nn.Module | None = None, device="cpu",
                batch_size: int = 256) -> np.ndarray:
    """Grad-CAM of the "generated" logit, averaged over uint8 `images` (H x W, each image's map scaled to 0..1
    by the library). Default layer: the detector's last 14x14 block (`body[4]` of DigitClassifier)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    detector.eval()
    layer = layer if layer is not None else detector.body[4]
    total, n = None, 0
    with GradCAM(model=detector, target_layers=[layer]) as cam:
        for i in range(0, len(images), batch_size):
            batch = _floats(images[i:i + batch_size], device)
            maps = cam(input_tensor=batch, targets=[ClassifierOutputTarget(0)] * len(batch))
            total = maps.sum(0) if total is None else total + maps.sum(0)
            n += len(batch)
    return total / n


def gradient_map(detector: nn.Module, images: torch.Tensor, device="cpu", batch_size: int = 500) -> np.ndarray:
    """Mean |d "generated" logit / d pixel| over uint8 `images` (H x W): plain input-gradient saliency."""
    detector.eval()
    total = None
    for i in range(0, len(images), batch_size):
        batch = _floats(images[i:i + batch_size], device).requires_grad_(True)
        detector(batch).sum().backward()
        grad = batch.grad.abs().sum(0)[0].cpu()
        total = grad if total is None else total + grad
    return (total / len(images)).numpy()


def mask_bottom(images: torch.Tensor, rows: int) -> torch.Tensor:
    masked = images.clone()
    masked[..., -rows:, :] = 0
    return masked


def masked_detectability(detector: nn.Module, real: torch.Tensor, fake: torch.Tensor, rows: int = 2,
                         device="cpu") -> dict:
    """AP and accuracy of `detector` when the bottom `rows` rows of every image are black."""
    return {**detection_summary(scores(detector, mask_bottom(real, rows), device),
                                scores(detector, mask_bottom(fake, rows), device)), "masked_rows": rows}


def bottom_row_study(real: torch.Tensor, fake: torch.Tensor, threshold: int = 128) -> dict:
    """The bottom row of real and generated digits: share with any pixel >= `threshold`, share with any lit pixel
    (> 0), its mean per column (0..1) for the generated ones, and the AP of its brightest pixel as a detector."""
    bottom_real, bottom_fake = real[:, 0, -1, :].float(), fake[:, 0, -1, :].float()
    labels = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    brightness = np.r_[bottom_real.amax(1).numpy(), bottom_fake.amax(1).numpy()]
    return {"generated_bright": float((bottom_fake >= threshold).any(1).float().mean()),
            "real_bright": float((bottom_real >= threshold).any(1).float().mean()),
            "generated_lit": float((bottom_fake > 0).any(1).float().mean()),
            "real_lit": float((bottom_real > 0).any(1).float().mean()),
            "generated_column_means": (bottom_fake.mean(0) / 255).tolist(),
            "ap_bottom_row_brightness": float(average_precision_score(labels, brightness)),
            "threshold": threshold, "n_real": len(real), "n_generated": len(fake)}


def transposed_layers(generator: nn.Module) -> list[nn.ConvTranspose2d]:
    return [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]


@torch.no_grad()
def overlap_map(layers: list[nn.ConvTranspose2d], size: int) -> np.ndarray:
    """Number of paths from a `size` x `size` input (all ones) to each output pixel through `layers`, each
    replaced by a one-channel copy with an all-ones kernel and the same kernel size, stride and padding."""
    x = torch.ones(1, 1, size, size)
    for layer in layers:
        ones = nn.ConvTranspose2d(1, 1, layer.kernel_size, layer.stride, layer.padding, bias=False)
        ones.weight.fill_(1.0)
        x = ones(x)
    return x[0, 0].numpy()

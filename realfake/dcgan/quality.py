"""Measuring a generator after every epoch: Frechet distance, class histogram, a sample grid.

`GanProbe.measure` is the `evaluate` hook of the GAN's `fit`. It draws the same fixed noise every
epoch, so the grids show one set of digits evolving, and it keeps the weights of the epoch with the
lowest Frechet distance (the stopping rule: best epoch, not last epoch).

The distance used to *choose* the epoch is measured against a sample of the training images with
one fixed noise set; the distance *reported* for the chosen generator is measured afresh (other
noise, MNIST test images, `report`), so the choice does not flatter the reported number.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..state import code_version
from .frechet import ClassifierFeatures, FrechetDistance
from .train import generate


@torch.no_grad()
def predict_classes(classifier: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted class of each uint8 image."""
    classifier.eval()
    device = next(classifier.parameters()).device
    out = [classifier(images[i:i + batch_size].to(device).float() / 255).argmax(1).cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def class_histogram(classifier: nn.Module, images: torch.Tensor, n_classes: int = 10) -> list[int]:
    """How many images the classifier puts in each class (mode collapse shows as missing classes)."""
    return torch.bincount(predict_classes(classifier, images), minlength=n_classes).tolist()


class GanProbe:
    def __init__(self, classifier: nn.Module, reference_images: torch.Tensor, n_samples: int = 2000,
                 noise_seed: int = 1234, grid_size: int = 64, n_classes: int = 10, device="cpu"):
        self.classifier = classifier.to(device).eval()
        self.fd = FrechetDistance(ClassifierFeatures(self.classifier), reference_images)
        self.n_samples, self.noise_seed, self.grid_size = n_samples, noise_seed, grid_size
        self.n_classes, self.device = n_classes, device

    def code(self) -> str:
        return code_version(GanProbe, generate)

    def measure(self, state) -> dict:
        """Numbers for the epoch's record; updates state.extras (best epoch, its weights, grids)."""
        return self.measure_generator(state.modules["generator"], state.modules["discriminator"], state.extras)

    def measure_generator(self, G: nn.Module, D: nn.Module, extras: dict) -> dict:
        fakes = generate(G, self.n_samples, seed=self.noise_seed, device=self.device)
        fd = self.fd(fakes)
        counts = class_histogram(self.classifier, fakes, self.n_classes)
        extras.setdefault("grids", []).append(fakes[:self.grid_size].clone())
        epoch = len(extras["grids"])
        if fd < extras.get("best_fd", float("inf")):
            extras.update(best_fd=fd, best_epoch=epoch,
                          best_generator=copy.deepcopy({k: v.detach().cpu() for k, v in G.state_dict().items()}),
                          best_discriminator=copy.deepcopy({k: v.detach().cpu() for k, v in D.state_dict().items()}))
        G.train()
        return {"fd": fd, "class_counts": counts, "missing_classes": sum(c == 0 for c in counts),
                "largest_class_share": max(counts) / max(sum(counts), 1)}


from . import EVALUATION_SEED   # the noise of the reported numbers: neither training, the probe nor the search used it


def evaluation_samples(generator: nn.Module, n: int, seed: int = EVALUATION_SEED, device="cpu") -> torch.Tensor:
    """n digits (uint8 N x C x H x W) drawn as the reported numbers draw them; `python -m realfake.dcgan sample`
    calls this too."""
    return generate(generator, n, seed=seed, device=device)


def report_quality(generator: nn.Module, classifier: nn.Module, test_images: torch.Tensor, n: int = 10_000,
                   noise_seed: int = EVALUATION_SEED, device="cpu") -> dict:
    """The generator's reported numbers: FD to the MNIST test images from fresh noise, class histogram, and the
    mean pixel brightness (0..1) of the generated and the real digits."""
    fakes = evaluation_samples(generator, n, seed=noise_seed, device=device)
    features = ClassifierFeatures(classifier.to(device).eval())
    fd = FrechetDistance(features, test_images)(fakes)
    counts = class_histogram(classifier, fakes)
    return {"fd_test": fd, "n_generated": n, "n_real": len(test_images), "class_counts": counts,
            "missing_classes": sum(c == 0 for c in counts),
            "smallest_class_share": min(counts) / max(sum(counts), 1),
            "mean_brightness": fakes.float().mean().item() / 255,
            "real_mean_brightness": test_images.float().mean().item() / 255}

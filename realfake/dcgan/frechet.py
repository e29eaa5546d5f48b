"""Frechet distance between image sets in a classifier's feature space (Heusel et al. 2017).

The arithmetic is torchmetrics' `FrechetInceptionDistance` (means and covariances accumulated in
float64; the matrix square root through eigenvalues), given a custom feature module: the
penultimate layer of the suite's MNIST classifier (`ClassifierFeatures`), not Inception-v3.
The number is therefore *not* an FID and is never called one: it is "FD in the suite's
MNIST-classifier feature space" (`FEATURE_SPACE`), comparable only with numbers measured by the
same classifier weights. Its floor is the distance between two real sets (MNIST train vs test).
"""
from __future__ import annotations

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

FEATURE_SPACE = "the suite's MNIST-classifier feature space"


def feature_space_name(dataset: str = "mnist") -> str:
    label = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
    return f"the suite's {label.get(dataset, dataset)}-classifier feature space"


class ClassifierFeatures(nn.Module):
    """Images (uint8 0..255, or float in [0, 1]; N x C x H x W) -> the classifier's penultimate features.

    Always in eval mode and without gradients; works through the images in batches.
    """

    def __init__(self, classifier: nn.Module, batch_size: int = 1000):
        super().__init__()
        self.classifier = classifier.eval()
        self.batch_size = batch_size
        self.num_features = int(classifier.num_features)

    def train(self, mode: bool = True):       # a feature extractor never switches to training mode
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        device = next(self.classifier.parameters()).device
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size].to(device)
            batch = batch.float() / 255 if batch.dtype == torch.uint8 else batch.float()
            out.append(self.classifier.features(batch))
        return torch.cat(out)


class FrechetDistance:
    """FD of image sets to one fixed reference set, whose statistics are computed once.

        fd = FrechetDistance(features, real_images)
        fd(generated_images)  -> float
    """

    def __init__(self, features: nn.Module, reference_images: torch.Tensor):
        self.metric = FrechetInceptionDistance(feature=features, reset_real_features=False)
        self.metric.update(reference_images, real=True)
        self.n_reference = len(reference_images)

    def __call__(self, images: torch.Tensor) -> float:
        self.metric.reset()                      # forgets the previous set, keeps the reference
        self.metric.update(images, real=False)
        return float(self.metric.compute())


def frechet_distance(features: nn.Module, a: torch.Tensor, b: torch.Tensor) -> float:
    """FD between image sets `a` and `b` in the feature space of `features`."""
    return FrechetDistance(features, a)(b)

"""Where the held-out mistakes sit: near their own generator's training images, or among another class's?

The matching validation holds out images of generators that also have training images (their *siblings*). If a
misclassified held-out image were like its siblings, a network that learnt them would get it right; so for each
mistake this ranks the training images by how close the network's features put them (cosine similarity of the
pooled features before the last layer) and reports where the nearest sibling falls and what the nearest training
images are. `shared_mistakes` counts how many of several independently trained networks get each image wrong:
a mistake every network makes is a property of the image, not of one draw of the training.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score

from ..plots import image_grid
from .train import to_input
from .data import CLASS_NAMES, HandData


@torch.no_grad()
def features(model: torch.nn.Module, pixels: torch.Tensor, device="cpu", batch_size: int = 1024) -> torch.Tensor:
    """What HandNet's last layer reads (its pooled features, N x channels), averaged over the image and its mirror as
    the flip-averaged predictions are."""
    model = model.to(device).eval()

    def pooled(x):
        return model.head[:-1](model.blocks(model.stem(x)))
    parts = (to_input(part.to(device)) for part in pixels.split(batch_size))
    return torch.cat([(pooled(x) + pooled(x.flip(3))) / 2 for x in parts]).cpu()


def sibling_ranks(model, train: HandData, held_out: HandData, rows, device="cpu", n_nearest: int = 5) -> list[dict]:
    """For each held-out image in `rows`: how many training images its generator has, the rank of the nearest of them
    among all training images by feature similarity (1: the nearest training image is a sibling; None: a real hand,
    which has no generator), and the classes of the `n_nearest` nearest training images."""
    train_features = F.normalize(features(model, train.pixels, device), dim=1)
    held_features = F.normalize(features(model, held_out.pixels[list(rows)], device), dim=1)
    similarity = held_features @ train_features.T
    order = similarity.argsort(1, descending=True)
    result = []
    for row, sims, nearest in zip(rows, similarity, order):
        generator = held_out.sources[row]
        siblings = [j for j, source in enumerate(train.sources) if source == generator] if held_out.labels[row] else []
        best = max((float(sims[j]) for j in siblings), default=None)
        result.append({"siblings": siblings, "nearest": nearest[:n_nearest].tolist(),
                       "nearest sibling rank": None if best is None else int((sims > best).sum()) + 1})
    return result


def _mistakes(labels: torch.Tensor, probs: torch.Tensor, generated_only: bool = False) -> list[int]:
    """The rows whose prediction is wrong (of a generated image only, if asked), the most confident first."""
    predicted = probs.argmax(1)
    wrong = torch.nonzero((predicted != labels) & ((labels > 0) if generated_only else True)).flatten()
    return wrong[probs[wrong, predicted[wrong]].argsort(descending=True)].tolist()


def mistakes_table(model, train: HandData, held_out: HandData, probs: torch.Tensor, device="cpu",
                   n_nearest: int = 5) -> "pd.DataFrame":
    """One row per misclassified held-out image, most confident first: its class and prediction, its generator,
    how many training siblings it has, where the nearest one ranks among the training images by the network's
    feature similarity, and the classes of the nearest training images."""
    import pandas as pd
    predicted = probs.argmax(1)
    wrong = _mistakes(held_out.labels, probs)
    neighbours = sibling_ranks(model, train, held_out, wrong, device, n_nearest)
    return pd.DataFrame([{
        "image": held_out.names[i], "class": CLASS_NAMES[held_out.labels[i]], "predicted": CLASS_NAMES[predicted[i]],
        "confidence": round(float(probs[i, predicted[i]]), 3),
        "generator": held_out.sources[i] if held_out.labels[i] else "-",
        "training siblings": len(n["siblings"]) if held_out.labels[i] else "-",
        "nearest sibling's rank": n["nearest sibling rank"] or "-",
        f"{n_nearest} nearest training images": " ".join(CLASS_NAMES[train.labels[j]] for j in n["nearest"])}
        for i, n in zip(wrong, neighbours)])


def plot_mistakes_with_siblings(model, train: HandData, held_out: HandData, probs: torch.Tensor, device="cpu",
                                n: int = 8, n_siblings: int = 4, n_nearest: int = 4):
    """One row per misclassified held-out generated image (most confident first, at most `n`): the image, up to
    `n_siblings` training images of its generator, then its `n_nearest` nearest training images by the network's
    features, each titled with its class."""
    predicted = probs.argmax(1)
    wrong = _mistakes(held_out.labels, probs, generated_only=True)[:n]
    images, titles = [], []
    for i, near in zip(wrong, sibling_ranks(model, train, held_out, wrong, device, n_nearest)):
        siblings = near["siblings"][:n_siblings]
        images += [held_out.pixels[i]] + [train.pixels[j] for j in siblings] + [None] * (n_siblings - len(siblings))
        titles += [f"{CLASS_NAMES[held_out.labels[i]]} -> {CLASS_NAMES[predicted[i]]}"]
        titles += [f"sibling ({CLASS_NAMES[train.labels[j]]})" for j in siblings] + [""] * (n_siblings - len(siblings))
        images += [train.pixels[j] for j in near["nearest"]]
        titles += [f"nearest: {CLASS_NAMES[train.labels[j]]}" for j in near["nearest"]]
    return image_grid(images, titles, ncols=1 + n_siblings + n_nearest, scale=1.3,
                      suptitle="Held-out mistakes (left), their generator's training images, "
                               "and the training images the network finds nearest")


def shared_mistakes(labels: torch.Tensor, predictions: list[torch.Tensor]) -> torch.Tensor:
    """For each image, how many of the networks' predictions (one tensor of class indices per network) are wrong."""
    return torch.stack([predicted != labels for predicted in predictions]).sum(0)


def balanced_accuracy_if_only(labels: torch.Tensor, wrong: torch.Tensor, n_classes: int = len(CLASS_NAMES)) -> float:
    """The balanced accuracy of a network that got exactly the `wrong` images (a boolean mask) wrong: the most a
    network can score if it still makes those mistakes."""
    return float(balanced_accuracy_score(labels, torch.where(wrong, (labels + 1) % n_classes, labels)))

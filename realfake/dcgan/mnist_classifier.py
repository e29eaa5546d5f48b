"""The suite's MNIST classifier: the judge of generated digits.

It names the class of each generated digit (the class histogram that shows mode collapse) and its
penultimate layer is the feature space of the Frechet distance. Trained from scratch on MNIST
train (small rotations and shifts as augmentation) with the suite's loop; its accuracy is measured
on MNIST test, which it never sees in training.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..loop import TrainState, fit, seed_everything
from ..model_store import train_or_load
from ..models import build_model
from ..state import code_version
from .data import rotate

CLASSIFIER_SPEC = {"name": "dcgan_classifier", "width": 16, "n_classes": 10, "channels": 1, "features": 128,
                   "dropout": 0.3}
CLASSIFIER_CONFIG = {"spec": CLASSIFIER_SPEC, "epochs": 3, "batch_size": 128, "lr": 0.003, "weight_decay": 1e-4,
                     "max_rotation": 10.0, "max_shift": 2, "train_size": None, "seed": 0}


def augment(images01: torch.Tensor, generator: torch.Generator, max_rotation: float, max_shift: int) -> torch.Tensor:
    """Random rotation (uniform in +-max_rotation degrees) and integer shift (up to max_shift pixels)."""
    n = len(images01)
    if max_rotation:
        images01 = rotate(images01, (torch.rand(n, generator=generator) * 2 - 1) * max_rotation)
    if max_shift:
        padded = F.pad(images01, [max_shift] * 4)
        dx, dy = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator).tolist()
        h, w = images01.shape[-2:]
        images01 = torch.stack([padded[i, :, y:y + h, x:x + w] for i, (x, y) in enumerate(zip(dx, dy))])
    return images01


def batches_for(images: torch.Tensor, labels: torch.Tensor, config: dict, device="cpu"):
    def batches(epoch: int):
        generator = torch.Generator().manual_seed(config["seed"] * 100_003 + epoch)
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), config["batch_size"]):
            index = order[start:start + config["batch_size"]]
            x = augment(images[index].float() / 255, generator, config["max_rotation"], config["max_shift"])
            yield x.to(device), labels[index].to(device)
    return batches


def train_classifier(config: dict, images: torch.Tensor, labels: torch.Tensor, test_images=None, test_labels=None,
                     checkpoint: Path | str | None = None, device="cpu", progress: bool = True):
    """Train the classifier; returns (model, history). History holds test accuracy per epoch if test data given."""
    seed_everything(config["seed"])
    if config.get("train_size"):
        images, labels = images[:config["train_size"]], labels[:config["train_size"]]
    model = build_model(config["spec"]).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    steps = config["epochs"] * -(-len(images) // config["batch_size"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config["lr"], total_steps=steps)

    def step(batch):
        x, y = batch
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return {"train_loss": loss.item(), "train_accuracy": (logits.argmax(1) == y).float().mean().item(), "n": len(y)}

    def evaluate(epoch: int) -> dict:
        if test_images is None:
            return {}
        return {"test_accuracy": accuracy(model, test_images, test_labels, device)}

    history = fit(TrainState({"model": model}, {"model": optimizer}, {"model": scheduler}), epochs=config["epochs"],
                  batches=batches_for(images, labels, config, device), step=step, config=config,
                  checkpoint=checkpoint, code=code_version(augment, batches_for, train_classifier),
                  evaluate=evaluate, progress=progress, desc="classifier epochs")
    return model.eval(), history


@torch.no_grad()
def accuracy(model, images: torch.Tensor, labels: torch.Tensor, device="cpu", batch_size: int = 1000) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device).float() / 255
        correct += (model(x).argmax(1).cpu() == labels[start:start + batch_size]).sum().item()
    return correct / len(images)


def classifier_train_or_load(folder: Path | str, config: dict, images, labels, test_images, test_labels,
                             fingerprint: str, checkpoint=None, device="cpu", retrain: bool = False,
                             note: dict | None = None):
    """The stored classifier if it matches (same network, same training data), else a new one, stored.

    Returns (model, record); record["test_accuracy"] is measured now on the given test images.
    """
    model, record = train_or_load(
        folder, config["spec"], config,
        lambda: train_classifier(config, images, labels, test_images, test_labels, checkpoint, device),
        fingerprint=fingerprint, device=device, retrain=retrain, note=note,
        code=code_version(augment, batches_for, train_classifier))
    record["test_accuracy"] = accuracy(model, test_images, test_labels, device)
    return model, record

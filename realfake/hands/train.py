"""The training recipe for small image classifiers on uint8 tensors, all in one place.

Data stays as tensors on the device for the whole run (decoded once by `images.py`): each
epoch draws a class-balanced sample of indices, augments the batch on the device (random
horizontal flip and a shift of a few pixels), and takes AdamW steps under a one-cycle learning
rate (linear warm-up, linear decay). The epochs, seeding, checkpoints and history are
`loop.fit`'s; this module only says what one step does.

A config is a plain dict (each task keeps its defaults, e.g. `realfake.hands.config`):
    model            the network, e.g. {"name": "handnet", "width": 32, "depth": 3, "dropout": 0.2}
    epochs           passes of `epoch_size` sampled images
    epoch_size       images drawn per epoch, class-balanced (None: as many as the training set has)
    batch_size, lr, weight_decay, label_smoothing
    flip, shift      augmentation: horizontal flip on/off, maximum shift in pixels
    seed

A GPU trains under bfloat16 autocast; a CPU in float32.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score

from .. import loop, perturb
from .dedup import data_fingerprint
from ..loop import TrainState, fit, seed_everything
from ..models import build_model, model_factory
from ..state import code_version

CONFIG_KEYS = ("model", "epochs", "epoch_size", "batch_size", "lr", "weight_decay", "label_smoothing",
               "flip", "shift", "seed")


def to_input(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float network input, roughly zero-mean, unit-range."""
    return (pixels.float() / 255.0 - 0.5) / 0.25


def one_cycle(total_steps: int, warmup: float = 0.25):
    """Learning-rate factor per step: linear warm-up over `warmup` of the run, then linear decay to 0."""
    peak = max(1, round(warmup * total_steps))

    def factor(step: int) -> float:
        if step < peak:
            return (step + 1) / peak
        return max(0.0, (total_steps - step) / max(1, total_steps - peak))
    return factor


def balanced_epoch(labels: torch.Tensor, epoch_size: int, generator: torch.Generator) -> torch.Tensor:
    """`epoch_size` indices drawn so that every class is equally likely (with replacement)."""
    counts = torch.bincount(labels).float()
    weights = 1.0 / counts[labels]
    return torch.multinomial(weights, epoch_size, replacement=True, generator=generator)


@torch.no_grad()
def predict_proba(model: torch.nn.Module, pixels: torch.Tensor, device=None, batch_size: int = 1024,
                  tta: bool = False) -> torch.Tensor:
    """Class probabilities (N x classes, on the CPU).

    tta  average over the image and its mirror (off by default; see the hands notebook).
    """
    device = device or next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(pixels), batch_size):
        x = to_input(pixels[start:start + batch_size].to(device))
        probs = model(x).float().softmax(1)
        if tta:
            probs = (probs + model(x.flip(3)).float().softmax(1)) / 2
        out.append(probs.cpu())
    if out:
        return torch.cat(out)
    return torch.zeros((0, model(torch.zeros((1, *pixels.shape[1:]), device=device)).shape[1]))


@torch.no_grad()
def evaluate_loss_acc(model, pixels, labels, device) -> dict:
    """Validation loss, accuracy and class-balanced accuracy (mean per-class recall)."""
    probs = predict_proba(model, pixels, device)
    loss = F.nll_loss(probs.clamp_min(1e-8).log(), labels).item()
    predicted = probs.argmax(1)
    return {"val_loss": loss, "val_acc": (predicted == labels).float().mean().item(),
            "val_bal_acc": float(balanced_accuracy_score(labels, predicted))}


def recipe_version(spec: dict) -> str:
    """The code that decides what training does: the loop, this recipe and the module of the network in `spec`."""
    return code_version(loop, sys.modules[__name__], sys.modules[model_factory(spec["name"]).__module__])


def train_classifier(config: dict, train_pixels: torch.Tensor, train_labels: torch.Tensor,
                     val_pixels: torch.Tensor | None = None, val_labels: torch.Tensor | None = None,
                     device=None, checkpoint: Path | str | None = None,
                     on_epoch_end: Callable[[int, dict], bool | None] | None = None, progress: bool = True,
                     retrain: bool = False, sample_weights: torch.Tensor | None = None):
    """Train a fresh model; return (model, history), history being one dict per epoch.

    checkpoint    file written after every epoch; a run with the same config, data and code resumes from it
    on_epoch_end  called with (epoch, record) after each epoch, e.g. to prune an Optuna trial
    retrain       ignore an existing checkpoint and train from the start
    sample_weights  how likely each training image is to be drawn (default: every class equally likely,
                  `balanced_epoch`); e.g. `realfake.hands.selftrain` keeps labelled images a fixed share of each class
    """
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise KeyError(f"unknown config keys {sorted(unknown)}; known: {list(CONFIG_KEYS)}")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    seed_everything(config["seed"])
    model = build_model(config["model"]).to(device)
    epoch_size = config["epoch_size"] or len(train_labels)
    batch_size = config["batch_size"]
    steps_per_epoch = -(-epoch_size // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, one_cycle(config["epochs"] * steps_per_epoch))
    generator = torch.Generator().manual_seed(config["seed"])
    state = TrainState({"model": model}, {"optimizer": optimizer}, {"scheduler": scheduler}, generator)

    x_train = to_input(train_pixels.to(device))
    y_train = train_labels.to(device)
    autocast = loop.autocast(device)

    def batches(epoch: int):
        order = (balanced_epoch(train_labels, epoch_size, generator) if sample_weights is None else
                 torch.multinomial(sample_weights, epoch_size, replacement=True, generator=generator)).to(device)
        for start in range(0, steps_per_epoch * batch_size, batch_size):
            yield order[start:start + batch_size]

    def step(index: torch.Tensor) -> dict:
        x = perturb.flip_shift(x_train[index], generator, config["flip"], config["shift"])
        y = y_train[index]
        with autocast:
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=config["label_smoothing"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return {"train_loss": loss.item(), "train_acc": (logits.argmax(1) == y).float().mean().item(), "n": len(y)}

    def evaluate(epoch: int) -> dict:
        if val_pixels is None or not len(val_pixels):
            return {}
        record = evaluate_loss_acc(model, val_pixels, val_labels, device)
        model.train()
        return record

    history = fit(state, epochs=config["epochs"], batches=batches, step=step, config=config,
                  checkpoint=checkpoint,
                  fingerprint=data_fingerprint(train_pixels, train_labels, sample_weights) if checkpoint else None,
                  code=recipe_version(config["model"]), evaluate=evaluate, on_epoch_end=on_epoch_end,
                  progress=progress, retrain=retrain, verbose=progress)
    model.eval()
    return model, history


def labels_with_guesses(probs: torch.Tensor, readable: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted labels for every image, and which of them are guesses.

    An unreadable image has no pixels to classify; it gets the class predicted most often for
    the readable ones (the best guess under the set's own class mix) and is flagged.
    """
    labels = probs.argmax(1)
    guessed = ~readable
    if guessed.any() and readable.any():
        labels[guessed] = torch.bincount(labels[readable], minlength=probs.shape[1]).argmax()
    return labels, guessed

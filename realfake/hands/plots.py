"""The hand classifier's figures: samples, normalisation, training curves, ROC, mistakes, predictions, learning
curves (shown and saved with `realfake.plots.show`)."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from sklearn.metrics import roc_curve

from ..plots import image_grid


def plot_class_samples(pixels, labels, class_names, per_class: int = 8, seed: int = 0):
    """`per_class` random images of each class, one row per class."""
    rng = np.random.default_rng(seed)
    images, titles = [], []
    for c, name in enumerate(class_names):
        index = np.flatnonzero(np.asarray(labels) == c)
        chosen = rng.choice(index, size=min(per_class, len(index)), replace=False)
        chosen = np.pad(chosen, (0, per_class - len(chosen)), constant_values=-1)
        for i in chosen:
            images.append(pixels[i] if i >= 0 else np.full((1, 1), 255))
            titles.append(name if i >= 0 else "")
    return image_grid(images, titles, ncols=per_class, suptitle="Training images by class")


def plot_normalisation(paths, normalised, size: int = 32):
    """Each odd file as stored (its own size and mode) above what the network sees."""
    originals, titles = [], []
    for path in paths:
        with Image.open(io.BytesIO(Path(path).read_bytes())) as image:
            titles.append(f"{Path(path).name}\n{image.size[0]}x{image.size[1]} {image.mode}")
            originals.append(np.asarray(image.convert("L")))
    fig, axes = plt.subplots(2, len(paths), figsize=(1.6 * len(paths), 3.6), squeeze=False)
    for i in range(len(paths)):
        axes[0, i].imshow(originals[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes[0, i].set_title(titles[i], fontsize=6)
        axes[1, i].imshow(normalised[i].squeeze(0), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes[1, i].set_title(f"network input\n{size}x{size} L", fontsize=6)
        for ax in axes[:, i]:
            ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_history(history: list[dict], title: str = "Training curves"):
    """Loss and accuracy against epoch, training and validation side by side. A history of several
    rounds (self-training: records carry a "round") draws each round's training curves as its own line."""
    rounds = sorted({r["round"] for r in history}) if "round" in history[0] else [None]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    for round_ in rounds:
        records = [r for r in history if r.get("round") == round_]
        epochs = [r["epoch"] for r in records]
        suffix = "" if round_ is None else f", round {round_}"
        left.plot(epochs, [r["train_loss"] for r in records], label="train" + suffix)
        right.plot(epochs, [r["train_acc"] for r in records], label="train (augmented, balanced)" + suffix)
    epochs = [r["epoch"] for r in history]
    if "val_loss" in history[0]:
        left.plot(epochs, [r["val_loss"] for r in history], label="validation")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    if "val_acc" in history[0]:
        right.plot(epochs, [r["val_acc"] for r in history], label="validation accuracy")
        right.plot(epochs, [r["val_bal_acc"] for r in history], label="validation balanced accuracy")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.01))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_roc(labels, probs, class_names, title: str = "ROC, one class against the rest"):
    y, p = np.asarray(labels), np.asarray(probs)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for c, name in enumerate(class_names):
        if 0 < (y == c).sum() < len(y):
            fpr, tpr, _ = roc_curve(y == c, p[:, c])
            ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_misclassified(pixels, labels, probs, class_names, names=None, n: int = 24):
    """The `n` most confidently wrong images, titled true -> predicted (confidence)."""
    y, p = np.asarray(labels), np.asarray(probs)
    predicted = p.argmax(1)
    wrong = np.flatnonzero(predicted != y)
    wrong = wrong[np.argsort(-p[wrong, predicted[wrong]])][:n]
    titles = [f"{class_names[y[i]]} -> {class_names[predicted[i]]} ({p[i, predicted[i]]:.2f})"
              + (f"\n{Path(names[i]).name}" if names is not None else "") for i in wrong]
    if not len(wrong):
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified images", ha="center")
        return fig
    return image_grid([pixels[i] for i in wrong], titles, ncols=8, scale=1.5,
                      suptitle="Most confident mistakes (true -> predicted)")


def plot_prediction_samples(pixels, probs, class_names, names, per_class: int = 8, seed: int = 0):
    """Test images grouped by predicted class, with their confidence."""
    p = np.asarray(probs)
    predicted = p.argmax(1)
    rng = np.random.default_rng(seed)
    images, titles = [], []
    for c, name in enumerate(class_names):
        index = np.flatnonzero(predicted == c)
        chosen = rng.choice(index, size=min(per_class, len(index)), replace=False) if len(index) else []
        for i in chosen:
            images.append(pixels[i])
            titles.append(f"{name} {p[i, c]:.2f}\n{names[i]}")
        images += [np.full((1, 1), 255)] * (per_class - len(chosen))
        titles += [""] * (per_class - len(chosen))
    return image_grid(images, titles, ncols=per_class, scale=1.5, suptitle="Test images by predicted class")


def plot_learning_curve(frame, x: str, title: str, xlabel: str):
    """Validation accuracy (and balanced accuracy) against `x` from a learning-curve table."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for column, label in (("val_acc", "accuracy"), ("val_bal_acc", "balanced accuracy")):
        if column in frame:
            ax.plot(frame[x], frame[column], "o-", label=label)
    ax.set(xlabel=xlabel, ylabel="validation", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig

"""Figures of the GAN task. Each returns a matplotlib figure; notebooks pass it to `realfake.plots.show`."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..plots import image_grid


def _tile(images: torch.Tensor, ncols: int) -> np.ndarray:
    """uint8 images N x C x H x W as one H*rows x W*ncols (x 3) array with 1-pixel gaps."""
    n, c, h, w = images.shape
    rows = -(-n // ncols)
    canvas = np.full((rows * (h + 1) - 1, ncols * (w + 1) - 1, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, ncols)
        canvas[r * (h + 1):r * (h + 1) + h, k * (w + 1):k * (w + 1) + w] = image.permute(1, 2, 0).numpy()
    return canvas[..., 0] if c == 1 else canvas


def save_grid(images: torch.Tensor, path, ncols: int = 16) -> None:
    """uint8 images N x C x H x W tiled into one PNG (1-pixel white gaps), written atomically."""
    import io
    from PIL import Image
    from ..state import atomic_write_bytes
    buffer = io.BytesIO()
    Image.fromarray(_tile(images, min(ncols, len(images)))).save(buffer, "PNG")
    atomic_write_bytes(path, buffer.getvalue())


def show_tiles(ax, images: torch.Tensor, ncols: int, title: str = "") -> None:
    tiled = _tile(images, ncols)
    ax.imshow(tiled, cmap="gray" if tiled.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def plot_samples(groups: dict[str, torch.Tensor], ncols: int = 8, title: str | None = None):
    """Side by side: one panel of uint8 images per named group (e.g. real, reference, improved)."""
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 3.6), squeeze=False)
    for ax, (name, images) in zip(axes[0], groups.items()):
        show_tiles(ax, images, ncols, name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_progression(grids: list[torch.Tensor], n: int = 10, epochs: list[int] | None = None, title: str = ""):
    """The same fixed-noise samples after selected epochs: one row per epoch."""
    epochs = epochs or sorted({1, 2, 3, 5, *range(10, len(grids) + 1, 5), len(grids)} & set(range(1, len(grids) + 1)))
    fig, axes = plt.subplots(len(epochs), 1, figsize=(n * 0.55 + 1, len(epochs) * 0.62 + 0.6), squeeze=False)
    for ax, epoch in zip(axes[:, 0], epochs):
        ax.imshow(_tile(grids[epoch - 1][:n], n).squeeze(), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(f"epoch {epoch}", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title or "Fixed noise, epoch by epoch", fontsize=10)
    fig.tight_layout()
    return fig


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window or window < 2:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_losses(runs: dict, steps_per_epoch: int | None = None, window: int = 50):
    """Per-step losses of D and G (moving average over `window` steps) and per-epoch D(x), D(G(z)).

    runs: name -> GanRun. With BCE, D's loss at equilibrium is log 2 = 0.69 (it cannot tell) and
    G's loss too; D's loss falling to 0 while G's climbs is an unbalanced game (D wins).
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for k, (name, run) in enumerate(runs.items()):
        losses = np.asarray(run.step_losses, dtype=float)
        if len(losses):
            per_epoch = steps_per_epoch or max(1, len(losses) // max(len(run.history), 1))
            x = (np.arange(len(losses)) + 1) / per_epoch
            for j, (label, style) in enumerate((("D", "-"), ("G", "--"))):
                smooth = _smooth(losses[:, j], window)
                axes[0].plot(x[len(x) - len(smooth):], smooth, style, color=f"C{k}", label=f"{name}: loss {label}")
        epochs = [r["epoch"] for r in run.history]
        axes[1].plot(epochs, [r["d_real"] for r in run.history], "-o", ms=3, color=f"C{k}", label=f"{name}: D(x)")
        axes[1].plot(epochs, [r["d_fake"] for r in run.history], "--o", ms=3, color=f"C{k}", label=f"{name}: D(G(z))")
        axes[2].plot(epochs, [r["largest_class_share"] for r in run.history], "-o", ms=3, color=f"C{k}", label=name)
    axes[0].axhline(np.log(2), color="grey", lw=0.8, ls=":")
    axes[0].set(xlabel="epoch", ylabel="BCE loss", title=f"Losses per step (moving average of {window})")
    axes[1].axhline(0.5, color="grey", lw=0.8, ls=":")
    axes[1].set(xlabel="epoch", ylabel="mean sigmoid output", title="Discriminator's belief: real = 1", ylim=(0, 1))
    axes[2].axhline(0.1, color="grey", lw=0.8, ls=":")
    axes[2].set(xlabel="epoch", ylabel="share", title="Largest class among generated digits\n(0.1 = balanced)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_frechet(runs: dict, floor: float | None, feature_space: str):
    """Per-epoch FD of each run (against its selection reference), the best epoch marked, the real floor."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for k, (name, run) in enumerate(runs.items()):
        epochs = [r["epoch"] for r in run.history]
        ax.plot(epochs, [r["fd"] for r in run.history], "-o", ms=3, color=f"C{k}", label=name)
        ax.plot(run.best_epoch, run.history[run.best_epoch - 1]["fd"], "*", ms=14, color=f"C{k}",
                label=f"{name}: kept (epoch {run.best_epoch})")
    if floor is not None:
        ax.axhline(floor, color="grey", ls="--", label=f"floor: MNIST train vs test ({floor:.2f})")
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="Frechet distance (log scale)",
           title=f"FD in {feature_space}\n(fixed noise vs 10,000 MNIST-train images; lower is better)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_class_histograms(runs: dict, class_names):
    """Share of generated digits per class and epoch (the MNIST classifier's verdict): a column going
    to zero is a missing class, i.e. mode collapse."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 3.6), squeeze=False)
    for ax, (name, run) in zip(axes[0], runs.items()):
        counts = np.asarray([r["class_counts"] for r in run.history], dtype=float)
        shares = counts / counts.sum(1, keepdims=True)
        image = ax.imshow(shares, aspect="auto", cmap="viridis", vmin=0, vmax=max(0.2, shares.max()))
        ax.set_xticks(range(len(class_names)), class_names)
        ax.set_yticks(range(len(shares)), [str(r["epoch"]) for r in run.history], fontsize=6)
        ax.set(xlabel="class the MNIST classifier gives", ylabel="epoch", title=f"{name}: share of generated digits")
        fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return fig


def plot_class_bars(counts: dict[str, list[int]], class_names):
    """Final class shares of generated (and real) digits side by side."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(counts)
    for k, (name, values) in enumerate(counts.items()):
        values = np.asarray(values, dtype=float)
        ax.bar(np.arange(len(class_names)) + k * width - 0.4 + width / 2, values / values.sum(), width, label=name)
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(class_names)), class_names)
    ax.set(xlabel="class (MNIST classifier's verdict)", ylabel="share", title="Which digits come out")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_detection(results: dict):
    """AP and accuracy (with its 95 % interval) of each detector; 0.5 is chance."""
    names = list(results)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 3, 3.6))
    x = np.arange(len(names))
    ap = [results[n]["average_precision"] for n in names]
    acc = [results[n]["accuracy"] for n in names]
    err = np.array([[results[n]["accuracy"] - results[n]["accuracy_low"] for n in names],
                    [results[n]["accuracy_high"] - results[n]["accuracy"] for n in names]])
    ax.bar(x - 0.2, ap, 0.4, label="average precision")
    ax.bar(x + 0.2, acc, 0.4, yerr=err, capsize=3, label="accuracy (95 % interval)")
    ax.axhline(0.5, color="grey", ls="--", lw=0.8, label="chance")
    ax.set_xticks(x, names, fontsize=8)
    ax.set(ylim=(0, 1.05), title="How well real and generated digits are told apart (held-out images)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


__all__ = ["plot_samples", "plot_progression", "plot_losses", "plot_frechet", "plot_class_histograms",
           "plot_class_bars", "plot_detection", "image_grid"]


def plot_saliency(explained: dict):
    """Per GAN: its detector's mean Grad-CAM and mean input-gradient map over generated digits."""
    names = list(explained)
    fig, axes = plt.subplots(len(names), 2, figsize=(6.4, 3.1 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        for ax, (kind, title) in zip(row, (("gradcam", "Grad-CAM (14x14 block)"), ("gradient", "|d logit / d pixel|"))):
            image = ax.imshow(explained[name][kind], cmap="inferno", interpolation="nearest")
            ax.set_title(f"{name}: {title}", fontsize=9)
            ax.axis("off")
            fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle("Where the detectors find 'generated' (mean over held-out generated digits)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_artefact(bottom_rows: dict[str, list[float]], mean_image: np.ndarray, layer_maps: dict[str, np.ndarray]):
    """The reference generator's edge artefact: its mean digit, the bottom row's brightness per column (real and
    generated), and the tap-count maps of its transposed convolutions (uneven counts = checkerboard)."""
    fig, axes = plt.subplots(1, 2 + len(layer_maps), figsize=(3.3 * (2 + len(layer_maps)), 3.3))
    axes[0].imshow(mean_image, cmap="gray", vmin=0, vmax=mean_image.max(), interpolation="nearest")
    axes[0].set_title("reference: mean generated digit", fontsize=9)
    axes[0].axis("off")
    for name, values in bottom_rows.items():
        axes[1].plot(range(len(values)), values, marker=".", label=name)
    axes[1].set(xlabel="column", ylabel="mean brightness (0..1)", title="Bottom row (row 28)")
    axes[1].set_xticks(range(3, 28, 4))
    axes[1].grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    for ax, (title, counts) in zip(axes[2:], layer_maps.items()):
        image = ax.imshow(counts, cmap="viridis", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig

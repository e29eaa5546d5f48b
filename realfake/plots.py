"""Figures every task uses: save and show a figure, an image grid, a confusion matrix, search plots.
A task's own figures live in its package (e.g. `realfake.hands.plots`)."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch


def save_figure(fig, path: Path | str) -> Path | None:
    """Write the figure as PNG atomically (a kill never leaves a half-written file). Where the folder cannot be
    written (a read-only checkout) it warns, naming the file, and returns None: the figure is still shown."""
    import warnings
    from .state import atomic_write_bytes, read_only
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    try:
        return atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        if not read_only(error):
            raise
        warnings.warn(f"figure {path} not saved ({error.strerror or error}); it is shown only", stacklevel=2)
        return None


def image_grid(images, titles=None, ncols: int = 8, scale: float = 1.3, suptitle: str | None = None):
    """A grid of images (uint8 tensors 1 x H x W or 3 x H x W, or arrays; None leaves a cell blank) with optional
    titles."""
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale, nrows * scale * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n or images[i] is None:
            continue
        image = images[i]
        if isinstance(image, torch.Tensor):
            image = image.permute(1, 2, 0) if image.dim() == 3 else image
            image = image.squeeze(-1).numpy()
        image = np.asarray(image)
        if image.ndim == 3:   # H x W x 3 colour
            ax.imshow(image, interpolation="nearest")
        else:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_confusion(matrix, class_names, title: str = "Confusion matrix"):
    """Counts, with each row's share of its true class in brackets."""
    matrix = np.asarray(matrix)
    share = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            ax.text(j, i, f"{matrix[i, j]}\n({share[i, j]:.0%})", ha="center", va="center",
                    color="white" if share[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(len(class_names)), class_names)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    return fig


def show(fig, path: Path | str | None = None):
    """Save the figure (if a path is given) and show it inline, then close it.

    The figure is rendered to PNG here and handed to IPython's display, so it appears in the
    notebook under any matplotlib backend (Agg included, which `make test` uses); outside
    IPython it goes to plt.show().
    """
    if path is not None:
        save_figure(fig, path)
    try:
        from IPython import get_ipython
        from IPython.display import Image as InlineImage, display
    except ImportError:  # pragma: no cover - IPython comes with jupyter
        get_ipython = lambda: None  # noqa: E731
    if get_ipython() is not None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        display(InlineImage(data=buffer.getvalue(), format="png"))
    else:
        plt.show()
    plt.close(fig)

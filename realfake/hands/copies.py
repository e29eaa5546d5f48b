"""Hand images that are copies of other images: a label that contradicts another, and test images seen before.

`load_hand_data` drops exact repeats; these are repeats up to re-encoding noise (`realfake.hands.dedup.near_copies`). A
generated hand that copies a real X-ray carries a label no network can learn from its pixels: the same pixels are
labelled real elsewhere. They stay in training and validation as submitted (the test set has such images too), and
these tables say which they are.
"""
from __future__ import annotations

from pathlib import PurePosixPath

import torch

from .dedup import near_copies
from .data import CLASS_NAMES, HandData


def copies_across_classes(data: HandData) -> "pd.DataFrame":
    """Labelled images that repeat a labelled image of an earlier class (a VAE or GAN hand copying a real one, a GAN
    hand copying a VAE one): one row per copy, with its generator, the image it copies and the RMS difference."""
    import pandas as pd
    rows = []
    for label in range(1, len(CLASS_NAMES)):
        copies = torch.nonzero(data.labels == label).flatten()
        originals = torch.nonzero(data.labels < label).flatten()
        rows += [{"image": data.names[copies[i]], "class": CLASS_NAMES[label], "generator": data.sources[copies[i]],
                  "copy of": data.names[originals[j]], "its class": CLASS_NAMES[data.labels[originals[j]]],
                  "RMS difference": rms}
                 for i, j, rms in near_copies(data.pixels[copies], data.pixels[originals])]
    return pd.DataFrame(rows, columns=["image", "class", "generator", "copy of", "its class", "RMS difference"])


def copies_of_labelled(pixels: torch.Tensor, names: list[str], data: HandData) -> "pd.DataFrame":
    """Unlabelled images (e.g. test_hands/) that repeat a labelled image: one row per copy, with the labelled image,
    its class and generator, and the RMS difference."""
    import pandas as pd
    rows = [{"image": names[i], "copy of": data.names[j], "its class": CLASS_NAMES[data.labels[j]],
             "its generator": data.sources[j] if data.labels[j] else "-", "RMS difference": rms}
            for i, j, rms in near_copies(pixels, data.pixels)]
    return pd.DataFrame(rows, columns=["image", "copy of", "its class", "its generator", "RMS difference"])


def plot_copies(copies: "pd.DataFrame", data: HandData, n: int = 8):
    """The first `n` rows of `copies_across_classes`: each copy (top) above the image it copies (bottom)."""
    from ..plots import image_grid
    row_of = {name: i for i, name in enumerate(data.names)}
    shown = copies.head(n)
    pairs = [(shown["image"], shown["class"]), (shown["copy of"], shown["its class"])]   # top row, bottom row
    images = [data.pixels[row_of[name]] for names, _ in pairs for name in names]
    # one line per title: two-line titles run into the row above; file names without their extension
    titles = [f"{PurePosixPath(name).stem} ({label})" for names, labels in pairs
              for name, label in zip(names, labels)]
    figure = image_grid(images, titles, ncols=max(1, len(shown)), scale=1.6,
                        suptitle="Labelled images (top) that copy an image of another class (bottom)")
    figure.subplots_adjust(hspace=0.3)   # room for the lower row's titles
    return figure

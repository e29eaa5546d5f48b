"""Train or load the hand classifier, recording what was actually used."""
from __future__ import annotations

from pathlib import Path

import torch

from ..dedup import data_fingerprint
from ..model_store import train_or_load
from ..train import recipe_version, train_classifier


def fit_or_load(folder: Path | str, config: dict, train_pixels: torch.Tensor, train_labels: torch.Tensor,
                val_pixels: torch.Tensor | None = None, val_labels: torch.Tensor | None = None,
                checkpoint: Path | str | None = None, device=None, retrain: bool = False, note: dict | None = None):
    """The model in `folder` if it was trained on these images with this network, else a new one.

    Returns (model, record); record["config"] is the config that trained the returned model and
    record["differences"] lists where it differs from `config` (see model_store.train_or_load).
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    def train():
        return train_classifier(config, train_pixels, train_labels, val_pixels, val_labels, device=device,
                                checkpoint=checkpoint, retrain=retrain)

    code = recipe_version(config["model"])
    return train_or_load(folder, config["model"], config, train, fingerprint=data_fingerprint(train_pixels, train_labels),
                         device=device, retrain=retrain, note=note, code=code)

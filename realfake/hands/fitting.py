"""Train or load the hand classifier, recording what was actually used."""
from __future__ import annotations

from pathlib import Path

import torch

from .dedup import data_fingerprint, unlabelled_fingerprint
from ..model_store import train_or_load
from . import selftrain
from .selftrain import self_train
from ..state import code_version
from .train import recipe_version, train_classifier


def fit_or_load(folder: Path | str, config: dict, train_pixels: torch.Tensor, train_labels: torch.Tensor,
                val_pixels: torch.Tensor | None = None, val_labels: torch.Tensor | None = None,
                checkpoint: Path | str | None = None, device=None, retrain: bool = False, note: dict | None = None,
                pool: torch.Tensor | None = None, self_training: dict | None = None):
    """The model in `folder` if it was trained on these images with this network, else a new one.

    pool, self_training  unlabelled images and {"rounds", "threshold", "labelled_share"}:
                         train with `realfake.hands.selftrain.self_train` instead of on the labelled images alone;
                         the stored model then matches only the same labelled images *and* pool
    Returns (model, record); record["config"] is the config that trained the returned model and
    record["differences"] lists where it differs from `config` (see model_store.train_or_load).
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    fingerprint = data_fingerprint(train_pixels, train_labels)
    if self_training:
        fingerprint += "+pool:" + unlabelled_fingerprint(pool)
        config = {**config, "self_training": dict(self_training)}

    def train():
        if self_training:
            plain = {k: v for k, v in config.items() if k != "self_training"}
            return self_train(plain, train_pixels, train_labels, pool, device=device, checkpoint=checkpoint,
                              retrain=retrain, **self_training)
        return train_classifier(config, train_pixels, train_labels, val_pixels, val_labels, device=device,
                                checkpoint=checkpoint, retrain=retrain)

    spec = config["model"]
    code = recipe_version(spec) + (f"+selftrain:{code_version(selftrain)}" if self_training else "")
    return train_or_load(folder, spec, config, train, fingerprint=fingerprint,
                         device=device, retrain=retrain, note=note, code=code)

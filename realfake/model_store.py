"""Save and reload final models (`model_best/`): weights, the config that trained them,
their training history and a fingerprint of the training data.

A stored model *matches* a notebook run when its architecture equals the run's and it was
trained on the same images with the same labels; the notebook then loads it instead of
training again. Training settings such as the number of epochs do not change what the weights
can be used for, so they are reported, not compared.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .dedup import data_fingerprint
from .models import build_model
from .train import train_classifier

WEIGHTS = "weights.pt"
INFO = "model.json"


def save_model(folder: Path | str, model: torch.nn.Module, config: dict, fingerprint: str,
               history: list[dict], extra: dict | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, folder / WEIGHTS)
    info = {"config": config, "data_fingerprint": fingerprint, "history": history, **(extra or {})}
    (folder / INFO).write_text(json.dumps(info, indent=2))
    return folder


def load_matching_model(folder: Path | str, config: dict, fingerprint: str, device="cpu"):
    """(model, info) if `folder` holds a model that matches, else (None, reason it does not)."""
    folder = Path(folder)
    if not (folder / WEIGHTS).exists() or not (folder / INFO).exists():
        return None, f"no stored model in {folder}"
    info = json.loads((folder / INFO).read_text())
    if info["config"]["arch"] != config["arch"]:
        return None, f"stored architecture {info['config']['arch']} differs from {config['arch']}"
    if info["data_fingerprint"] != fingerprint:
        return None, "stored model was trained on other data (fingerprint differs)"
    model = build_model(config["arch"])
    model.load_state_dict(torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True))
    return model.to(device).eval(), info


def train_or_load(folder: Path | str, config: dict, train_pixels: torch.Tensor, train_labels: torch.Tensor,
                  val_pixels: torch.Tensor | None = None, val_labels: torch.Tensor | None = None,
                  checkpoint: Path | str | None = None, device=None, retrain: bool = False, note: dict | None = None):
    """Load the model stored in `folder` if it matches, else train one and store it there.

    Returns (model, history). `retrain` forces training even when a matching model exists;
    `note` is stored beside the weights (e.g. the profile that trained them).
    """
    fingerprint = data_fingerprint(train_pixels, train_labels)
    model, info = (None, "retraining was asked for") if retrain else load_matching_model(folder, config, fingerprint, device or "cpu")
    if model is not None:
        print(f"loaded {folder}: trained with {info.get('profile', '?')} profile, "
              f"{info['config']['epochs']} epochs on {len(train_labels)} images")
        return model, info["history"]
    print(f"training a new model ({info})")
    model, history = train_classifier(config, train_pixels, train_labels, val_pixels, val_labels,
                                      device=device, checkpoint=checkpoint)
    save_model(folder, model, config, fingerprint, history, extra=note)
    return model, history

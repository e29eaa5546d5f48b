"""Final models (`model_best/`): weights plus a JSON record that says exactly what they are.

`model.json` holds the model spec (which rebuilds the network), the training config that made
the weights, their history, a fingerprint of the training data, and two code versions: of the
network's module (`arch_version`; weights are only loaded into the code that defined them) and
of the training recipe (`code_version`; reported, since a recipe change does not invalidate
trained weights).

A stored model is loaded when its spec, data fingerprint and architecture code match the run.
Training settings that differ (epochs, learning rate, seed, ...) are *reported*, not hidden:
`train_or_load` returns them, so a notebook prints and records what was actually loaded.
Both files are written atomically; a corrupt one is named, set aside and the model retrained.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

import torch

from .models import build_model, model_factory
from .paths import shown
from .state import atomic_torch_save, atomic_write_text, code_version, load_torch_state, read_json

WEIGHTS = "weights.pt"
INFO = "model.json"


def arch_version(spec: dict) -> str:
    """A hash of the source of the module that defines the network named in `spec`."""
    return code_version(sys.modules[model_factory(spec["name"]).__module__])


def save_model(folder: Path | str, model: torch.nn.Module, spec: dict, *, config: dict, history: list[dict],
               fingerprint: str | None = None, code: str | None = None, extra: dict | None = None) -> dict:
    """Store weights and record; return the record. It is written last, so a half-saved model never matches."""
    folder = Path(folder)
    atomic_torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, folder / WEIGHTS)
    info = {"spec": spec, "config": config, "data_fingerprint": fingerprint, "arch_version": arch_version(spec),
            "code_version": code, "history": history, **(extra or {})}
    atomic_write_text(folder / INFO, json.dumps(info, indent=2, default=str) + "\n")
    return info


def load_model(folder: Path | str, spec: dict, fingerprint: str | None = None, device="cpu"):
    """(model, info) if `folder` holds a usable model for `spec` (and data `fingerprint`), else (None, reason)."""
    folder = Path(folder)
    info = read_json(folder / INFO, "stored model record")
    if info is None:
        return None, f"no usable model record in {shown(folder / INFO)}"
    if info.get("spec") != spec:
        return None, f"stored network {info.get('spec')} differs from the requested {spec}"
    if fingerprint is not None and info.get("data_fingerprint") != fingerprint:
        return None, "stored model was trained on other data (its data fingerprint differs)"
    if info.get("arch_version") != arch_version(spec):
        return None, (f"the network's code changed since the stored model was trained "
                      f"(architecture version {info.get('arch_version')} -> {arch_version(spec)})")
    weights = load_torch_state(folder / WEIGHTS, "stored model weights")
    if weights is None:
        return None, f"no usable weights in {shown(folder / WEIGHTS)}"
    model = build_model(spec)
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        return None, f"{shown(folder / WEIGHTS)} does not fit the network: {str(error).splitlines()[0]}"
    return model.to(device).eval(), info


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(stored: dict, requested: dict) -> list[str]:
    """'key: stored X, requested Y' for every setting that differs (nested keys joined by dots)."""
    a, b = _flatten(stored or {}), _flatten(requested or {})
    return [f"{key}: stored {a.get(key, '-')}, requested {b.get(key, '-')}"
            for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def train_or_load(folder: Path | str, spec: dict, config: dict, train: Callable[[], tuple[torch.nn.Module, list]],
                  fingerprint: str | None = None, device="cpu", retrain: bool = False, note: dict | None = None,
                  code: str | None = None):
    """Load the model stored in `folder` if it fits, else call `train()` and store what it returns.

    Returns (model, record). The record says what the model actually is: "source" (loaded or
    trained, and why), the "config" that trained it, its "history", and "differences" between
    that config and the requested one (empty when trained now). Print it; store it in metrics.
    """
    model, info = (None, "retraining was asked for") if retrain else load_model(folder, spec, fingerprint, device)
    if model is not None:
        differences = config_differences(info["config"], config)
        record = {**info, "source": f"loaded from {shown(folder)}", "differences": differences}
        print(f"loaded {shown(folder)} (trained with the {info.get('profile', '?')} profile, "
              f"{info['config'].get('epochs', '?')} epochs)")
        if differences:
            print("  it was trained with other settings than this run asks for; the stored model is used because its\n"
                  "  network and training data are the same, and its settings are the better-trained ones "
                  "(REALFAKE_RETRAIN=1 retrains with this run's settings):\n    " + "\n    ".join(differences))
        if code is not None and info.get("code_version") != code:
            print(f"  note: the training code changed since (recipe {info.get('code_version')} -> {code}); "
                  "the weights are still valid for this network")
        return model, record
    print(f"training a new model ({info})")
    model, history = train()
    stored = save_model(folder, model, spec, config=config, history=history, fingerprint=fingerprint, code=code, extra=note)
    record = {**stored, "source": f"trained now ({info})", "differences": []}
    return model, record

"""Final models (`model_best/`): weights plus a JSON record that says exactly what they are.

A stored model is one folder holding `weights.pt` and `model.json`. The record holds the model spec
(which rebuilds the network), the training config that made the weights, their history, a
fingerprint of the training data, the network's version number (`network_version`: the
`NETWORK_VERSION` constant of the module that defines the network, raised by a person when the
network's structure changes, never a hash of source text, so a comment edit keeps every stored
model loadable) and the recipe's code version (reported only).

Loading checks spec, data fingerprint and network version, then loads the weights with a strict
`load_state_dict`. A record without `network_version` was stored by version 1 of its network.

Saving is one unit: both files are written to a staging folder inside the model folder, which is
renamed to `.commit` (the commit point) and then moved into place. A reader that finds a `.commit`
folder reads the new pair from it, so a kill at any moment leaves the old pair or the new pair,
never a mix; the next save finishes or discards what was left. Stored models are never moved or
renamed: one that cannot be used is reported with what to do and left in place.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch

from .models import build_model, model_factory
from .paths import shown
from .state import UnreadableState, load_torch_state, read_json

WEIGHTS = "weights.pt"
INFO = "model.json"
COMMIT = ".commit"
STAGING_PREFIX = ".staging-"


class StoredModelError(RuntimeError):
    """A stored model exists but cannot be used; the message says why and what to do. The files are left as they are."""


def network_version(spec: dict) -> int:
    """The version number of the network named in `spec` (its module's NETWORK_VERSION; 1 if it has none)."""
    return int(getattr(sys.modules[model_factory(spec["name"]).__module__], "NETWORK_VERSION", 1))


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def finish_save(folder: Path | str) -> None:
    """Complete a save that was committed but not moved into place, and drop staging folders of saves that were
    never committed. Called by `save_model` before it writes; safe to call any time on a writable folder."""
    folder = Path(folder)
    commit = folder / COMMIT
    if commit.is_dir():
        for name in (WEIGHTS, INFO):
            if (commit / name).exists():
                os.replace(commit / name, folder / name)
        shutil.rmtree(commit, ignore_errors=True)
        _fsync_folder(folder)
    for staging in folder.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(staging, ignore_errors=True)


def current_files(folder: Path | str) -> tuple[Path, Path]:
    """(weights, record) paths of the stored pair a reader should use: the committed new pair while a save is
    being moved into place, else the folder's own files."""
    folder = Path(folder)
    commit = folder / COMMIT
    pick = lambda name: commit / name if (commit / name).exists() else folder / name   # noqa: E731
    return pick(WEIGHTS), pick(INFO)


def save_model(folder: Path | str, model: torch.nn.Module, spec: dict, *, config: dict, history: list[dict],
               fingerprint: str | None = None, code: str | None = None, extra: dict | None = None) -> dict:
    """Store weights and record as one unit (see the module docstring); return the record."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    finish_save(folder)
    info = {"spec": spec, "config": config, "data_fingerprint": fingerprint, "network_version": network_version(spec),
            "code_version": code, "history": history, **(extra or {})}
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    try:
        os.chmod(staging, 0o755)
        _fsync_write(staging / WEIGHTS, buffer.getvalue())
        _fsync_write(staging / INFO, (json.dumps(info, indent=2, default=str) + "\n").encode("utf-8"))
        _fsync_folder(staging)
        os.rename(staging, folder / COMMIT)          # the commit point: from here on readers see the new pair
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_folder(folder)
    finish_save(folder)
    return info


def what_to_do(folder: Path) -> str:
    return (f"it is left as it is. Restore it with `git checkout -- {shown(folder)}`, or set REALFAKE_RETRAIN=1 "
            "(or pass retrain=True) to train a new model in its place")


def load_model(folder: Path | str, spec: dict, fingerprint: str | None = None, device="cpu"):
    """(model, info) if `folder` holds a usable model for `spec` (and data `fingerprint`), else (None, reason).

    Raises StoredModelError when the folder holds a model whose files are damaged or do not fit the network
    they name (reported with what to do; the files are left in place).
    """
    folder = Path(folder)
    weights_path, info_path = current_files(folder)
    try:
        info = read_json(info_path, "stored model record", rebuildable=False)
    except UnreadableState as error:
        raise StoredModelError(f"{error}: {what_to_do(folder)}") from error
    if info is None:
        return None, f"no stored model in {shown(folder)}"
    if info.get("spec") != spec:
        return None, f"stored network {info.get('spec')} differs from the requested {spec}"
    if fingerprint is not None and info.get("data_fingerprint") != fingerprint:
        return None, "stored model was trained on other data (its data fingerprint differs)"
    stored_version, version = info.get("network_version", 1), network_version(spec)
    if stored_version != version:
        return None, (f"the stored model is for version {stored_version} of network {spec['name']!r}, the code defines "
                      f"version {version}")
    try:
        weights = load_torch_state(weights_path, "stored model weights", rebuildable=False)
    except UnreadableState as error:
        raise StoredModelError(f"{error}: {what_to_do(folder)}") from error
    if weights is None:
        raise StoredModelError(f"{shown(folder)} has a model record but no {WEIGHTS}: {what_to_do(folder)}")
    model = build_model(spec)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise StoredModelError(f"{shown(weights_path)} does not fit network {spec['name']!r} version {version} "
                               f"({str(error).splitlines()[0]}); raise NETWORK_VERSION when a network changes. "
                               f"The model {what_to_do(folder)}") from error
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
    # A damaged stored model raises StoredModelError above (left in place); a model stored for another network,
    # spec or data set is not this run's model, and is replaced by the one trained now.
    if model is not None:
        differences = config_differences(info["config"], config)
        record = {**info, "source": f"loaded from {shown(folder)}", "differences": differences}
        print(f"loaded {shown(folder)} (trained with the {info.get('profile', '?')} profile, "
              f"{info['config'].get('epochs', '?')} epochs)")
        if differences:
            print("  it was trained with other settings than this run asks for; the stored model is used because its\n"
                  "  network and training data are the same, and its settings are the better-trained ones "
                  "(REALFAKE_RETRAIN=1 retrains with this run's settings):\n    " + "\n    ".join(differences))
        return model, record
    print(f"training a new model ({info})")
    model, history = train()
    stored = save_model(folder, model, spec, config=config, history=history, fingerprint=fingerprint, code=code, extra=note)
    record = {**stored, "source": f"trained now ({info})", "differences": []}
    return model, record

"""The GAN settings each run profile uses: the course's reference recipe and the searched one.

reference  configs/dcgan_reference.json: the course recipe (lr 0.002, betas (0.5, 0.99), batch 128,
           noise 64, 20 epochs, RandomRotation((-20, 20)) + ToTensor), plus the stopping rule: keep the
           epoch with the lowest Frechet distance, stop after `patience` epochs without a better one.
improved   configs/dcgan_best.json: what `dcgan_mnist_hypertune.ipynb` found (falls back to the reference
           recipe with a note when no search has been saved).

The smoke profile keeps the networks and shrinks the run (a few batches, two epochs).
"""
from __future__ import annotations

import json
from pathlib import Path

from .train import OPTIONAL, gan_config

CONFIGS = Path("configs")
REFERENCE_FILE, BEST_FILE = CONFIGS / "dcgan_reference.json", CONFIGS / "dcgan_best.json"
SMOKE = {"epochs": 2, "limit": 4, "patience": None}

# How big each profile's run is: the clean notebook and `python -m realfake.dcgan` both read this, so one profile
# means one thing everywhere (the same data subset, the same classifier, the same probe).
RUN_SIZES = {
    "smoke": {"train_size": 2000, "test_size": 1000, "probe_samples": 256, "report_samples": 500,
              "detect_train": 256, "detect_test": 256, "quiz_items": 10, "classifier_changes": {"epochs": 1}},
    "cpu": {"train_size": None, "test_size": None, "probe_samples": 2000, "report_samples": 10_000,
            "detect_train": 10_000, "detect_test": 5000, "quiz_items": 20, "classifier_changes": {}},
    "full": {"train_size": None, "test_size": None, "probe_samples": 5000, "report_samples": 10_000,
             "detect_train": 20_000, "detect_test": 10_000, "quiz_items": 20, "classifier_changes": {}},
}


def run_sizes(profile: str) -> dict:
    """The run's sizes for `profile` (None: the whole split); see RUN_SIZES."""
    if profile not in RUN_SIZES:
        raise ValueError(f"unknown run profile {profile!r}; use one of {', '.join(RUN_SIZES)}")
    return {**RUN_SIZES[profile], "classifier_changes": dict(RUN_SIZES[profile]["classifier_changes"])}


def read_config(path: Path) -> dict:
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; it holds the GAN settings (see realfake/dcgan/settings.py)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    return record.get("config", record)


def gan_settings(name: str, profile: str, root: Path | str = ".") -> dict:
    """The full GAN config for `name` ("reference" or "improved") under `profile`."""
    root = Path(root)
    if name == "reference":
        config = gan_config(**read_config(root / REFERENCE_FILE))
    elif name == "improved":
        if (root / BEST_FILE).exists():
            config = gan_config(**read_config(root / BEST_FILE))
        else:
            print(f"{BEST_FILE} not found: the improved GAN uses the reference recipe until the search has run")
            config = gan_config(**read_config(root / REFERENCE_FILE))
    else:
        raise ValueError(f"unknown GAN settings {name!r}; use 'reference' or 'improved'")
    if profile == "smoke":
        config.update(SMOKE)
        if config.get("lr_decay_epochs"):       # the last of its two epochs: both phases of the schedule run
            config["lr_decay_epochs"] = 1
    return config


def settings_changed(reference: dict, improved: dict) -> dict:
    """setting -> (reference value, improved value) for every setting that differs (an optional setting a config
    leaves out counts as its default)."""
    value = lambda config, key: config.get(key, OPTIONAL.get(key))
    keys = dict.fromkeys([*reference, *improved])
    return {k: (value(reference, k), value(improved, k)) for k in keys if value(reference, k) != value(improved, k)}

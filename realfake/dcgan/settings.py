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

from .train import gan_config

CONFIGS = Path("configs")
REFERENCE_FILE, BEST_FILE = CONFIGS / "dcgan_reference.json", CONFIGS / "dcgan_best.json"
SMOKE = {"epochs": 2, "limit": 4, "patience": None}


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
    return config

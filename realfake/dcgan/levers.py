"""Which changes to the GAN recipe help? A short, time-boxed comparison of levers on one table.

Each lever is a full GAN config (a ladder: each row adds one change to the row above, plus the course's recipe
and today's improved settings as anchors). Every run trains on MNIST train images 0-49,999 for the same number of
steps with one seed, and is scored by its best per-epoch Frechet distance (suite's classifier feature space)
against the *held-out* training images 50,000-59,999 with fixed noise. That score chooses the winner; the
winner's reported quality comes from the clean notebook (full training, MNIST test, fresh noise), never from here.

    python benchmarks/dcgan_levers.py --threads 1          # results/dcgan_levers.json (resumes run by run)
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..state import atomic_write_text, read_json
from .quality import GanProbe
from .settings import CONFIGS, REFERENCE_FILE, read_config
from .train import gan_config, train_gan

OPTUNA_FILE = CONFIGS / "dcgan_optuna.json"     # the settings the Optuna search chose before the levers
TRAIN, VALIDATION = slice(0, 50_000), slice(50_000, 60_000)

RESIZE_G = {"name": "dcgan_resize_generator", "noise": 64, "width": 24, "pixel_range": "-1_1"}
SN_D = {"name": "dcgan_sn_discriminator", "width": 32}
TTUR = {"lr_g": 1e-4, "lr_d": 4e-4, "betas_g": [0.0, 0.9], "betas_d": [0.0, 0.9]}


def lever_configs(root: Path | str = ".") -> dict[str, tuple[str, dict]]:
    """name -> (what changed, config changes on top of the reference recipe)."""
    root = Path(root)
    before = read_config(root / OPTUNA_FILE)
    reference = read_config(root / REFERENCE_FILE)
    keep = lambda config: {k: v for k, v in config.items() if k not in ("epochs", "patience", "limit", "train_size")}
    base = keep(before)
    return {
        "course recipe": ("the reference (transposed convolutions, BCE, lr 2e-3)", keep(reference)),
        "optuna settings": ("the previous improved generator (Optuna: lr 4.7e-4 / 9.3e-4, betas (0, 0.999))", base),
        "+ resize-conv G": ("generator up-samples by nearest resize + 3x3 conv, Tanh range [-1, 1]",
                            {**base, "generator": RESIZE_G}),
        "+ SN-D, hinge": ("discriminator with spectral norm (no batch norm), hinge loss",
                          {**base, "generator": RESIZE_G, "discriminator": SN_D, "loss": "hinge"}),
        "+ TTUR": ("two time-scales: lr_g 1e-4, lr_d 4e-4, betas (0, 0.9)",
                   {**base, "generator": RESIZE_G, "discriminator": SN_D, "loss": "hinge", **TTUR}),
        "+ EMA": ("exponential moving average of G's weights (decay 0.995)",
                  {**base, "generator": RESIZE_G, "discriminator": SN_D, "loss": "hinge", **TTUR, "ema": 0.995}),
    }


def run_levers(train_images: torch.Tensor, classifier, out: Path | str, *, epochs: int = 2, limit: int = 200,
               probe_samples: int = 2000, names: list[str] | None = None, device="cpu", progress: bool = True,
               root: Path | str = ".") -> dict:
    """Train every lever for `epochs` x `limit` steps and write the table to `out` (resumes: finished runs kept)."""
    out = Path(out)
    record = read_json(out, "lever results") or {}
    settings = {"epochs": epochs, "limit": limit, "probe_samples": probe_samples, "batch_size": 128,
                "train_images": len(train_images[TRAIN]), "validation_images": len(train_images[VALIDATION])}
    if record.get("settings") != settings:
        record = {"settings": settings, "runs": {}}
    record["about"] = __doc__.split("\n\n")[0]
    probe = GanProbe(classifier, train_images[VALIDATION], n_samples=probe_samples, device=device)
    for name, (what, changes) in lever_configs(root).items():
        if names is not None and name not in names or name in record["runs"]:
            continue
        config = gan_config(**{**changes, "epochs": epochs, "limit": limit, "patience": None, "train_size": None})
        started = time.perf_counter()
        run = train_gan(config, train_images[TRAIN], probe=probe, device=device, progress=progress)
        seconds = time.perf_counter() - started
        best = min(run.history, key=lambda r: r["fd"])
        record["runs"][name] = {"what": what, "config": config, "validation_fd": best["fd"],
                                "fd_per_epoch": [r["fd"] for r in run.history], "best_epoch": best["epoch"],
                                "missing_classes": best["missing_classes"],
                                "largest_class_share": best["largest_class_share"],
                                "seconds_per_step": sum(r["seconds"] for r in run.history) / (epochs * limit),
                                "seconds": seconds, "threads": torch.get_num_threads()}
        atomic_write_text(out, json.dumps(record, indent=1) + "\n")
        print(f"{name}: held-out FD {best['fd']:.2f} (epoch {best['epoch']}), {seconds:.0f} s")
    runs = record["runs"]
    if runs:
        record["winner"] = min(runs, key=lambda n: runs[n]["validation_fd"])
        atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    return record


def lever_table(record: dict):
    import pandas as pd
    rows = {name: {"what changed": r["what"], "held-out FD": round(r["validation_fd"], 2),
                   "best epoch": r["best_epoch"], "missing classes": r["missing_classes"],
                   "largest class share": round(r["largest_class_share"], 3),
                   "s / step": round(r["seconds_per_step"], 3)}
            for name, r in record.get("runs", {}).items()}
    return pd.DataFrame(rows).T


def final_config(record: dict, minutes: float = 28.0, steps_per_epoch: int = 469) -> dict:
    """The winner's settings for the final training on all of MNIST train, with as many epochs as fit in
    `minutes` at the speed its short run measured (FD stopping rule, patience 3)."""
    winner = record["runs"][record["winner"]]
    config = dict(winner["config"])
    epochs = max(1, int(minutes * 60 / (winner["seconds_per_step"] * steps_per_epoch)))
    config.update(epochs=epochs, limit=None, patience=3, train_size=None)
    return config

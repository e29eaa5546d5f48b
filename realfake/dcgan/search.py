"""Searching GAN settings with Optuna (TPE sampler, pruning on the per-epoch Frechet distance).

Each trial trains a GAN on a slice of MNIST train (`SEARCH_TRAIN`) for a few epochs and is scored by
its best per-epoch Frechet distance in the suite's MNIST-classifier feature space, measured against
MNIST-train images the trial did not train on (`SEARCH_VALIDATION`) with fixed noise. Trials whose
distance after an epoch is worse than the median of earlier trials at that epoch are pruned. The
study lives in SQLite, so an interrupted search resumes with the trials it already has.

The score that chose the settings is not an estimate of how good they are: the clean notebook
retrains the chosen settings on all of MNIST train and reports their distance to MNIST *test* from
fresh noise.
"""
from __future__ import annotations

import optuna

from .. import tune
from .quality import GanProbe
from .train import gan_config, train_gan

SPACE = {
    "lr_g": ("float_log", 5e-5, 3e-3, "generator learning rate (course: 2e-3)"),
    "lr_d": ("float_log", 5e-5, 3e-3, "discriminator learning rate (course: 2e-3)"),
    "beta1": ("categorical", [0.0, 0.5, 0.9], "Adam beta1 of both networks (course: 0.5)"),
    "beta2": ("categorical", [0.9, 0.99, 0.999], "Adam beta2 of both networks (course: 0.99)"),
    "noise": ("categorical", [32, 64, 100], "noise size (course: 64)"),
    "g_width": ("categorical", [32, 64], "generator width: channels of its last block (course: 64)"),
    "d_width": ("categorical", [16, 32, 64], "discriminator width: channels of its first block (course: 16)"),
    "label_smoothing": ("float", 0.0, 0.2, "one-sided: real target 1 - s (Salimans et al. 2016; course: 0)"),
    "pixel_range": ("categorical", ["0_1", "-1_1"], "real images in [0, 1] (course: ToTensor only) or in Tanh's [-1, 1]"),
    "max_rotation": ("categorical", [0.0, 10.0, 20.0], "rotation augmentation of the real images (course: 20)"),
}
SEARCH_TRAIN = slice(0, 15_000)          # images each trial trains on
SEARCH_VALIDATION = slice(50_000, 60_000)  # images each trial is scored against (never trained on in the search)


def config_from_params(params: dict, **changes) -> dict:
    """A full GAN config from a trial's (or the best trial's) parameters."""
    return gan_config(
        generator={"noise": params["noise"], "width": params["g_width"], "pixel_range": params["pixel_range"]},
        discriminator={"width": params["d_width"]}, lr_g=params["lr_g"], lr_d=params["lr_d"],
        betas_g=[params["beta1"], params["beta2"]], betas_d=[params["beta1"], params["beta2"]],
        label_smoothing=params["label_smoothing"], max_rotation=params["max_rotation"], **changes)


def reference_params() -> dict:
    """The course recipe in the search's terms (enqueued as the first trial, so it is scored too)."""
    return {"lr_g": 0.002, "lr_d": 0.002, "beta1": 0.5, "beta2": 0.99, "noise": 64, "g_width": 64, "d_width": 16,
            "label_smoothing": 0.0, "pixel_range": "0_1", "max_rotation": 20.0}


def make_objective(train_images, classifier, epochs: int, probe_samples: int = 2000, limit=None, device="cpu",
                   seed: int = 0):
    """Objective on MNIST train: trials train on SEARCH_TRAIN and are scored against SEARCH_VALIDATION."""
    train = train_images[SEARCH_TRAIN]
    probe_reference = train_images[SEARCH_VALIDATION]
    if len(probe_reference) < 2:
        raise ValueError(f"the search needs MNIST train images {SEARCH_VALIDATION.start} to {SEARCH_VALIDATION.stop} "
                         f"as its validation reference; only {len(train_images)} training images were given")
    probe = GanProbe(classifier, probe_reference, n_samples=probe_samples, device=device)   # reference features once

    def objective(trial: optuna.Trial) -> float:
        params = tune.suggest(trial, SPACE)
        config = config_from_params(params, epochs=epochs, limit=limit, patience=None, seed=seed)

        def report(epoch: int, record: dict):
            trial.report(record["fd"], epoch)
            trial.set_user_attr(f"fd_epoch_{epoch}", record["fd"])
            if trial.should_prune():
                raise optuna.TrialPruned(f"FD {record['fd']:.2f} after epoch {epoch}")

        run = train_gan(config, train, probe=probe, on_epoch_end=report, device=device, progress=False)
        trial.set_user_attr("best_epoch", run.best_epoch)
        trial.set_user_attr("missing_classes", run.history[run.best_epoch - 1]["missing_classes"])
        trial.set_user_attr("seconds", sum(r["seconds"] for r in run.history))
        return min(r["fd"] for r in run.history)

    return objective


def open_search(storage_path, seed: int = 0, n_startup_trials: int = 5):
    study = tune.open_study("dcgan_mnist", storage_path, seed=seed, direction="minimize",
                            n_startup_trials=n_startup_trials,
                            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0))
    if not study.trials:
        study.enqueue_trial(reference_params())
    return study


def best_record(study: optuna.Study, epochs: int) -> dict:
    """What the clean notebook needs: the best trial's settings as a full config, and where they came from."""
    best = study.best_trial
    return {"about": ("Best GAN settings found by dcgan_mnist_hypertune.ipynb (lowest search-validation FD in the "
                      "suite's MNIST-classifier feature space); the clean notebook trains them on all of MNIST train"),
            "trial": best.number, "search_fd": best.value, "params": best.params,
            "n_trials": len(tune.finished_trials(study)),
            "config": config_from_params(best.params, epochs=epochs, patience=5)}


def lever_table(record: dict):
    """The lever comparison of benchmarks/dcgan_levers.py (results/dcgan_levers.json), one row per lever."""
    import pandas as pd
    rows = {name: {"what changed": r["what"], "held-out FD": round(r["validation_fd"], 2),
                   "best epoch": r["best_epoch"], "missing classes": r["missing_classes"],
                   "largest class share": round(r["largest_class_share"], 3),
                   "s / step": round(r["seconds_per_step"], 3)}
            for name, r in record.get("runs", {}).items()}
    return pd.DataFrame(rows).T


def longer_file(max_rotation: float, seed: int | str = 0, epochs: int = 10, lr_decay_epochs: int = 0,
                ema: float | None = None, ema_warmup: bool = False) -> str:
    """The results file of a benchmarks/dcgan_longer.py run with these options (defaults are left out of the name;
    seed="*" gives a glob over seeds other than 0)."""
    parts = [f"rotation{max_rotation:g}"]
    parts += [f"seed{seed}"] if str(seed) != "0" else []
    parts += [f"epochs{epochs}"] if epochs != 10 else []
    parts += [f"decay{lr_decay_epochs}"] if lr_decay_epochs else []
    parts += [f"ema{ema:g}" + ("_warmup" if ema_warmup else "")] if ema is not None else []
    return "dcgan_longer_" + "_".join(parts) + ".json"


def longer_table(records: dict):
    """The winner trained for the final number of epochs (benchmarks/dcgan_longer.py, results/dcgan_longer_*.json),
    one row per run: the probe FD after each epoch, the kept epoch, and the kept generator as the clean notebook
    reports it (FD to MNIST test, mean brightness), with the floor of its training data (the FD of those digits, as
    rotated in training, to MNIST test). A run that continued another's checkpoint (`--continue-from E` in its
    command) shows the minutes of its own epochs only, as "+minutes"."""
    import re

    import pandas as pd
    rows = {}
    for name, r in records.items():
        continued = re.search(r"--continue-from (\d+)", r.get("command", ""))
        minutes = (f"+{sum(e['seconds'] or 0 for e in r['history'][int(continued[1]):]) / 60:.1f}" if continued
                   else round(r["training_seconds"] / 60, 1))
        rows[name] = {"probe FD per epoch": " ".join(f"{e['probe_fd']:.1f}" for e in r["history"]),
                      "kept epoch": r["best_epoch"], "minutes": minutes, "threads": r["threads"]}
        if "evaluation" in r:
            evaluation = r["evaluation"]
            rows[name].update({"FD to MNIST test": round(evaluation["fd_test"], 2),
                               "floor": round(evaluation.get("floor_of_its_training_data", float("nan")), 2),
                               "mean brightness": round(evaluation["mean_brightness"], 3),
                               "MNIST brightness": round(evaluation["real_mean_brightness"], 3)})
    return pd.DataFrame(rows).T


def read_longer_runs(folder, files: dict) -> dict:
    """name -> record of each named results file of benchmarks/dcgan_longer.py in `folder`, for `longer_table`. A
    missing file is named with how to make it (not silently left out); a damaged one raises, naming it."""
    from pathlib import Path

    from ..state import read_json
    runs = {}
    for name, file in files.items():
        record = read_json(Path(folder) / file, "a benchmarks/dcgan_longer.py result")
        if record is None:
            print(f"{name}: results/{file} is missing (benchmarks/dcgan_longer.py writes it); left out of the table")
        else:
            runs[name] = record
    return runs

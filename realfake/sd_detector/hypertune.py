"""The search space and objective of sd_detector_hypertune.ipynb (Optuna through realfake.tune).

Each trial trains the CIFAKE recipe with the trial's settings on a seeded subset of the train split and
scores it on the validation part of the train split (never the test split); an epoch-wise report lets the
median pruner stop hopeless trials. The best trial's validation score is optimistic (it chose the settings);
the clean notebook's test split gives the estimate.
"""
from __future__ import annotations

import optuna

from realfake.sd_detector.pipeline import detector_config, split_train_valid
from realfake.sd_detector.train import train_cifake
from realfake.tune import suggest

SPACE = {
    "lr": ("float_log", 0.02, 0.4, "peak learning rate of the one-cycle schedule"),
    "weight_decay": ("float_log", 1e-4, 3e-3, "SGD weight decay on conv/linear weights"),
    "width": ("categorical", [24, 32, 48, 64], "channels of the first block (doubling per block)"),
    "depth": ("int", 2, 4, "pooling blocks"),
    "translate": ("int", 0, 4, "augmentation strength: random shift in pixels"),
    "label_smoothing": ("float", 0.0, 0.2, "label smoothing"),
}


def trial_config(profile: str, params: dict, epochs: int, train_subset: int | None) -> dict:
    config = detector_config(profile, "standard")
    config["model"].update({"width": params["width"], "depth": params["depth"], "stem": max(8, params["width"] // 2)})
    for key in ("lr", "weight_decay", "translate", "label_smoothing"):
        config[key] = params[key]
    config["epochs"] = epochs
    if train_subset:
        config["train_subset"] = train_subset
    return config


def make_objective(train_split, profile: str, epochs: int, train_subset: int | None, valid_limit: int | None = None):
    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, SPACE)
        config = trial_config(profile, params, epochs, train_subset)
        fit_part, valid_part = split_train_valid(train_split, config)
        if valid_limit:
            valid_part = valid_part.subset(range(min(valid_limit, len(valid_part))))

        def report(epoch, record):
            trial.report(record["valid_accuracy"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        _, history = train_cifake(fit_part.pixels, fit_part.labels, valid_part.pixels, valid_part.labels, config,
                                  progress=False, on_epoch_end=report)
        trial.set_user_attr("seconds", round(sum(r["seconds"] for r in history), 1))
        trial.set_user_attr("images_per_s", round(history[-1]["images_per_s"], 1))
        return history[-1]["valid_accuracy"]
    return objective

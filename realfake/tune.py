"""Hyper-parameter search (Optuna, TPE sampler, median pruning, SQLite storage) and learning curves.

The search trains with `train.train_classifier` on the training split and scores the
validation split (whose generators never appear in training) by balanced accuracy: the test
set's class mix is unknown, so every class counts the same.
"""
from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import torch

from .train import make_config, train_classifier

# The search space, in the order Optuna is asked (the order fixes what a seeded sampler draws):
# name -> (suggest method, its arguments, what it means). Architecture settings go to config["arch"].
SEARCH_SPACE = {
    "width": ("categorical", ([16, 24, 32, 48, 64],), "channels of the first block: 16, 24, 32, 48, 64"),
    "depth": ("int", (2, 4), "pooling blocks: 2, 3, 4"),
    "dropout": ("float", (0.0, 0.5), "0 to 0.5"),
    "lr": ("float_log", (3e-4, 1e-2), "3e-4 to 1e-2 (log)"),
    "weight_decay": ("float_log", (1e-5, 1e-2), "1e-5 to 1e-2 (log)"),
    "label_smoothing": ("float", (0.0, 0.2), "0 to 0.2"),
    "batch_size": ("categorical", ([64, 128, 256],), "64, 128, 256"),
    "flip": ("categorical", ([True, False],), "True / False"),
    "shift": ("int", (0, 3), "0 to 3 pixels"),
}
ARCH_PARAMS = ("width", "depth", "dropout")
SEARCH_SPACE_DOC = {name: doc for name, (_, _, doc) in SEARCH_SPACE.items()}


def _suggest(trial: optuna.Trial, name: str, kind: str, args: tuple):
    if kind == "float_log":
        return trial.suggest_float(name, *args, log=True)
    return getattr(trial, f"suggest_{kind}")(name, *args)


def config_from_params(params: dict, epochs: int, seed: int) -> dict:
    """The training config for a set of searched parameters (a trial's, or the best one's)."""
    return make_config(arch={k: params[k] for k in ARCH_PARAMS},
                       **{k: v for k, v in params.items() if k not in ARCH_PARAMS},
                       epochs=epochs, seed=seed)


def suggest_config(trial: optuna.Trial, epochs: int, seed: int) -> dict:
    """Ask the trial for every setting of SEARCH_SPACE; return them as a training config."""
    params = {name: _suggest(trial, name, kind, args) for name, (kind, args, _) in SEARCH_SPACE.items()}
    return config_from_params(params, epochs, seed)


def run_study(name: str, storage_path: Path | str, train_data, val_data, n_trials: int, epochs: int,
              seed: int = 0, timeout: float | None = None, device=None, overrides: dict | None = None) -> optuna.Study:
    """Run (or resume) a study until it has `n_trials` finished trials (or `timeout` seconds pass).

    train_data, val_data  (pixels, labels) pairs. Completed and pruned trials stored in the
    SQLite file count, so an interrupted search picks up where it stopped.
    overrides             config values fixed for every trial (e.g. a small epoch_size for smoke runs)
    """
    storage_path = Path(storage_path)
    storage_path.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=name, storage=f"sqlite:///{storage_path}", load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(8, max(1, n_trials // 3))),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=max(1, epochs // 3)))
    finished = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    remaining = n_trials - len(finished)

    def objective(trial: optuna.Trial) -> float:
        config = {**suggest_config(trial, epochs, seed), **(overrides or {})}

        def report(epoch: int, record: dict) -> None:
            trial.report(record["val_bal_acc"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        _, history = train_classifier(config, *train_data, *val_data, device=device,
                                      on_epoch_end=report, progress=False)
        trial.set_user_attr("val_acc", history[-1]["val_acc"])
        trial.set_user_attr("seconds", sum(r["seconds"] for r in history))
        return history[-1]["val_bal_acc"]

    if remaining > 0:
        study.optimize(objective, n_trials=remaining, timeout=timeout, show_progress_bar=True)
    return study


def trials_table(study: optuna.Study) -> pd.DataFrame:
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs"))
    return frame.rename(columns=lambda c: c.replace("params_", "").replace("user_attrs_", ""))


def save_best(study: optuna.Study, path: Path | str, epochs: int, seed: int) -> dict:
    """Write the best trial's training config, with where it came from, for the clean notebook."""
    best = study.best_trial
    config = config_from_params(best.params, epochs, seed)
    record = {"config": config, "study": study.study_name, "trial": best.number,
              "val_bal_acc": best.value, "val_acc": best.user_attrs.get("val_acc")}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    return record


def param_importances(study: optuna.Study) -> dict:
    """fANOVA importance of each setting; empty when too few trials have finished to tell."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 3:
        return {}
    importances = optuna.importance.get_param_importances(study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    return {name: float(value) for name, value in importances.items()}


def load_best_config(path: Path | str) -> dict:
    return json.loads(Path(path).read_text())["config"]


def _fit_and_score(config: dict, pixels, labels, val_data, device) -> dict:
    _, history = train_classifier(config, pixels, labels, *val_data, device=device, progress=False)
    return {"val_acc": history[-1]["val_acc"], "val_bal_acc": history[-1]["val_bal_acc"],
            "seconds": sum(r["seconds"] for r in history)}


def learning_curve_by_size(config: dict, train_data, val_data, fractions, seed: int = 0, device=None) -> pd.DataFrame:
    """Validation scores after training on a class-stratified random fraction of the training set."""
    pixels, labels = train_data
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for fraction in fractions:
        index = torch.cat([
            members[torch.randperm(len(members), generator=generator)[:max(1, round(fraction * len(members)))]]
            for members in (torch.nonzero(labels == c).flatten() for c in labels.unique())])
        rows.append({"fraction": fraction, "train_images": len(index),
                     **_fit_and_score(config, pixels[index], labels[index], val_data, device)})
    return pd.DataFrame(rows)


def learning_curve_by_epochs(config: dict, train_data, val_data, epoch_budgets, device=None) -> pd.DataFrame:
    """Validation scores of separate runs with each epoch budget (the schedule scales with it)."""
    return pd.DataFrame([{"epochs": epochs, **_fit_and_score({**config, "epochs": epochs}, *train_data, val_data, device)}
                         for epochs in epoch_budgets])

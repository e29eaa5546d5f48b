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

SEARCH_SPACE_DOC = {
    "width": "channels of the first block: 16, 24, 32, 48, 64",
    "depth": "pooling blocks: 2, 3, 4",
    "dropout": "0 to 0.5",
    "lr": "3e-4 to 1e-2 (log)",
    "weight_decay": "1e-5 to 1e-2 (log)",
    "label_smoothing": "0 to 0.2",
    "batch_size": "64, 128, 256",
    "flip": "True / False",
    "shift": "0 to 3 pixels",
}


def suggest_config(trial: optuna.Trial, epochs: int, seed: int) -> dict:
    """The search space (see SEARCH_SPACE_DOC) as a training config."""
    return make_config(
        arch={"width": trial.suggest_categorical("width", [16, 24, 32, 48, 64]),
              "depth": trial.suggest_int("depth", 2, 4),
              "dropout": trial.suggest_float("dropout", 0.0, 0.5)},
        lr=trial.suggest_float("lr", 3e-4, 1e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-5, 1e-2, log=True),
        label_smoothing=trial.suggest_float("label_smoothing", 0.0, 0.2),
        batch_size=trial.suggest_categorical("batch_size", [64, 128, 256]),
        flip=trial.suggest_categorical("flip", [True, False]),
        shift=trial.suggest_int("shift", 0, 3),
        epochs=epochs, seed=seed)


def config_from_params(params: dict, epochs: int, seed: int) -> dict:
    """Rebuild the training config of a finished trial from its parameters."""
    return make_config(arch={k: params[k] for k in ("width", "depth", "dropout")},
                       **{k: params[k] for k in ("lr", "weight_decay", "label_smoothing", "batch_size", "flip", "shift")},
                       epochs=epochs, seed=seed)


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

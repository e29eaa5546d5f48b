"""Hyper-parameter search, task-free: Optuna (TPE sampler, pruning, SQLite storage).

A task gives a search space (a plain table) and an objective; this module keeps the study on
disk so an interrupted search resumes, and makes sure a resumed search *continues*: the TPE
sampler is seeded with the seed plus the number of trials already stored, so the random
start-up trials of a second session differ from the first session's.

Best settings are written for the clean notebook only by an explicit choice (`replace=True`),
and never by a smaller profile over a bigger one's (smoke < cpu < full); otherwise they go to a
candidate file beside the study, and the committed settings stay.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import optuna
import pandas as pd
import torch

from .profile import PROFILES
from .state import atomic_write_text, read_json
from .train import train_classifier

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
optuna.logging.set_verbosity(optuna.logging.WARNING)  # run_trials prints one plain line per trial instead


def open_study(name: str, storage_path: Path | str, seed: int = 0, direction: str = "maximize",
               n_startup_trials: int = 8, pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    """Create or reopen the study `name` stored in the SQLite file `storage_path`."""
    storage_path = Path(storage_path)
    storage_path.parent.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{storage_path}"
    try:
        stored = len(optuna.load_study(study_name=name, storage=storage).trials)
    except KeyError:
        stored = 0
    sampler = optuna.samplers.TPESampler(seed=seed + stored, n_startup_trials=n_startup_trials)
    return optuna.create_study(study_name=name, storage=storage, load_if_exists=True, direction=direction,
                               sampler=sampler, pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=4))


def suggest(trial: optuna.Trial, space: dict) -> dict:
    """Ask the trial for every setting of `space`, in its order.

    space: name -> ("categorical", [choices]) | ("int", low, high) | ("float", low, high)
                   | ("float_log", low, high), optionally followed by a description string.
    """
    params = {}
    for name, (kind, *args) in space.items():
        args = [a for a in args if not isinstance(a, str)]
        if kind == "float_log":
            params[name] = trial.suggest_float(name, *args, log=True)
        elif kind == "categorical":
            params[name] = trial.suggest_categorical(name, args[0])
        else:
            params[name] = getattr(trial, f"suggest_{kind}")(name, *args)
    return params


def finished_trials(study: optuna.Study) -> list:
    return [t for t in study.trials if t.state in FINISHED]


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int,
               timeout: float | None = None) -> optuna.Study:
    """Run trials until the study holds `n_trials` finished ones (or `timeout` seconds pass)."""
    remaining = n_trials - len(finished_trials(study))
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, timeout=timeout, show_progress_bar=False,
                       callbacks=[_print_trial])
    return study


def _print_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    value = f"{trial.value:.4f}" if trial.value is not None else "-"
    print(f"trial {trial.number}: {trial.state.name.lower()}, value {value}", flush=True)


def trials_table(study: optuna.Study) -> pd.DataFrame:
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs"))
    return frame.rename(columns=lambda c: c.replace("params_", "").replace("user_attrs_", ""))


def param_importances(study: optuna.Study) -> dict:
    """fANOVA importance of each setting; empty when too few trials have finished to tell."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 3:
        return {}
    importances = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    return {name: float(value) for name, value in importances.items()}


def save_best(path: Path | str, record: dict, profile: str, replace: bool = False,
              candidate_dir: Path | str | None = None) -> Path:
    """Write the best settings `record` (stamped with `profile`) for the clean notebook.

    The committed file at `path` is replaced only when `replace` is set and its own profile is not
    bigger than `profile`. Otherwise the record goes to `<candidate_dir>/<name>_candidate.json`
    and the message says how to adopt it. Returns the file written.
    """
    path = Path(path)
    record = {**record, "profile": profile}
    stored = read_json(path, "best settings") if path.exists() else None
    stored_rank = PROFILES.index(stored.get("profile", "full")) if stored else -1
    if replace and stored_rank <= PROFILES.index(profile):
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")
        print(f"best settings written to {path}")
        return path
    target = Path(candidate_dir or path.parent) / f"{path.stem}_candidate.json"
    atomic_write_text(target, json.dumps(record, indent=2) + "\n")
    why = ("REALFAKE_SAVE_BEST=1 was not set" if not replace else
           f"the committed settings come from the bigger {stored.get('profile')} profile")
    print(f"best settings written to {target}, not to {path} ({why})")
    return target


def load_best(path: Path | str) -> dict:
    record = read_json(path, "best settings")
    if record is None:
        raise FileNotFoundError(f"no best settings in {path}: run the hypertune notebook (see README)")
    return record


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

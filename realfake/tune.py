"""Hyper-parameter search, task-free: Optuna (TPE sampler, pruning, storage that many workers share).

A task gives a search space (a plain table) and an objective; this module keeps the study in
Optuna's own storage so an interrupted search resumes and several workers add trials to one study:
  * a file path (the default): an SQLite file, for workers on one machine;
  * an SQLAlchemy URL (`postgresql://user:pw@host/db`, `mysql://...`, `sqlite:///file.db`): a database
    server that workers on several machines reach;
  * `journal:PATH`: Optuna's journal file, for workers on several machines that share a disk (NFS, a
    mounted Google Drive) but no database server.
The notebooks and `make hypertune` take it from REALFAKE_STUDY_STORAGE (`study_storage`), and each
worker's REALFAKE_WORKER number (0, 1, ...) seeds its sampler apart from the others'.
A resumed search *continues*: the TPE sampler is seeded with the seed plus the number of trials
already stored (plus 1000 x the worker number), so a second session's start-up trials differ from the first's.

Best settings are written for the clean notebook only by an explicit choice (`replace=True`),
and never by a smaller profile over a bigger one's (smoke < cpu < full); otherwise they go to a
candidate file beside the study, and the committed settings stay.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import optuna
import pandas as pd

from .profile import PROFILES
from .state import atomic_write_text, read_json

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
optuna.logging.set_verbosity(optuna.logging.WARNING)  # run_trials prints one plain line per trial instead


STORAGE_VARIABLE, WORKER_VARIABLE = "REALFAKE_STUDY_STORAGE", "REALFAKE_WORKER"
URL_SCHEMES = ("sqlite:", "postgresql", "mysql", "oracle", "mssql")


def study_storage(default: Path | str) -> str:
    """Where the study lives: REALFAKE_STUDY_STORAGE when set (a URL, `journal:PATH` or a file), else `default`."""
    return os.environ.get(STORAGE_VARIABLE, "").strip() or str(default)


def storage_label(storage: Path | str) -> str:
    """How to name the storage in a notebook: a file relative to the repository, a URL without its password."""
    import re
    from .paths import shown
    text = str(storage)
    if text.startswith(URL_SCHEMES):
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", text)
    return ("journal:" if text.startswith("journal:") else "") + shown(text.removeprefix("journal:"))


def worker_number() -> int:
    value = os.environ.get(WORKER_VARIABLE, "0").strip() or "0"
    if not value.isdigit():
        raise ValueError(f"{WORKER_VARIABLE}={value!r} must be a whole number (0, 1, 2, ...), one per worker")
    return int(value)


def make_storage(storage: Path | str) -> optuna.storages.BaseStorage:
    """Optuna storage for a file path (SQLite), an SQLAlchemy URL, or `journal:PATH` (see the module docstring)."""
    text = str(storage)
    if text.startswith("journal:"):
        path = Path(text.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if not text.startswith(URL_SCHEMES):
        Path(text).parent.mkdir(parents=True, exist_ok=True)
        text = f"sqlite:///{text}"
    # SQLite takes one writer at a time: wait for the other workers instead of failing with "database is locked".
    engine = {"connect_args": {"timeout": 60}} if text.startswith("sqlite:") else {}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(text, engine_kwargs=engine)
        except Exception:   # noqa: BLE001 - two workers creating a new database's tables at once: one loses, retries
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def open_study(name: str, storage: Path | str, seed: int = 0, direction: str = "maximize",
               n_startup_trials: int = 8, pruner: optuna.pruners.BasePruner | None = None,
               worker: int | None = None) -> optuna.Study:
    """Create or reopen the study `name` in `storage` (a file path, URL or `journal:PATH`; see `make_storage`).

    worker: this process's number among the workers adding to the study (default REALFAKE_WORKER, else 0).
    """
    storage = make_storage(storage)
    worker = worker_number() if worker is None else worker
    try:
        stored = len(optuna.load_study(study_name=name, storage=storage).trials)
    except KeyError:
        stored = 0
    sampler = optuna.samplers.TPESampler(seed=seed + stored + 1000 * worker, n_startup_trials=n_startup_trials)
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
    """Run trials until the study holds `n_trials` finished ones (or `timeout` seconds pass), counting the trials
    of every worker: each worker stops once the study as a whole has enough (Optuna's MaxTrialsCallback)."""
    remaining = n_trials - len(finished_trials(study))
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, timeout=timeout, show_progress_bar=False,
                       callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=FINISHED), _print_trial])
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

"""Several workers add trials to one study through Optuna's storage: an SQLite file and a journal file, the two
that need no server. Two processes run at once; the study must end with every trial of both, distinct and complete."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import optuna
import pytest

from realfake.tune import make_storage, open_study, study_storage

WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from realfake.tune import open_study, run_trials
    storage, worker, total, meeting = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    study = open_study("shared", storage, seed=0, n_startup_trials=100, worker=worker)
    (meeting / f"ready{worker}").touch()      # start together: on a loaded machine one process may start seconds late
    deadline = time.monotonic() + 120
    while len(list(meeting.glob("ready*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("worker", worker)
        time.sleep(0.05)                      # both workers are inside a trial at the same time
        return (x - 0.3) ** 2
    run_trials(study, objective, total)
""")


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_workers_fill_one_study(tmp_path, kind):
    storage = str(tmp_path / "study.db") if kind == "sqlite" else f"journal:{tmp_path / 'study.journal'}"
    total = 16
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, storage, str(w), str(total), str(tmp_path)], env=env,
                                stderr=subprocess.PIPE, text=True) for w in (0, 1)]
    errors = [w.communicate(timeout=300)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], errors
    study = optuna.load_study(study_name="shared", storage=make_storage(storage))
    trials = study.trials
    assert total <= len(trials) <= total + 1               # MaxTrialsCallback: a worker may finish one trial past
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}              # both workers added trials
    assert len({t.params["x"] for t in trials}) == len(trials)             # no two workers proposed the same point


def test_storage_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("REALFAKE_STUDY_STORAGE", raising=False)
    assert study_storage(tmp_path / "a.db") == str(tmp_path / "a.db")
    monkeypatch.setenv("REALFAKE_STUDY_STORAGE", "postgresql://user@host/studies")
    assert study_storage(tmp_path / "a.db") == "postgresql://user@host/studies"


def test_a_bad_worker_number_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("REALFAKE_WORKER", "first")
    with pytest.raises(ValueError, match="REALFAKE_WORKER='first' must be a whole number"):
        open_study("s", tmp_path / "s.db")

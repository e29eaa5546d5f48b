"""One source for every number: the README's results come from results/*.json through `realfake.report`, and the
numbers in each clean notebook's closing "What this shows" cell are values of that task's results files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from realfake import report

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# A decimal number or a percentage, as a reader sees a result: 0.971, 98.09 %, 6.04, 47 %.
NUMBER = re.compile(r"(?<![\w./-])[-+]?\d+(?:\.\d+)?(?=\s?%)|(?<![\w./-])[-+]?\d+\.\d+(?![\w.]*\w)")
# Each clean notebook's results files (globs under results/).
SOURCES = {"hands_classifier_clean.ipynb": ["hands_*.json", "hands_selftraining/*.json", "run_times.json"],
           "sd_detector_clean.ipynb": ["sd_*.json"],
           "dcgan_mnist_clean.ipynb": ["dcgan*.json"]}


INTERVAL_LEVEL = re.compile(r"95 % (?=CI|interval|confidence|bootstrap|Wilson)")


def numbers(text: str) -> list[str]:
    """The result numbers in `text` (an interval's level, "95 % CI", is not one)."""
    return NUMBER.findall(INTERVAL_LEVEL.sub("", text))


def words(text: str) -> int:
    return len(re.sub(r"<!--.*?-->", "", text, flags=re.S).split())


def test_the_readme_tables_and_answers_are_what_the_results_say():
    text = README.read_text()
    assert report.render(text) == text, "README.md is out of date with results/: run `python -m realfake.report`"
    for name in report.BLOCKS:
        assert f"<!-- generated: {name} -->" in text, f"README.md lacks the generated block {name!r}"


def test_the_readme_prose_holds_no_hand_typed_result():
    typed = numbers(report.prose(README.read_text()))
    assert typed == [], f"numbers typed by hand in README.md (show them through a generated block): {typed}"


def test_the_readme_is_a_front_page():
    text = report.render(README.read_text())
    assert words(text) <= 1500, f"README.md has {words(text)} words; at most 1500"
    answers = {"q1": 150, "q2": 100}
    for name, limit in answers.items():
        assert words(report.BLOCKS[name]()) <= limit, f"{name} is over {limit} words"
    first_screen = "\n".join(text.splitlines()[:40])
    assert "make run" in first_screen and "make test" in first_screen and "| task |" in first_screen
    for history in ("issue", "stop ", "committed", "no GPU was lent", "2026-"):
        assert history not in text, f"README.md speaks of the work's history: {history!r}"


def leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield float(value)


def shown_as(token: str, values) -> bool:
    """Whether `token` (as printed: '0.971', '98.09', '-0.010') is some value rounded to its decimals, or a share
    shown as a percentage."""
    number = float(token)
    decimals = len(token.split(".")[1]) if "." in token else 0
    tolerance = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(abs(v) - abs(number)) <= tolerance or abs(abs(100 * v) - abs(number)) <= tolerance for v in values)


@pytest.mark.parametrize("notebook", sorted(SOURCES))
def test_notebook_conclusions_come_from_the_results(notebook):
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    closing = [cell for cell in cells if cell["cell_type"] == "markdown"
               and "".join(cell["source"]).lstrip().startswith("## What this shows")]
    assert len(closing) == 1 and closing[0] is cells[-1], f"{notebook} must end with one '## What this shows' cell"
    values = [v for pattern in SOURCES[notebook] for path in sorted((ROOT / "results").glob(pattern))
              for v in leaves(json.loads(path.read_text()))]
    tokens = numbers("".join(closing[0]["source"]))
    unmatched = [token for token in tokens if not shown_as(token, values)]
    assert unmatched == [], f"{notebook}'s conclusion shows numbers that no results file of its task holds: {unmatched}"


def test_the_number_finder():
    assert numbers("acc 0.971 (95 % CI 0.945–0.994), 98.09 % and 47 %; width 48, 32x32, v1.2, 3.5x") == [
        "0.971", "0.945", "0.994", "98.09", "47"]


def test_results_record_the_command_that_measured_them(tmp_path, monkeypatch):
    """Every results file says how to measure its numbers again, and write_metrics stamps it."""
    from realfake.results import COMMAND_VARIABLE, write_metrics
    missing = [path.name for path in sorted((ROOT / "results").glob("*.json")) if path.name != "run_times.json"
               and isinstance(json.loads(path.read_text()), dict) and "command" not in json.loads(path.read_text())]
    assert missing == [], f"results files without the command that wrote them: {missing}"
    times = json.loads((ROOT / "results" / "run_times.json").read_text())
    untimed = [name for entries in times.values() for name, entry in entries.items() if "command" not in entry]
    assert untimed == [], f"run times without the command they timed: {untimed}"
    monkeypatch.setenv(COMMAND_VARIABLE, "REALFAKE_PROFILE=cpu python -m realfake.run_notebooks notebooks/x.ipynb")
    assert write_metrics(tmp_path / "m.json", {"a": 1})["command"].endswith("notebooks/x.ipynb")
    assert json.loads((tmp_path / "m.json").read_text())["command"].startswith("REALFAKE_PROFILE=cpu")


def test_the_run_times_name_both_commands(monkeypatch):
    times = {"cpu": {"a_clean.ipynb": {"seconds": 600, "cpu_cores": 2}, "b_clean.ipynb": {"seconds": 1200, "cpu_cores": 2},
                     "b_hypertune.ipynb": {"seconds": 9999, "cpu_cores": 2}},
             "smoke": {"make test": {"seconds": 660, "cpu_cores": 2}}}
    monkeypatch.setattr(report, "load", lambda name: times)
    text = report.run_times()
    assert "`make run` executes the clean notebooks in 30 minutes" in text and "(a 10, b 20 minutes" in text
    assert "`make test` takes 11 minutes" in text
    del times["smoke"]
    assert "make test" not in report.run_times()


def test_keep_time_adds_an_entry_and_keeps_the_others(tmp_path):
    from realfake.run_notebooks import keep_time
    (tmp_path / "results").mkdir()
    file = tmp_path / "results" / "run_times.json"
    file.write_text(json.dumps({"cpu": {"a_clean.ipynb": {"seconds": 60}}}))
    keep_time(tmp_path, "smoke", "make test", 375.6, "make test")
    record = json.loads(file.read_text())
    assert record["cpu"] == {"a_clean.ipynb": {"seconds": 60}} and record["smoke"]["make test"]["seconds"] == 376
    assert record["smoke"]["make test"]["command"] == "make test"
    file.write_text("{not json")
    keep_time(tmp_path, "smoke", "make test", 1.0, "make test")   # an unreadable file is left as it is, not replaced
    assert file.read_text() == "{not json"


def test_the_dcgan_headline_is_the_mean_of_the_stored_recipes_seeds(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    recipe = {"seed": 0, "max_rotation": 0.0, "epochs": 13, "lr_decay_epochs": 3}
    (tmp_path / "configs" / "dcgan_best.json").write_text(json.dumps({"config": recipe}))
    files = {"dcgan_metrics.json": {"gans": {"improved": {"fd_test": 2.0}, "reference": {"fd_test": 11.5}},
                                    "floor_train_vs_test": 0.07, "quiz_people": {"pooled": {"n": 0}},
                                    "detection": {"improved: detector": {"average_precision": 0.9, "accuracy": 0.9,
                                                                         "accuracy_low": 0.8, "accuracy_high": 0.95,
                                                                         "n_real": 5, "n_generated": 5}}},
             "dcgan_longer_rotation0_seed1_epochs13_decay3.json": {"evaluation": {"fd_test": 3.0}},
             "dcgan_longer_rotation0_seed2_epochs13_decay3.json": {"evaluation": {"fd_test": 2.5}},
             "dcgan_longer_rotation0_seed1_epochs10_decay3.json": {"evaluation": {"fd_test": 9.0}},   # another recipe
             "dcgan_longer_rotation0_epochs13_decay3.json": {"evaluation": {"fd_test": 9.0}}}         # seed 0: stored
    for name, record in files.items():
        (tmp_path / name).write_text(json.dumps(record))
    monkeypatch.setattr(report, "ROOT", tmp_path)
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    assert report.dcgan_seed_runs() == {0: 2.0, 1: 3.0, 2: 2.5}
    row = report.dcgan_rows()[0]
    assert row[2] == "**2.50**" and row[3] == "range 2.00–3.00 over runs" and "seeds 0, 1, 2" in row[1]
    for seed in (1, 2):
        (tmp_path / f"dcgan_longer_rotation0_seed{seed}_epochs13_decay3.json").unlink()
    assert report.dcgan_rows()[0][3] == "one run: none"
    damaged = tmp_path / "dcgan_longer_rotation0_seed3_epochs13_decay3.json"
    damaged.write_text('{"evaluation": ')                             # a bad seed file stops the report, named
    with pytest.raises(report.MissingResult, match="seed3_epochs13_decay3.json is damaged"):
        report.dcgan_seed_runs()
    damaged.rename(tmp_path / "dcgan_longer_rotation0_seedx_epochs13_decay3.json")
    with pytest.raises(report.MissingResult, match="seedx_epochs13_decay3.json .* names no seed"):
        report.dcgan_seed_runs()

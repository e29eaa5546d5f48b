"""The human quiz's answer files: where they go, saving from several processes at once, pooling with bad and
duplicate entries."""
from __future__ import annotations

import json
import multiprocessing
import sys
from pathlib import Path

import pytest
import torch

from realfake.dcgan import quiz as quiz_module
from realfake.dcgan.quiz import (FORMAT, QuizSession, answer_files, answers_folder, export_html, make_items,
                                 pool_answers, quiz_key, save_answers)

def digits(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.fixture
def items():
    return make_items(digits(20, 1), digits(20, 2), n=10, seed=3)


def write(path: Path, record) -> Path:
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    return path


def record(session: str, answers: list, who: str = "ann", quiz: str = "q1") -> dict:
    return {"format": FORMAT, "quiz": quiz, "session": session, "who": who, "answers": answers}


def test_pooling_scores_against_the_key_and_lists_what_it_left_out(tmp_path, items):
    key = quiz_key(items)
    right = [{"item": i.id, "says": "generated" if i.generated else "real"} for i in items]
    wrong = [{"item": i.id, "says": "real" if i.generated else "generated"} for i in items]
    write(tmp_path / "ann.json", record("s1", right, "ann"))
    write(tmp_path / "ann-again.json", record("s1", right, "ann"))                  # the same file sent twice
    write(tmp_path / "bob.json", record("s2", wrong[:4] + [wrong[0]]                # item answered twice
                                        + [{"item": "zz", "says": "real"}, {"item": items[5].id, "says": "maybe"},
                                           "junk", {"says": "real"}], "bob"))
    write(tmp_path / "cat.json", record("s3", right[:2], " "))                       # no name: anonymous
    write(tmp_path / "broken.json", "{not json")
    write(tmp_path / "other.json", record("s4", right, quiz="q2"))
    write(tmp_path / "list.json", [1, 2])
    write(tmp_path / "nosession.json", record("", right))
    write(tmp_path / "truth-claims.json", {**record("s5", [{"item": items[0].id, "says": "real"}], "eve"),
                                           "truth": [False]})           # a claimed truth is ignored: the key counts
    pooled = pool_answers(answer_files(tmp_path), key, "q1")
    problems = "\n".join(pooled["problems"])
    assert pooled["sessions"] == 4 and pooled["files"] == 4
    assert pooled["people"]["ann"]["n"] == 10 and pooled["people"]["ann"]["correct"] == 10
    assert pooled["people"]["bob"]["n"] == 4 and pooled["people"]["bob"]["correct"] == 0
    assert pooled["people"]["anonymous"]["n"] == 2
    assert pooled["people"]["eve"]["correct"] == int(not items[0].generated)
    assert pooled["pooled"]["n"] == 17 and pooled["pooled"]["correct"] == 12 + int(not items[0].generated)
    assert 0 < pooled["pooled"]["low"] < pooled["pooled"]["accuracy"] < pooled["pooled"]["high"] <= 1
    for expected in ("same session as", "answered again", "names no item", "says 'maybe'", "not a readable JSON",
                     "answers quiz 'q2'", "not a quiz answer file", "no session id"):
        assert expected in problems, expected
    assert len(pooled["problems"]) == 10     # duplicate file, 5 bad entries of bob, broken, other quiz, list, no id


def test_pooling_nothing_gives_an_empty_score(tmp_path, items):
    pooled = pool_answers(answer_files(tmp_path / "none"), quiz_key(items), "q1")
    assert pooled["pooled"]["n"] == 0 and pooled["people"] == {} and pooled["problems"] == []


def save_many(folder: str, who: str, start) -> None:
    items = make_items(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.ones(10, 1, 28, 28, dtype=torch.uint8), n=6)
    start.wait()                                   # both processes begin saving at the same moment
    for k in range(25):
        save_answers(folder, QuizSession(items, [k % 2 == 0] * 6, quiz="q1"), who)


def test_two_processes_saving_at_once_keep_every_session(tmp_path):
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    savers = [context.Process(target=save_many, args=(str(tmp_path), who, start)) for who in ("p1", "p2")]
    for saver in savers:
        saver.start()
    for saver in savers:
        saver.join(timeout=60)
    assert [saver.exitcode for saver in savers] == [0, 0]
    items = make_items(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.ones(10, 1, 28, 28, dtype=torch.uint8), n=6)
    pooled = pool_answers(answer_files(tmp_path), quiz_key(items), "q1")
    assert pooled["sessions"] == 50 and pooled["people"]["p1"]["n"] == pooled["people"]["p2"]["n"] == 150
    assert not pooled["problems"] and not list(tmp_path.glob("*.tmp*"))


def test_answers_folder_prefers_the_setting_then_drive_in_colab(tmp_path, monkeypatch):
    default = tmp_path / "results" / "quiz"
    assert answers_folder(default, environ={}) == default
    assert answers_folder(default, environ={"REALFAKE_QUIZ_DIR": str(tmp_path / "mine")}) == tmp_path / "mine"
    monkeypatch.setattr(quiz_module, "DRIVE", tmp_path / "drive" / "MyDrive")
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    assert answers_folder(default, environ={}) == default                         # Colab, Drive not mounted
    (tmp_path / "drive" / "MyDrive").mkdir(parents=True)
    assert answers_folder(default, environ={}) == tmp_path / "drive" / "MyDrive" / "realfake_quiz"


def test_quiz_ids_are_checked(tmp_path, items):
    with pytest.raises(ValueError, match="quiz id"):
        save_answers(tmp_path, QuizSession(items, quiz="../x"), "ann")
    with pytest.raises(ValueError, match="quiz id"):
        export_html(items, tmp_path / "q.html", quiz='a"b')


def test_page_is_self_contained(tmp_path, items):
    page = export_html(items, tmp_path / "q.html", quiz="q1").read_text()
    assert page.count("data:image/png;base64,") == len(items)
    assert "http://" not in page and "https://" not in page and "<script src" not in page

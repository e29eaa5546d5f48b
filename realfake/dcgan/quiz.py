"""A human test: can a person tell generated digits from real ones? (Salimans et al. 2016, section 4)

The quiz shows one digit at a time, half real, half generated, in a seeded random order; the person
answers "real" or "generated". The result is the share of correct answers with a 95 % Wilson
interval: 50 % means the person cannot tell (Salimans et al. report 52.4 % over 2000 votes for
their best MNIST samples).

Two front ends, one answer format:
* `quiz_widget`: ipywidgets in Jupyter or Colab; each finished session is saved as its own file
  (`save_answers`) in the answers folder (`answers_folder`: a Drive folder in Colab when Drive is mounted,
  else a folder under results/), so sessions saving at the same time never overwrite each other;
* `export_html`: one self-contained page (digits as data URIs, buttons, the running score) for people who do
  not run Python; at the end it offers the answers as a JSON file to download and send back.

`pool_answers` scores any number of answer files together against the quiz's key (the truth kept by the
notebook, never taken from an answer file), with the Wilson interval, per-person results, and a list of the
files and entries it could not use (bad JSON, unknown quiz, unknown item, bad answer, duplicates).
"""
from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import torch
from PIL import Image

from ..metrics import wilson_interval
from ..state import atomic_write_text

FORMAT = "realfake-dcgan-quiz/1"
ANSWERS = ("real", "generated")
DRIVE = Path("/content/drive/MyDrive")


def check_quiz_id(quiz: str) -> str:
    """Quiz ids go into file names and the page's script: letters, digits, '.', '_' and '-' only."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", quiz or ""):
        raise ValueError(f"quiz id {quiz!r} must be 1 to 64 letters, digits, '.', '_' or '-'")
    return quiz


@dataclass
class QuizItem:
    image: torch.Tensor        # uint8 C x H x W
    generated: bool            # the truth
    id: str = ""               # "d00", "d01", ... in the quiz's order (says nothing about the truth)


def make_items(real: torch.Tensor, generated: torch.Tensor, n: int = 20, seed: int = 0) -> list[QuizItem]:
    """n items (n // 2 generated, the rest real), drawn and shuffled with `seed`."""
    rng = torch.Generator().manual_seed(seed)
    n_fake = n // 2
    n_real = n - n_fake
    if n_real > len(real) or n_fake > len(generated):
        raise ValueError(f"a quiz of {n} needs {n_real} real and {n_fake} generated images; "
                         f"got {len(real)} and {len(generated)}")
    reals = real[torch.randperm(len(real), generator=rng)[:n_real]]
    fakes = generated[torch.randperm(len(generated), generator=rng)[:n_fake]]
    items = [QuizItem(x, False) for x in reals] + [QuizItem(x, True) for x in fakes]
    order = torch.randperm(len(items), generator=rng).tolist()
    return [QuizItem(items[i].image, items[i].generated, f"d{k:02d}") for k, i in enumerate(order)]


def quiz_id(items: list[QuizItem], prefix: str = "dcgan") -> str:
    """A name for this exact quiz (its digits, their order and truth): answer files name it, so answers are
    only ever pooled with the key of the quiz they answered."""
    import hashlib
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.image.contiguous().numpy().tobytes())
        digest.update(b"g" if item.generated else b"r")
    return f"{prefix}-{digest.hexdigest()[:10]}"


def quiz_key(items: list[QuizItem]) -> dict[str, bool]:
    """item id -> True when the item is generated: what answer files are scored against."""
    return {item.id: item.generated for item in items}


def score(truth: list[bool], answers: list[bool], level: float = 0.95) -> dict:
    """Accuracy of `answers` (True = "generated") against `truth`, with a Wilson interval."""
    if len(answers) != len(truth):
        raise ValueError(f"{len(answers)} answers for {len(truth)} items")
    correct = sum(a == t for a, t in zip(answers, truth))
    n = len(truth)
    low, high = wilson_interval(correct, n, level)
    generated = [a for a, t in zip(answers, truth) if t]
    real = [a for a, t in zip(answers, truth) if not t]
    return {"n": n, "correct": int(correct), "accuracy": correct / n if n else float("nan"),
            "low": low, "high": high, "level": level,
            "generated_caught": sum(generated) / len(generated) if generated else float("nan"),
            "real_passed": sum(not a for a in real) / len(real) if real else float("nan")}


def describe(result: dict, who: str = "the respondent") -> str:
    if not result["n"]:
        return f"{who}: no answers recorded"
    verdict = ("the interval holds 50 %: no evidence that they can tell generated digits from real ones"
               if result["low"] <= 0.5 <= result["high"] else
               "above chance: they can tell" if result["low"] > 0.5 else "below chance: systematically fooled")
    return (f"{who}: {result['correct']} of {result['n']} correct, {result['accuracy']:.0%} "
            f"({result['level']:.0%} Wilson interval {result['low']:.0%} to {result['high']:.0%}); {verdict}")


@dataclass
class QuizSession:
    items: list[QuizItem]
    answers: list[bool] = field(default_factory=list)
    quiz: str = "quiz"
    session: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def done(self) -> bool:
        return len(self.answers) >= len(self.items)

    @property
    def current(self) -> QuizItem | None:
        return None if self.done else self.items[len(self.answers)]

    def answer(self, says_generated: bool) -> None:
        if self.done:
            raise RuntimeError("the quiz is over; every item has an answer")
        self.answers.append(bool(says_generated))

    def result(self) -> dict:
        truth = [item.generated for item in self.items[:len(self.answers)]]
        return score(truth, self.answers)

    def answer_by(self, respondent: Callable[[torch.Tensor], bool]) -> dict:
        """Let code answer every remaining item (CI, or a model as a stand-in for a person)."""
        while not self.done:
            self.answer(respondent(self.current.image))
        return self.result()

    def record(self, who: str) -> dict:
        """The session in the answer-file format (the same as the HTML page's download)."""
        return {"format": FORMAT, "quiz": self.quiz, "session": self.session, "who": who,
                "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "answers": [{"item": item.id, "says": ANSWERS[int(a)]}
                            for item, a in zip(self.items, self.answers)]}


# ---------------------------------------------------------------- where answers are kept

def answers_folder(default: Path | str, environ=os.environ) -> Path:
    """Where answer files go: $REALFAKE_QUIZ_DIR if set; in Colab with Google Drive mounted,
    MyDrive/realfake_quiz (the runtime's own disk is lost when it stops); otherwise `default`."""
    if environ.get("REALFAKE_QUIZ_DIR"):
        return Path(environ["REALFAKE_QUIZ_DIR"])
    if "google.colab" in sys.modules and DRIVE.is_dir():
        return DRIVE / "realfake_quiz"
    return Path(default)


def save_answers(folder: Path | str, session: QuizSession, who: str) -> Path:
    """Write this session as its own file in `folder` (atomic; the name holds the session's random id, so
    sessions saving at the same time, from any process, are all kept). Returns the file."""
    path = Path(folder) / f"{check_quiz_id(session.quiz)}-{check_quiz_id(session.session)}.json"
    atomic_write_text(path, json.dumps(session.record(who), indent=1) + "\n")
    return path


# ---------------------------------------------------------------- pooling answer files

def answer_files(*places: Path | str) -> list[Path]:
    """Every *.json answer file in the given folders (and the given files), sorted, each once."""
    found = set()
    for place in places:
        place = Path(place)
        if place.is_dir():
            found.update(p.resolve() for p in place.glob("*.json"))
        elif place.is_file():
            found.add(place.resolve())
    return sorted(found)


def pool_answers(files: Iterable[Path | str], key: dict[str, bool], quiz: str) -> dict:
    """Score every usable answer in `files` together against `key` (item id -> generated) of the quiz `quiz`.

    A file counts once per session id (a copy sent twice is a duplicate); within a session an item counts
    once (its first answer). Files or entries that cannot be used are listed in "problems", one line each.
    Returns {"pooled": score, "people": {who: score}, "sessions", "files", "problems"}.
    """
    truth, answers, people, problems = [], [], {}, []
    seen_sessions: dict[str, str] = {}
    n_files = 0
    for path in files:
        path = Path(path)
        name = path.name
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            problems.append(f"{name}: not a readable JSON file ({str(error).splitlines()[0]})")
            continue
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            problems.append(f"{name}: not a quiz answer file (format is not {FORMAT!r})")
            continue
        if record.get("quiz") != quiz:
            problems.append(f"{name}: answers quiz {record.get('quiz')!r}, not {quiz!r}")
            continue
        session = str(record.get("session") or "")
        if not session:
            problems.append(f"{name}: no session id")
            continue
        if session in seen_sessions:
            problems.append(f"{name}: the same session as {seen_sessions[session]}; counted once")
            continue
        entries = record.get("answers")
        if not isinstance(entries, list):
            problems.append(f"{name}: no list of answers")
            continue
        seen_sessions[session] = name
        n_files += 1
        who = str(record.get("who") or "").strip() or "anonymous"
        answered = set()
        for k, entry in enumerate(entries):
            item = entry.get("item") if isinstance(entry, dict) else None
            says = entry.get("says") if isinstance(entry, dict) else None
            if item not in key:
                problems.append(f"{name}: answer {k + 1} names no item of this quiz ({item!r}); left out")
            elif says not in ANSWERS:
                problems.append(f"{name}: answer {k + 1} says {says!r}, not 'real' or 'generated'; left out")
            elif item in answered:
                problems.append(f"{name}: item {item} answered again (answer {k + 1}); the first answer counts")
            else:
                answered.add(item)
                truth.append(key[item])
                answers.append(says == "generated")
                person = people.setdefault(who, ([], []))
                person[0].append(key[item])
                person[1].append(says == "generated")
    return {"pooled": score(truth, answers), "people": {who: score(*ta) for who, ta in sorted(people.items())},
            "sessions": len(seen_sessions), "files": n_files, "problems": problems}


# ---------------------------------------------------------------- front ends

def png_bytes(image: torch.Tensor, scale: int = 6) -> bytes:
    array = image.permute(1, 2, 0).squeeze(-1).numpy()
    picture = Image.fromarray(array)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def quiz_widget(session: QuizSession, on_done: Callable[[dict], None] | None = None, scale: int = 6):
    """An ipywidgets quiz: the digit, "Real" and "Generated" buttons, a counter; the result at the end."""
    import ipywidgets as widgets

    picture = widgets.Image(format="png", width=28 * scale, height=28 * scale)
    counter = widgets.Label()
    real_button = widgets.Button(description="Real", button_style="success")
    fake_button = widgets.Button(description="Generated", button_style="warning")
    outcome = widgets.HTML()

    def refresh():
        if session.done:
            real_button.disabled = fake_button.disabled = True
            result = session.result()
            outcome.value = f"<b>{html.escape(describe(result, 'you'))}</b>"
            if on_done is not None:
                on_done(result)
            return
        picture.value = png_bytes(session.current.image, scale)
        counter.value = f"digit {len(session.answers) + 1} of {len(session.items)}: real or generated?"

    def click(says_generated: bool):
        def handler(_button):
            if not session.done:
                session.answer(says_generated)
                refresh()
        return handler

    real_button.on_click(click(False))
    fake_button.on_click(click(True))
    refresh()
    return widgets.VBox([counter, picture, widgets.HBox([real_button, fake_button]), outcome])


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font-family: sans-serif; max-width: 34em; margin: 2em auto; padding: 0 1em; }
 #digit { width: 196px; height: 196px; image-rendering: pixelated; border: 1px solid #999; display: block; margin: 1em 0; }
 button { font-size: 1.2em; padding: .5em 1.2em; margin-right: .5em; }
 #real { background: #cfe8cf; } #generated { background: #f3dfb6; }
 .hidden { display: none; }
</style></head>
<body>
<h1>__TITLE__</h1>
<p>Each picture is a handwritten digit from MNIST or one made by a neural network (a GAN). Half are real,
half generated. Say which you think each one is. At the end, download your answers and send the file back.</p>
<p><label>Your name or initials (optional): <input id="who" type="text" size="16"></label></p>
<div id="quiz">
 <p id="counter"></p>
 <img id="digit" alt="a digit" src="">
 <button id="real" type="button">Real</button><button id="generated" type="button">Generated</button>
 <p id="score"></p>
</div>
<div id="end" class="hidden">
 <p id="result"></p>
 <p><a id="download" href="#">Download your answers (JSON)</a> and send the file to the person who gave you this page.</p>
</div>
<script>
"use strict";
const QUIZ = "__QUIZ__", FORMAT = "__FORMAT__";
const ITEMS = __ITEMS__;
function newId() {
  if (window.crypto && crypto.getRandomValues) {
    const b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.from(b, x => x.toString(16).padStart(2, "0")).join("");
  }
  return (Date.now().toString(16) + Math.random().toString(16).slice(2)).slice(0, 32);
}
const SESSION = newId();
const answers = [];
let correct = 0;
function show() {
  const k = answers.length;
  if (k >= ITEMS.length) { finish(); return; }
  document.getElementById("digit").src = ITEMS[k].src;
  document.getElementById("digit").dataset.item = ITEMS[k].id;
  document.getElementById("counter").textContent = "Digit " + (k + 1) + " of " + ITEMS.length + ": real or generated?";
  document.getElementById("score").textContent = k ? ("So far " + correct + " of " + k + " right.") : "";
}
function answer(says) {
  const k = answers.length;
  if (k >= ITEMS.length) return;
  answers.push({item: ITEMS[k].id, says: says});
  if ((says === "generated") === (ITEMS[k].g === 1)) correct += 1;
  show();
}
function finish() {
  document.getElementById("quiz").classList.add("hidden");
  document.getElementById("end").classList.remove("hidden");
  const n = ITEMS.length;
  document.getElementById("result").textContent = "You got " + correct + " of " + n + " right (" +
    Math.round(100 * correct / n) + " %; 50 % is what guessing gives).";
  const record = {format: FORMAT, quiz: QUIZ, session: SESSION, who: document.getElementById("who").value.trim(),
                  saved: new Date().toISOString(), answers: answers};
  const blob = new Blob([JSON.stringify(record, null, 1)], {type: "application/json"});
  const link = document.getElementById("download");
  link.href = URL.createObjectURL(blob);
  link.download = "quiz-answers-" + QUIZ + "-" + SESSION.slice(0, 8) + ".json";
}
document.getElementById("real").addEventListener("click", () => answer("real"));
document.getElementById("generated").addEventListener("click", () => answer("generated"));
show();
</script>
</body></html>
"""


def export_html(items: list[QuizItem], path: Path | str, quiz: str, title: str = "Real or generated?") -> Path:
    """Write the quiz as one self-contained HTML page (no server, no internet): the digits are embedded as
    PNG data URIs in the items' (seeded) order; the page keeps the running score and, at the end, offers
    the answers as a JSON download in the format `pool_answers` reads. The page carries the truth to keep
    the running score, so it is a test for willing people, not an exam; pooling scores against the key."""
    check_quiz_id(quiz)
    entries = [{"id": item.id, "g": int(item.generated),
                "src": "data:image/png;base64," + base64.b64encode(png_bytes(item.image, 1)).decode()}
               for item in items]
    page = (PAGE.replace("__TITLE__", html.escape(title)).replace("__QUIZ__", quiz).replace("__FORMAT__", FORMAT)
            .replace("__ITEMS__", json.dumps(entries)))
    atomic_write_text(path, page)
    return Path(path)

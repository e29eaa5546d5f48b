"""A human test: can a person tell generated digits from real ones? (Salimans et al. 2016, section 4)

The quiz shows one digit at a time, half real, half generated, in a seeded random order; the person
answers "real" or "generated". The result is the share of correct answers with a 95 % Wilson
interval: 50 % means the person cannot tell (Salimans et al. report 52.4 % over 2000 votes for
their best MNIST samples).

`QuizSession` holds the items and the answers and does the scoring, with no widget involved, so
the scoring is tested and the quiz can be answered by code (CI, the smoke profile). `quiz_widget`
is the ipywidgets front end for a person in Jupyter or Colab; its result is also printed as text
and can be saved as JSON, so a notebook reads well where widgets do not render.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from ..metrics import wilson_interval
from ..state import atomic_write_text, read_json


@dataclass
class QuizItem:
    image: torch.Tensor        # uint8 C x H x W
    generated: bool            # the truth


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
    return [items[i] for i in order]


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


def save_answers(path: Path | str, session: QuizSession, who: str) -> dict:
    """Append this session's answers to the JSON record at `path` (atomic) and return the record."""
    record = read_json(path, "quiz answers") or {"sessions": []}
    record["sessions"].append({"who": who, "truth": [i.generated for i in session.items[:len(session.answers)]],
                               "answers": session.answers})
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return record


def pooled_result(record: dict | None, who: str | None = None) -> dict:
    """Score of all saved sessions (of `who`, if given) taken together."""
    truth, answers = [], []
    for session in (record or {}).get("sessions", []):
        if who is None or session["who"] == who:
            truth += session["truth"]
            answers += session["answers"]
    return score(truth, answers)


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
            outcome.value = f"<b>{describe(result, 'you')}</b>"
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

"""The coursework deliverable: `<username>_classified_hands.csv`, one `test_hand_0001.jpeg, 2` per line.

`validate_submission` checks the lines before anything is written; `write_submission` checks them
against the full list of 8434 test names (not against whatever the test folder happened to
hold: an empty or partial `test_hands/` must not pass), writes a temporary file and renames it
over the old deliverable only when valid, so the old CSV survives any failure. The format: no header, one line per test image in name order,
`<name>, <label>` with exactly one space after the comma and a label in {0, 1, 2}.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

from ..state import atomic_write_text, read_only

LINE_PATTERN = re.compile(r"(?P<name>test_hand_[0-9]{4}\.jpeg), (?P<label>[0-9]+)")
LABELS = {"0", "1", "2"}
EXPECTED_COUNT = 8434
# The course's test set: test_hand_0001.jpeg ... test_hand_8434.jpeg, every one needs a line.
EXPECTED_NAMES = tuple(f"test_hand_{i:04d}.jpeg" for i in range(1, EXPECTED_COUNT + 1))


class SubmissionError(ValueError):
    """The submission is malformed; the message lists every problem found (up to a limit)."""


def submission_path(root: Path | str, username: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", username or ""):
        raise SubmissionError(f"username {username!r} must be letters, digits, '.', '_' or '-'")
    return Path(root) / f"{username}_classified_hands.csv"


def format_lines(names: list[str], labels: list[int]) -> list[str]:
    if len(names) != len(labels):
        raise SubmissionError(f"{len(names)} names but {len(labels)} labels")
    return [f"{name}, {int(label)}" for name, label in sorted(zip(names, labels))]


def validate_submission(lines: list[str], expected_names: list[str] | None = None,
                        expected_count: int = EXPECTED_COUNT, max_problems: int = 10) -> None:
    """Raise SubmissionError unless `lines` is a complete, well-formed submission.

    expected_names  the test file names that must each appear exactly once (default: only
                    the count is checked)
    """
    problems: list[str] = []
    names: list[str] = []
    for number, line in enumerate(lines, start=1):
        match = LINE_PATTERN.fullmatch(line)
        if not match:
            problems.append(f"line {number}: {line!r} is not '<test_hand_NNNN.jpeg>, <label>'")
            continue
        if match["label"] not in LABELS:
            problems.append(f"line {number}: label {match['label']} is not one of 0 (real), 1 (VAE), 2 (GAN)")
        names.append(match["name"])
    seen: set[str] = set()
    repeated = sorted({name for name in names if name in seen or seen.add(name)})
    if repeated:
        problems.append(f"{len(repeated)} names appear more than once, e.g. {repeated[:3]}")
    if expected_names is not None:
        expected = set(expected_names)
        missing, unknown = sorted(expected - seen), sorted(seen - expected)
        if missing:
            problems.append(f"{len(missing)} test images have no line, e.g. {missing[:3]}")
        if unknown:
            problems.append(f"{len(unknown)} names are not test images, e.g. {unknown[:3]}")
        expected_count = len(expected)
    if len(lines) != expected_count:
        problems.append(f"{len(lines)} lines, expected {expected_count}")
    if problems:
        shown = problems[:max_problems] + ([f"... and {len(problems) - max_problems} more"] if len(problems) > max_problems else [])
        raise SubmissionError("invalid submission:\n  " + "\n  ".join(shown))


def write_submission(path: Path | str, names: list[str], labels: list[int],
                     expected_names: list[str] | tuple[str, ...] = EXPECTED_NAMES) -> Path | None:
    """Validate against `expected_names` (default: the course's 8434 test names), then write atomically.

    Nothing is written, and an existing file is left as it was, if validation fails (SubmissionError). Where the
    folder cannot be written (a read-only checkout) it warns, naming the file, and returns None.
    """
    lines = format_lines(names, labels)
    validate_submission(lines, list(expected_names), expected_count=len(expected_names))
    try:
        return atomic_write_text(path, "\n".join(lines) + "\n")
    except OSError as error:
        if not read_only(error):
            raise
        warnings.warn(f"{path} not written ({error.strerror or error}): this checkout is read-only; the predictions "
                      "are valid and stay in memory", stacklevel=2)
        return None


def read_submission(path: Path | str) -> list[str]:
    """The lines of a submission file (no trailing empty line), for validating a file on disk."""
    return Path(path).read_text().splitlines()

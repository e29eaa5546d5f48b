"""realfake.submission: every way a submission can be malformed, and the writer that refuses them."""
from __future__ import annotations

import pytest

from realfake.hands.submission import (EXPECTED_NAMES, SubmissionError, format_lines, read_submission, submission_path,
                                 validate_submission, write_submission)

NAMES = [f"test_hand_{i:04d}.jpeg" for i in range(1, 5)]
GOOD = ["test_hand_0001.jpeg, 0", "test_hand_0002.jpeg, 1", "test_hand_0003.jpeg, 2", "test_hand_0004.jpeg, 1"]


def check(lines, expected_names=NAMES, **kwargs):
    validate_submission(lines, expected_names=expected_names, **kwargs)


def problems(lines, expected_names=NAMES, **kwargs) -> str:
    with pytest.raises(SubmissionError) as error:
        validate_submission(lines, expected_names=expected_names, **kwargs)
    return str(error.value)


def with_line(index: int, line: str) -> list[str]:
    lines = list(GOOD)
    lines[index] = line
    return lines


def test_correct_submission_passes():
    check(GOOD)
    validate_submission(GOOD, expected_count=4)          # count-only mode
    assert format_lines(NAMES, [0, 1, 2, 1]) == GOOD


def test_header_line():
    message = problems(["name, label"] + GOOD)
    assert "line 1: 'name, label' is not" in message
    assert "5 lines, expected 4" in message


@pytest.mark.parametrize("line", [
    "test_hand_0002.jpeg,1",          # no space
    "test_hand_0002.jpeg,  1",        # two spaces
    "test_hand_0002.jpeg\t1",         # tab
    "test_hand_0002.jpeg, 1 ",        # trailing space
    "test_hand_0002.jpeg;1",
    "test_hand_0002.jpeg 1",
])
def test_wrong_separator(line):
    message = problems(with_line(1, line))
    assert f"line 2: {line!r} is not '<test_hand_NNNN.jpeg>, <label>'" in message


@pytest.mark.parametrize("label", ["3", "9", "10"])
def test_label_out_of_range(label):
    message = problems(with_line(2, f"test_hand_0003.jpeg, {label}"))
    assert f"line 3: label {label} is not one of 0 (real), 1 (VAE), 2 (GAN)" in message


@pytest.mark.parametrize("label", ["-1", "x", "1.0", ""])
def test_label_not_a_class_number(label):
    line = f"test_hand_0003.jpeg, {label}"
    assert f"line 3: {line!r} is not" in problems(with_line(2, line))


def test_duplicate_name():
    message = problems(with_line(3, "test_hand_0001.jpeg, 2"))
    assert "1 names appear more than once, e.g. ['test_hand_0001.jpeg']" in message
    assert "1 test images have no line, e.g. ['test_hand_0004.jpeg']" in message


def test_missing_name():
    message = problems(GOOD[:3])
    assert "1 test images have no line, e.g. ['test_hand_0004.jpeg']" in message
    assert "3 lines, expected 4" in message


def test_unknown_name():
    message = problems(with_line(3, "test_hand_0099.jpeg, 1"))
    assert "1 names are not test images, e.g. ['test_hand_0099.jpeg']" in message


def test_wrong_count_without_expected_names():
    message = problems(GOOD, expected_names=None, expected_count=5)
    assert "4 lines, expected 5" in message
    assert "4 lines, expected 8434" in problems(GOOD, expected_names=None)


@pytest.mark.parametrize("position", [0, 2, 4])
def test_blank_line(position):
    lines = GOOD[:position] + [""] + GOOD[position:]
    message = problems(lines)
    assert f"line {position + 1}: '' is not" in message
    assert "5 lines, expected 4" in message


@pytest.mark.parametrize("name", [
    "test_hand_1.jpeg", "test_hand_00001.jpeg", "test_hand_0001.jpg", "test_hand_0001.png",
    "hand_0001.jpeg", "Test_hand_0001.jpeg", "test_hand_0001.jpeg.jpeg", " test_hand_0001.jpeg",
])
def test_bad_name_pattern(name):
    line = f"{name}, 0"
    assert f"line 1: {line!r} is not" in problems(with_line(0, line))


def test_problem_list_is_capped():
    lines = [f"bad line {i}" for i in range(15)]
    message = problems(lines, expected_names=None, expected_count=15, max_problems=10)
    assert message.count("is not '<test_hand_NNNN.jpeg>, <label>'") == 10
    assert "... and 5 more" in message


# ---------------------------------------------------------------- write_submission

def test_write_valid_submission_sorted_with_trailing_newline(tmp_path):
    path = tmp_path / "abc123_classified_hands.csv"
    names = ["test_hand_0003.jpeg", "test_hand_0001.jpeg", "test_hand_0004.jpeg", "test_hand_0002.jpeg"]
    assert write_submission(path, names, [2, 0, 1, 1], expected_names=NAMES) == path
    assert path.read_text() == "\n".join(GOOD) + "\n"
    assert read_submission(path) == GOOD
    check(read_submission(path))


@pytest.mark.parametrize("names, labels, expected", [
    (NAMES, [0, 1, 3, 1], NAMES),                                   # label 3
    (NAMES, [0, 1, -1, 1], NAMES),                                  # label -1
    (NAMES[:3], [0, 1, 2], NAMES),                                  # a test image missing
    (NAMES + ["test_hand_0009.jpeg"], [0, 1, 2, 1, 0], NAMES),      # an unknown image
    (NAMES[:3] + ["test_hand_0001.jpeg"], [0, 1, 2, 1], NAMES),     # a duplicate
    (["hand_1.jpeg"] + NAMES[1:], [0, 1, 2, 1], NAMES),             # bad name
])
def test_write_invalid_submission_writes_nothing(tmp_path, names, labels, expected):
    path = tmp_path / "abc123_classified_hands.csv"
    with pytest.raises(SubmissionError):
        write_submission(path, names, labels, expected_names=expected)
    assert not path.exists()


@pytest.mark.parametrize("found", [[], EXPECTED_NAMES[:100], EXPECTED_NAMES[:-1]],
                         ids=["empty test_hands", "100 of 8434", "one missing"])
def test_partial_test_set_keeps_the_old_deliverable(tmp_path, found):
    """Fault: an empty or partial test_hands/ used to overwrite the CSV before validation failed."""
    path = tmp_path / "abc123_classified_hands.csv"
    full = write_submission(path, list(EXPECTED_NAMES), [i % 3 for i in range(len(EXPECTED_NAMES))])
    before = full.read_bytes()
    assert len(read_submission(path)) == 8434
    with pytest.raises(SubmissionError, match="test images have no line"):
        write_submission(path, list(found), [0] * len(found))        # default: the 8434 course names
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]      # no temporary file left behind


def test_failed_write_keeps_the_old_deliverable(tmp_path, monkeypatch):
    """A crash while writing (here: the disk fills up) leaves the old file whole."""
    import realfake.state as state
    path = tmp_path / "abc123_classified_hands.csv"
    write_submission(path, NAMES, [0, 1, 2, 1], expected_names=NAMES)
    before = path.read_bytes()

    def full_disk(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(state.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_submission(path, NAMES, [2, 2, 2, 2], expected_names=NAMES)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_format_lines_length_mismatch():
    with pytest.raises(SubmissionError, match="4 names but 3 labels"):
        format_lines(NAMES, [0, 1, 2])


def test_submission_path(tmp_path):
    assert submission_path(tmp_path, "abc123") == tmp_path / "abc123_classified_hands.csv"
    assert submission_path(".", "edsml-ab.12_x").name == "edsml-ab.12_x_classified_hands.csv"


@pytest.mark.parametrize("username", ["ab/cd", "../ab", "ab cd", " ab", "", None, "ab\\cd", "ab\n"])
def test_submission_path_rejects_bad_usernames(tmp_path, username):
    with pytest.raises(SubmissionError, match="must be letters, digits"):
        submission_path(tmp_path, username)

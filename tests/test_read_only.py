"""A read-only checkout runs: every write that cannot land is named in a warning, nothing crashes, and a killed
figure write never leaves a half-written file."""
from __future__ import annotations

import errno

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

import realfake.state as state  # noqa: E402
from realfake import plots, results, run_notebooks  # noqa: E402
from realfake.hands import submission  # noqa: E402


@pytest.fixture
def read_only(monkeypatch):
    """Every atomic write fails as it does on a read-only file system."""
    def refuse(path, data):
        raise PermissionError(errno.EROFS, "Read-only file system", str(path))
    monkeypatch.setattr(state, "atomic_write_bytes", refuse)
    monkeypatch.setattr(state, "atomic_write_text", lambda path, text: refuse(path, text))
    monkeypatch.setattr(results, "atomic_write_text", lambda path, text: refuse(path, text))
    monkeypatch.setattr(submission, "atomic_write_text", lambda path, text: refuse(path, text))
    monkeypatch.setattr(run_notebooks, "atomic_write_text", lambda path, text: refuse(path, text))


def test_figures_metrics_and_the_csv_warn_on_a_read_only_checkout(read_only, tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    with pytest.warns(UserWarning, match=r"figure .*f.png not saved \(Read-only file system\); it is shown only"):
        assert plots.save_figure(fig, tmp_path / "f.png") is None
    with pytest.warns(UserWarning, match=r"metrics .*m.json not written"):
        assert results.write_metrics(tmp_path / "m.json", {"a": 1})["a"] == 1
    names = ["test_hand_0001.jpeg", "test_hand_0002.jpeg"]
    with pytest.warns(UserWarning, match=r"x_classified_hands.csv not written .*read-only"):
        assert submission.write_submission(tmp_path / "x_classified_hands.csv", names, [0, 2], names) is None
    assert list(tmp_path.iterdir()) == []


def test_run_notebooks_reports_instead_of_crashing_on_a_read_only_checkout(read_only, tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "realfake").mkdir()
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1 + 1)")]), good)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('boom')")]), bad)
    before = good.read_text(), bad.read_text()
    assert run_notebooks.main([str(good)]) == 0
    assert "ran, but its executed copy could not be saved" in capsys.readouterr().err
    assert run_notebooks.main([str(bad)]) == 1
    err = capsys.readouterr().err
    assert "its executed copy could not be saved" in err and "boom" in err
    assert (good.read_text(), bad.read_text()) == before


def test_a_killed_figure_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.png"
    fig, ax = plt.subplots()
    plots.save_figure(fig, path)
    old = path.read_bytes()

    def killed(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(state.os, "replace", killed)
    ax.plot([0, 1])
    with pytest.raises(KeyboardInterrupt):
        plots.save_figure(fig, path)
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["f.png"]


def test_a_full_disk_is_an_error_not_a_warning(tmp_path, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(state, "atomic_write_bytes", full)
    monkeypatch.setattr(results, "atomic_write_text", full)
    fig, _ = plt.subplots()
    with pytest.raises(OSError, match="No space"):
        plots.save_figure(fig, tmp_path / "f.png")
    with pytest.raises(OSError, match="No space"):
        results.write_metrics(tmp_path / "m.json", {"a": 1})

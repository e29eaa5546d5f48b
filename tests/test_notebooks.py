"""The committed notebooks read as reports: executed, figures inline, no widgets, no redraws, no machine paths.

Also the cleaning that `make run` applies (realfake.run_notebooks) and `plots.show` under the Agg
backend, which used to draw nothing.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from realfake.run_notebooks import WIDGET_MIME, clean_notebook, collapse_redraws, relative_paths

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MACHINE_PATH = re.compile(r"(/work/|/home/|/root/|/tmp/|/Users/|[A-Z]:\\\\Users)")


def outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
        else:
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def test_there_are_clean_and_hypertune_notebooks_for_each_task():
    names = {path.name for path in NOTEBOOKS}
    assert {"hands_classifier_clean.ipynb", "hands_classifier_hypertune.ipynb"} <= names
    for name in names:
        partner = name.replace("_clean", "_hypertune") if "_clean" in name else name.replace("_hypertune", "_clean")
        assert partner in names, f"{name} has no {partner}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_is_an_executed_report(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code"
    problems = []
    for number, cell in enumerate(code, start=1):
        where = f"{path.name} code cell {number} ({cell.source.splitlines()[0][:50] if cell.source else ''!r})"
        if cell.execution_count is None and cell.source.strip():
            problems.append(f"{where}: not executed")
        if re.search(r"(^|[^.\w])show\(", cell.source) and not any(
                "image/png" in output.get("data", {}) for output in cell.get("outputs", [])):
            problems.append(f"{where}: calls show() but has no inline figure")
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(f"{where}: error {output.ename}")
            if WIDGET_MIME in output.get("data", {}):
                problems.append(f"{where}: widget output (shows as 'Loading widget' outside Jupyter)")
        text = outputs_text(cell)
        if "\r" in text:
            problems.append(f"{where}: progress redraws (carriage returns) in the output")
        if MACHINE_PATH.search(text):
            problems.append(f"{where}: absolute path of the machine that ran it: {MACHINE_PATH.search(text).group(0)}")
        if "execution" in cell.metadata:
            problems.append(f"{where}: execution timestamps in the metadata")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_reads_as_a_report(path):
    """About 30 cells and at most 1,000 words of markdown; no placeholder URL, no build hash; a Colab user starts
    from the notebook itself (its first code cell installs the suite)."""
    notebook = nbformat.read(path, as_version=4)
    markdown = " ".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert len(notebook.cells) <= 40, f"{path.name} has {len(notebook.cells)} cells"
    assert len(markdown.split()) <= 1000, f"{path.name} has {len(markdown.split())} words of markdown"
    everything = "\n".join(cell.source for cell in notebook.cells)
    for placeholder in ("YOUR-ACCOUNT", "YOUR_ACCOUNT", "<your-", "example.com"):
        assert placeholder not in everything, f"{path.name} holds the placeholder {placeholder!r}"
    assert not re.search(r"\b[0-9a-f]{12}\b", everything), f"{path.name} shows a build hash"
    first_code = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "google.colab" in first_code and "pip install" in first_code, f"{path.name}: no Colab set-up cell first"


def test_collapse_redraws_keeps_the_last_state():
    assert collapse_redraws("epochs:  0%|\repochs: 50%|\repochs: 100%|\ndone\n") == "epochs: 100%|\ndone\n"


def test_relative_paths(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    text = f"wrote {root}/results/x.json; data from {tmp_path}/shared/data; cwd {root}"
    assert relative_paths(text, root) == "wrote results/x.json; data from ../shared/data; cwd ."


def test_clean_notebook(tmp_path):
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="a  0%|\ra 100%|\n"),
        nbformat.v4.new_output("stream", name="stdout", text=f"saved {tmp_path}/out.png\n"),
        nbformat.v4.new_output("display_data", data={WIDGET_MIME: {"model_id": "1"}, "text/plain": "HBox(children=())"}),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"}),
    ]
    notebook.cells = [cell]
    notebook.metadata["widgets"] = {"state": {}}
    clean_notebook(notebook, tmp_path)
    assert "widgets" not in notebook.metadata and "execution" not in cell.metadata
    assert [o.output_type for o in cell.outputs] == ["stream", "display_data"]
    assert cell.outputs[0].text == "a 100%|\nsaved out.png\n"


def test_show_draws_inline_under_agg(tmp_path):
    """Fault: show() called plt.show(), which draws nothing under MPLBACKEND=Agg (as `make test` runs)."""
    from nbclient import NotebookClient
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "from realfake.plots import show\nfig, ax = plt.subplots()\nax.plot([0, 1])\n"
        f"show(fig, {str(tmp_path / 'fig.png')!r})")]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    assert any("image/png" in o.get("data", {}) for o in outputs), outputs
    assert (tmp_path / "fig.png").stat().st_size > 0


def test_progress_bar_split_over_messages_is_removed(tmp_path):
    """A bar that is drawn, then cleared (tqdm leave=False), in separate messages leaves nothing behind."""
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="\rdecoding a:   0%|  | 0/8000"),
                    nbformat.v4.new_output("stream", name="stdout", text="\r                         \r"),
                    nbformat.v4.new_output("stream", name="stdout", text="\rdecoding b:   0%|  | 0/500"),
                    nbformat.v4.new_output("stream", name="stdout", text="\r                         \r"),
                    nbformat.v4.new_output("stream", name="stdout", text="8936 unique labelled images\n")]
    notebook.cells = [cell]
    clean_notebook(notebook, tmp_path)
    assert [o.text for o in cell.outputs] == ["8936 unique labelled images\n"]


def run_colab_cell(path: Path, monkeypatch, repo_there: bool, source: str) -> list[tuple[str, str]]:
    """Run a notebook's Colab set-up cell as Colab would, with `google.colab` and IPython's shell calls faked:
    the (kind, command) list of what it asked the shell to do."""
    import os
    import sys
    import types

    from IPython.core.inputtransformer2 import TransformerManager

    calls = []
    shell = types.SimpleNamespace(system=lambda command: calls.append(("!", command)),
                                  run_line_magic=lambda name, line: calls.append(("%", f"{name} {line}")))
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=lambda where: calls.append(("mount", where)))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    sys.modules["google"].colab = colab
    exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: repo_there if p == "/content/realfake" else exists(p))
    monkeypatch.setenv("REALFAKE_REPO", source)
    first_code = next(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
    exec(TransformerManager().transform_cell(first_code), {"get_ipython": lambda: shell})
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_the_colab_cell_installs_names_a_missing_copy_and_survives_a_restart(path, monkeypatch, tmp_path):
    calls = run_colab_cell(path, monkeypatch, repo_there=False, source=str(tmp_path))
    assert [kind for kind, _ in calls] == ["mount", "!", "!", "%", "!"]
    assert calls[1][1].startswith("cp -r") and "pip install -q -e /content/realfake" in calls[2][1]
    assert calls[3][1] == "cd /content/realfake" and "realfake.datalink /content/drive/MyDrive/realfake-data" in calls[4][1]
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nowhere'} is not there: copy this repository"):
        run_colab_cell(path, monkeypatch, repo_there=False, source=str(tmp_path / "nowhere"))
    # after a runtime restart the copy is there: nothing is installed again, but the cell still enters the repository
    assert run_colab_cell(path, monkeypatch, repo_there=True, source=str(tmp_path)) == [("%", "cd /content/realfake")]

"""Execute notebooks top to bottom, in place, with their outputs saved as a report (`make run`).

    python -m realfake.run_notebooks notebooks/hands_classifier_clean.ipynb [...]

The run profile comes from REALFAKE_PROFILE, as in Jupyter. The executed notebook is cleaned
so it reads well on GitHub and re-running it gives a small diff:
  * a progress bar's redraws (carriage returns) are reduced to its last state;
  * widget outputs are replaced by their text (a widget shows as "Loading widget" outside Jupyter);
  * the machine's absolute paths become relative ones, and terminal colour codes are removed;
  * execution timestamps are dropped from the cell metadata.
The notebook replaces the old one only when every cell ran; a failed run is written to
results/failed_notebooks/ so the error can be read there, and the committed one stays.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

from .paths import repo_root
from .state import atomic_write_text

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def collapse_redraws(text: str) -> str:
    """Keep, on each line, only what was written after its last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def relative_paths(text: str, root: Path) -> str:
    """Replace the repository's absolute path (and its parent's) by relative ones."""
    root = root.resolve()
    text = text.replace(str(root) + "/", "").replace(str(root), ".")
    return text.replace(str(root.parent) + "/", "../")


def clean_notebook(notebook, root: Path):
    """Clean an executed notebook in place (see the module docstring); returns it."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        # Consecutive stream outputs of one kind are merged first, as Jupyter shows them: a progress bar's
        # carriage returns often arrive in separate messages and only make sense together.
        merged = []
        for output in cell.get("outputs", []):
            if (merged and output.output_type == "stream" and merged[-1].output_type == "stream"
                    and merged[-1].name == output.name):
                merged[-1].text += output.text
            else:
                merged.append(output)
        outputs = []
        for output in merged:
            if output.output_type == "stream":
                output.text = relative_paths(collapse_redraws(ANSI_COLOUR.sub("", output.text)), root)
                if not output.text.strip():
                    continue
            elif output.output_type in ("display_data", "execute_result"):
                data = output.get("data", {})
                if WIDGET_MIME in data:
                    data.pop(WIDGET_MIME)
                    if not data.get("text/plain", "").strip() or data.get("text/plain", "").startswith(("HBox(", "VBox(")):
                        continue
                for mime in ("text/plain", "text/html", "text/markdown"):
                    if mime in data:
                        value = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
                        data[mime] = relative_paths(value, root)
            elif output.output_type == "error":
                output.traceback = [relative_paths(line, root) for line in output.traceback]
            outputs.append(output)
        cell.outputs = outputs
    return notebook


def run_notebook(path: Path, timeout: int = 7200) -> float:
    """Execute `path` in its folder, clean it and write it back; raise CellExecutionError on failure."""
    path = Path(path)
    root = repo_root(path.parent)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    from .profile import current_profile
    from .results import COMMAND_VARIABLE
    os.environ[COMMAND_VARIABLE] = (f"REALFAKE_PROFILE={current_profile()} python -m realfake.run_notebooks "
                                    f"{path.resolve().relative_to(root)}")   # the kernel records it with its results
    started = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, DeadKernelError):   # a cell raised, or the kernel died (out of memory, a crash)
        failed = root / "results" / "failed_notebooks" / path.name
        try:
            atomic_write_text(failed, nbformat.writes(clean_notebook(notebook, root)))
            where = f"the executed copy with the error is {failed.relative_to(root)}"
        except OSError as error:   # a read-only checkout: the error is still printed below
            where = f"its executed copy could not be saved ({error.strerror or error})"
        print(f"{path} failed; {where}; {path.name} itself is unchanged", file=sys.stderr)
        raise
    nbformat.validate(notebook)
    try:
        atomic_write_text(path, nbformat.writes(clean_notebook(notebook, root)))
    except OSError as error:
        print(f"{path} ran, but its executed copy could not be saved ({error.strerror or error}): "
              "a read-only checkout keeps the committed notebook", file=sys.stderr)
    return time.perf_counter() - started


def record_time(path: Path, seconds: float) -> None:
    """Keep each notebook's last run time per profile in results/run_times.json (the README's run times come from
    there). Smoke runs are not recorded; a checkout that cannot be written is left as it is."""
    from .profile import current_profile
    profile = current_profile()
    if profile != "smoke":
        keep_time(repo_root(path.parent), profile, path.name, seconds,
                  f"REALFAKE_PROFILE={profile} python -m realfake.run_notebooks notebooks/{path.name}")


def keep_time(root: Path, profile: str, name: str, seconds: float, command: str) -> None:
    """results/run_times.json[profile][name] = seconds, the command timed, this machine's cores and the date
    (written atomically)."""
    import json
    import os

    from .state import read_json
    file = Path(root) / "results" / "run_times.json"
    try:
        record = read_json(file, "run times") or {}
        record.setdefault(profile, {})[name] = {"seconds": round(seconds), "command": command,
                                                "cpu_cores": os.cpu_count(), "written": time.strftime("%Y-%m-%d")}
        atomic_write_text(file, json.dumps(record, indent=2, sort_keys=True) + "\n")
    except (OSError, ValueError):
        pass


def main(paths: list[str]) -> int:
    for name in paths:
        print(f"running {name} ...", flush=True)
        try:
            seconds = run_notebook(Path(name))
        except (CellExecutionError, DeadKernelError) as error:
            print(f"{name} failed:\n" + ANSI_COLOUR.sub("", str(error)), file=sys.stderr)
            return 1
        record_time(Path(name), seconds)
        print(f"{name}: done in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Execute notebooks top to bottom, in place, with their outputs saved (`make run`).

    python -m realfake.run_notebooks notebooks/hands_classifier_clean.ipynb [...]

The run profile comes from REALFAKE_PROFILE, as in Jupyter. A failing cell stops the run
with the cell's error, and the notebook is still written so the error can be read there.
"""
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def run_notebook(path: Path, timeout: int = 3600) -> float:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        nbformat.write(notebook, path)
    return time.perf_counter() - started


def main(paths: list[str]) -> int:
    for name in paths:
        print(f"running {name} ...", flush=True)
        try:
            seconds = run_notebook(Path(name))
        except CellExecutionError as error:
            print(f"{name} failed:\n{error}", file=sys.stderr)
            return 1
        print(f"{name}: done in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Where a run reads and writes, relative to the repository root.

The smoke profile writes under results/smoke/ so a CI or test run never overwrites the
committed deliverables (the CSV at the root, model_best/, results/).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def repo_root(start: Path | str | None = None) -> Path:
    """The folder holding pyproject.toml, searched upwards from `start` (default: the CWD)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists() and (folder / "realfake").is_dir():
            return folder
    raise FileNotFoundError(f"no realfake repository above {here}; open the notebook from the cloned repository")


@dataclass(frozen=True)
class RunPaths:
    root: Path
    results: Path       # metrics, search databases
    figures: Path       # saved plots
    models: Path        # model_best/
    deliverables: Path  # where <username>_classified_hands.csv goes
    checkpoints: Path   # resumable training state


def run_paths(profile: str, root: Path | str | None = None) -> RunPaths:
    root = Path(root) if root else repo_root()
    results = root / "results" / "smoke" if profile == "smoke" else root / "results"
    return RunPaths(root=root, results=results, figures=results / "figures",
                    models=results / "model_best" if profile == "smoke" else root / "model_best",
                    deliverables=results if profile == "smoke" else root,
                    checkpoints=root / "results" / "checkpoints" / profile)


def shown(path: Path | str) -> str:
    """`path` as a user should read it, never a machine path: relative to the working folder when inside it,
    else relative to its repository."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        pass
    try:
        return str(path.relative_to(repo_root(path.parent)))
    except (ValueError, FileNotFoundError):
        return str(path)

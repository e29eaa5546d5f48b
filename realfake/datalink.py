"""Put every task's data where its notebooks read it, in git-ignored folders (`make data`).

    python -m realfake.datalink [SOURCE]     # SOURCE defaults to $REALFAKE_DATA or ../shared/data

Each task package prepares its own data with `<task>.data.prepare_data(source, root)`: the hands
are linked, CIFAKE is extracted once, MNIST's archives are copied where torchvision looks. A task
whose required data is missing raises FileNotFoundError naming what is missing and where it
comes from; the other tasks are still prepared. Nothing is ever copied into git.
"""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

TASK_DATA = ("realfake.hands.data", "realfake.sd_detector.data", "realfake.dcgan.data")


def how_to_link(name: str | None = None) -> str:
    """What to do about missing course data (`name`: its folder under ../shared/data), here and in Colab."""
    what = f" to link ../shared/data/{name}" if name else ""
    return f"run `make data`{what}; in Colab, put it in MyDrive/realfake-data and run the notebook's first cell again"


def link_folder(origin: Path, link: Path) -> str:
    """Make `link` a symbolic link to the folder `origin` (replacing an old link, keeping a real folder)."""
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        return f"kept {link.name}: a real folder is already there"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path(origin).resolve(), target_is_directory=True)
    return f"linked {link.name} -> {origin}"


def prepare_all(source: Path, root: Path) -> tuple[list[str], list[str]]:
    """(what was done, what failed) for every task."""
    done, failed = [], []
    for name in TASK_DATA:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:
                continue  # that task has no data step
            raise
        try:
            done += module.prepare_data(Path(source), Path(root))
        except FileNotFoundError as error:
            failed.append(f"{name.split('.')[1]}: {error}")
    return done, failed


def main(argv: list[str]) -> int:
    default = os.environ.get("REALFAKE_DATA") or "../shared/data"
    source = Path(argv[0] if argv else default)
    done, failed = prepare_all(source, Path.cwd())
    for line in done:
        print(line)
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

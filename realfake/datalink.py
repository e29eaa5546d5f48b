"""Link the course data into the git-ignored folders the notebooks read (`make data`).

    python -m realfake.datalink [SOURCE]     # SOURCE defaults to $REALFAKE_DATA or ../shared/data

SOURCE holds `hands/{real,VAE,GAN,test}_hands/` (the course repository's coursework-2 folders)
and `hands_cw1/real_hands/` (coursework 1's 8000 real hands). Nothing is copied into git.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

# target (relative to the repository root) -> source (relative to SOURCE)
LINKS = {
    "real_hands": "hands/real_hands",
    "VAE_hands": "hands/VAE_hands",
    "GAN_hands": "hands/GAN_hands",
    "test_hands": "hands/test_hands",
    "data/hands_cw1/real_hands": "hands_cw1/real_hands",
}
OPTIONAL = {"data/hands_cw1/real_hands"}

HELP = """The hand folders come from the course repository (DL module coursework 2:
real_hands/, VAE_hands/, GAN_hands/, test_hands/; coursework 1: real_hands/ with 8000 images).
Point the project at them with
    make data REALFAKE_DATA=/path/to/data      (a folder holding hands/ and hands_cw1/)
or copy the four coursework-2 folders into the repository root yourself."""


def link_data(source: Path, root: Path) -> list[str]:
    """Create the links; return what was done. Raises FileNotFoundError naming what is missing."""
    source, root = Path(source).resolve(), Path(root).resolve()
    missing = [rel for target, rel in LINKS.items() if target not in OPTIONAL and not (source / rel).is_dir()]
    if missing:
        raise FileNotFoundError(f"data source {source} lacks {', '.join(missing)}.\n{HELP}")
    done = []
    for target, rel in LINKS.items():
        origin, link = source / rel, root / target
        if not origin.is_dir():
            done.append(f"skipped {target}: {origin} not found (optional)")
            continue
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            done.append(f"kept {target}: a real folder is already there")
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(origin, target_is_directory=True)
        done.append(f"linked {target} -> {origin}")
    return done


def main(argv: list[str]) -> int:
    default = os.environ.get("REALFAKE_DATA") or "../shared/data"
    source = Path(argv[0] if argv else default)
    try:
        for line in link_data(source, Path.cwd()):
            print(line)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

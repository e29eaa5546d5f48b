"""Machine-readable results of a run (`results/*_metrics.json`), written atomically."""
import argparse
import json
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

from .state import atomic_write_text, read_only


def write_metrics(path: Path | str, metrics: dict) -> dict:
    """Write `metrics` as JSON, stamped with the date; return what was written. Where the folder cannot be written
    (a read-only checkout) it warns, naming the file, and still returns the record."""
    record = {"written": time.strftime("%Y-%m-%d"), **metrics}
    command = metrics.get("command") or running_command()
    if command:
        record["command"] = command
    try:
        atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    except OSError as error:
        if not read_only(error):
            raise
        warnings.warn(f"metrics {path} not written ({error.strerror or error})", stacklevel=2)
    return record


def command_line(script: str, args: argparse.Namespace, leave_out=("out",)) -> str:
    """The command that runs `script` again with `args` (its parsed options), to store beside its results.

    Options left unset (None, False) are omitted, a True flag is named alone, a list gives its items
    (`--classes VAE GAN`), and values are quoted for the shell where they need it. `leave_out`: options
    that do not change the results (where they are written, a checkpoint).
    """
    words = ["python", script]
    for name, value in vars(args).items():
        if value is None or value is False or name in leave_out:
            continue
        words.append("--" + name.replace("_", "-"))
        if value is not True:
            words += [str(item) for item in value] if isinstance(value, (list, tuple)) else [str(value)]
    return shlex.join(words)


COMMAND_VARIABLE = "REALFAKE_COMMAND"   # set by realfake.run_notebooks for the notebook it executes


def running_command() -> str | None:
    """The command this process was started with, as a user would type it again: the notebook run that
    realfake.run_notebooks names in REALFAKE_COMMAND, else `python -m module args` or `python script args`
    (None inside a kernel nobody named, e.g. Jupyter opened by hand)."""
    if os.environ.get(COMMAND_VARIABLE):
        return os.environ[COMMAND_VARIABLE]
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and "ipykernel" not in spec.name and "pytest" not in spec.name:
        return shlex.join(["python", "-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]])
    if spec is None and sys.argv and sys.argv[0].endswith(".py"):
        return shlex.join(["python", sys.argv[0], *sys.argv[1:]])
    return None

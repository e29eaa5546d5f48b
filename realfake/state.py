"""State files that survive crashes: atomic writes, and named, rebuildable corrupt files.

Every file the suite writes for later runs (caches, checkpoints, stored models, metrics, the
CSV) goes through `atomic_*`: the bytes land in a temporary file in the same folder, which then
replaces the target in one rename. A crash or a full disk leaves the old file, never half a file.

Reading is the other half: `load_torch_state` and `read_json` return None for a missing file,
and for an unreadable one they say which file and why, move it aside to `<name>.corrupt` (so
it is kept for inspection but no longer in the way) and return None, so the caller rebuilds it.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import torch

from .paths import shown


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o666 & ~_UMASK)  # mkstemp makes 0600; a state file is as readable as any other
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj, path: Path | str) -> Path:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def set_aside(path: Path, what: str, reason: str) -> None:
    """Warn that `path` is unreadable and move it to `<path>.corrupt` so it can be rebuilt."""
    message = f"{what} {shown(path)} is unreadable ({reason}); it will be rebuilt"
    try:
        os.replace(path, path.with_name(path.name + ".corrupt"))
        message += f" (the bad file is kept as {path.name}.corrupt)"
    except OSError:
        pass
    warnings.warn(message, stacklevel=3)


def load_torch_state(path: Path | str, what: str = "state file", map_location="cpu"):
    """The object saved in `path`, or None if it is missing or unreadable (then named and set aside).

    Loads with weights_only=True: state files hold only tensors and plain Python values, so a
    tampered file cannot run code, and torch's advice to pass weights_only=False never applies.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to read means "rebuild it"
        set_aside(path, what, f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else 'no detail'}")
        return None


def read_json(path: Path | str, what: str = "JSON file") -> dict | None:
    """The JSON object in `path`, or None if it is missing or unreadable (then named and set aside)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, found {type(value).__name__}")
        return value
    except (ValueError, UnicodeDecodeError, OSError) as error:
        set_aside(path, what, f"{type(error).__name__}: {error}")
        return None


def code_version(*objects) -> str:
    """A short hash of the source code of modules, classes or functions.

    Stored with checkpoints and models: when the code that made them changes, so does this.
    """
    digest = hashlib.sha1()
    for obj in objects:
        digest.update(inspect.getsource(obj).encode())
    return digest.hexdigest()[:12]

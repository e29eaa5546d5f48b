"""State files that survive crashes: atomic writes, and named, rebuildable corrupt files.

Every file the suite writes for later runs (caches, checkpoints, stored models, metrics, the
CSV) goes through `atomic_*`: the bytes land in a temporary file in the same folder, which then
replaces the target in one rename. A crash or a full disk leaves the old file, never half a file.

Reading is the other half: `load_torch_state` and `read_json` return None for a missing file.
For a file whose *content* is damaged (a cut-short zip, bytes that are not JSON) they say which
file and why, and then:
  * a rebuildable file (a cache, a checkpoint: the caller passes `rebuildable=True`) is moved aside to
    `<name>.corrupt` (kept for inspection, git-ignored) and None is returned, so the caller rebuilds it;
  * anything else (the default: a stored model, a tracked record) raises `UnreadableState`, left in place:
    the code never moves or renames a file that a person may have committed.
A failure that says nothing about the content (out of memory, too many open files, an I/O error)
is raised as it is and never sets a file aside.
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


def read_only(error: OSError) -> bool:
    """Whether a failed write failed because the place cannot be written (a read-only checkout), which a run warns
    about and goes on; any other failure (a full disk, an I/O error) is raised."""
    import errno
    return error.errno in (errno.EROFS, errno.EACCES, errno.EPERM)


class UnreadableState(ValueError):
    """A state file that is not rebuildable (a stored model, a tracked record) is damaged; it is left in place."""


def _read(path: Path) -> bytes | None:
    """The file's bytes, or None if there is no file. Reading is kept apart from parsing: an error here (EMFILE,
    EIO, out of memory) says nothing about the content and propagates as it is; an error while parsing means damage."""
    if not path.exists():
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:  # removed since the check
        return None


def set_aside(path: Path, what: str, reason: str) -> None:
    """Warn that `path` is unreadable and move it to `<path>.corrupt` so it can be rebuilt (rebuildable files only)."""
    message = f"{what} {shown(path)} is unreadable ({reason}); it will be rebuilt"
    try:
        os.replace(path, path.with_name(path.name + ".corrupt"))
        message += f" (the bad file is kept as {path.name}.corrupt)"
    except OSError:
        pass
    warnings.warn(message, stacklevel=3)


def _damaged(path: Path, what: str, error: BaseException, rebuildable: bool) -> None:
    detail = str(error).splitlines()[0][:200] if str(error) else "no detail"
    reason = f"{type(error).__name__}: {detail}"
    if not rebuildable:
        raise UnreadableState(f"{what} {shown(path)} is unreadable ({reason}); it is left as it is") from error
    set_aside(path, what, reason)


def load_torch_state(path: Path | str, what: str = "state file", map_location="cpu", rebuildable: bool = False):
    """The object saved in `path`, or None if it is missing (or damaged and rebuildable: then named and set aside).

    Loads with weights_only=True: state files hold only tensors and plain Python values, so a
    tampered file cannot run code, and torch's advice to pass weights_only=False never applies.
    """
    path = Path(path)
    data = _read(path)
    if data is None:
        return None
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - parsing bytes in memory fails only on what they hold
        _damaged(path, what, error, rebuildable)
        return None


def read_json(path: Path | str, what: str = "JSON file", rebuildable: bool = False) -> dict | None:
    """The JSON object in `path`, or None if it is missing (or damaged and rebuildable: then named and set aside)."""
    path = Path(path)
    data = _read(path)
    if data is None:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, found {type(value).__name__}")
        return value
    except (ValueError, UnicodeDecodeError) as error:
        _damaged(path, what, error, rebuildable)
        return None


def code_version(*objects) -> str:
    """A short hash of the source code of modules, classes or functions.

    Stored with checkpoints and models: when the code that made them changes, so does this.
    """
    digest = hashlib.sha1()
    for obj in objects:
        digest.update(inspect.getsource(obj).encode())
    return digest.hexdigest()[:12]

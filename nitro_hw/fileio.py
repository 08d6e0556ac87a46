"""Atomic file writes: a temporary file beside the target, fsync, then a rename.

A reader never sees a half-written file, and a crash leaves the previous version (or
nothing) in place. New files get the usual permissions (``0o666`` minus the umask), not the
``0o600`` of a bare temporary file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, writer: Callable[[IO[bytes]], object]) -> Path:
    """Call ``writer(fileobj)`` on a temporary file next to ``path``, fsync, then rename it to ``path``.

    The parent directory is created when missing. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode("utf-8")
    return atomic_write_bytes(path, lambda f: f.write(data))


def atomic_write_json(path: str | Path, obj: object, indent: int = 1, sort_keys: bool = True) -> Path:
    """Write ``obj`` as JSON (with a final newline) atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n")

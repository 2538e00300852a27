"""Atomic file writes: write a temporary file beside the target, flush it to disk, then rename over the target.

A reader (or a crash) never sees a half-written file: it sees the old file or the new one. `os.replace` is atomic
on the same volume on both Windows and POSIX.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces `path`, on error it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Created with open(..., "x") rather than mkstemp so the file gets the usual permissions (umask), not 0600.
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    tmp.open("xb").close()
    try:
        yield tmp
        with open(tmp, "rb+") as handle:  # make the bytes durable before the rename makes them visible
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)

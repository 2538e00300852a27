"""Atomic file writes: write a temporary file beside the target, flush it to disk, then rename over the target.

A reader (or a crash) never sees a half-written file: it sees the old file or the new one. `os.replace` is atomic
on the same volume on both Windows and POSIX.

On Windows another program that briefly opens the target (an antivirus scan, the Search indexer, OneDrive) makes
the rename or a read fail with PermissionError, winerror 5 (ERROR_ACCESS_DENIED) or 32 (ERROR_SHARING_VIOLATION)
(Microsoft Learn, "System Error Codes (0-499)"; CPython sets `winerror` on OSError on Windows only). Those two are
retried with a short backoff for a bounded time, then reported as `FileLockedError` naming the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from .errors import Mt5BridgeError

T = TypeVar("T")

TRANSIENT_WINERRORS = {5: "access denied", 32: "sharing violation"}
HOLDERS = ("an antivirus scan, the Windows Search indexer, OneDrive or another sync/backup tool, or an editor "
           "or Explorer preview")


class FileLockedError(Mt5BridgeError, PermissionError):
    """A file stayed locked by another program for the whole retry time. Still a PermissionError, so code that
    handles OSError keeps working; `str()` is the one-line message (no errno prefix)."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Retry:
    """How long to keep trying while another program holds a file. `sleep` and `clock` are injectable so tests
    never wait. Ten seconds in all: an antivirus or indexer lets go within a second or so; anything longer
    is more likely a program that keeps the file open, which waiting will not fix."""

    timeout_s: float = 10.0
    first_delay_s: float = 0.02
    max_delay_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


DEFAULT_RETRY = Retry()


def is_transient_lock(exc: BaseException) -> bool:
    """True for the errors another program's brief hold causes on Windows. Decided by `winerror` alone, not by
    sys.platform, so a test on Linux can raise the same exception the Windows build of CPython raises; a POSIX
    EACCES has no winerror and is never retried (it is a real permission problem, waiting will not fix it)."""
    return isinstance(exc, PermissionError) and getattr(exc, "winerror", None) in TRANSIENT_WINERRORS


def retrying(action: Callable[[], T], path: Path, what: str, retry: Retry | None = None) -> T:
    """Run `action`, retrying transient Windows locks on `path` until `retry.timeout_s` has passed."""
    retry = retry or DEFAULT_RETRY  # looked up at call time, so a test can swap the default for a no-wait one
    deadline = retry.clock() + retry.timeout_s
    delay = retry.first_delay_s
    while True:
        try:
            return action()
        except PermissionError as exc:
            if not is_transient_lock(exc):
                raise
            if retry.clock() >= deadline:
                code = f"WinError {exc.winerror}, {TRANSIENT_WINERRORS[exc.winerror]}"
                # Access denied also means a read-only file or missing rights, which no waiting fixes.
                rights = " (or it is read-only, or you lack the rights)" if exc.winerror == 5 else ""
                raise FileLockedError(
                    f"cannot {what} {path}: it is locked by another program ({code}) and stayed locked for "
                    f"{retry.timeout_s:g} s; probably {HOLDERS} holds it: exclude the folder from it or move the "
                    f"file out of a synced folder{rights}", path) from None
            retry.sleep(min(delay, max(0.0, deadline - retry.clock())))
            delay = min(delay * 2, retry.max_delay_s)


def read_bytes(path: str | os.PathLike, retry: Retry | None = None, what: str = "read") -> bytes:
    """A file's bytes, waiting out another program's brief exclusive hold (FileLockedError if it persists)."""
    path = Path(path)
    return retrying(path.read_bytes, path, what, retry)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, retry: Retry | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces `path`, on error it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Created with open(..., "x") rather than mkstemp so the file gets the usual permissions (umask), not 0600.
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    tmp.open("xb").close()
    try:
        yield tmp
        retrying(lambda: _fsync(tmp), tmp, "flush", retry)  # an antivirus may scan the new file as it is closed
        retrying(lambda: os.replace(tmp, target), target, "replace", retry)
    finally:
        if tmp.exists():
            # Best effort: a leftover dot-file is harmless, and a failure here must not hide the error that got
            # us here. Retried because the same scanner that blocked the rename may hold the temporary file.
            with contextlib.suppress(OSError):
                retrying(tmp.unlink, tmp, "remove", retry)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:  # make the bytes durable before the rename makes them visible
        os.fsync(handle.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes, retry: Retry | None = None) -> None:
    with atomic_path(path, retry) as tmp:
        tmp.write_bytes(data)

"""Ctrl-C, Ctrl-Break (Windows) and SIGTERM ask a long-running job to stop at its next safe point, portably.

No POSIX-only signal is required: each one is hooked only where the platform has it, and only from the main
thread (Python's rule). The previous handlers come back on exit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator

STOP_SIGNALS = ("SIGINT", "SIGBREAK", "SIGTERM")


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    saved = {}
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            if hasattr(signal, name):
                sig = getattr(signal, name)
                saved[sig] = signal.signal(sig, lambda *_: stop())
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)

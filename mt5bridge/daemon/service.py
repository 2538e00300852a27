"""Running the daemon as a service: structured logging, metrics, Ctrl-C / Ctrl-Break, clean shutdown.

Portable: no fork, no POSIX-only signals; SIGINT everywhere and SIGBREAK on Windows ask the loop to stop after the
current cycle, which persists the state before closing.
"""

from __future__ import annotations

import logging
import sys
import time

from ..signals import stop_on_signals
from .config import RunConfig
from .loop import Daemon
from .metrics import Metrics


class KeyValueFormatter(logging.Formatter):
    """One line per event: `ts=... level=... logger=... event=... key=value ...` (the message carries the pairs)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"ts={stamp} level={record.levelname} logger={record.name} {record.getMessage()}"
        if record.exc_info:
            line += " traceback=" + repr(self.formatException(record.exc_info))
        return line


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger("mt5bridge")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def run_service(config: RunConfig, **daemon_kwargs) -> Daemon:
    """Build and run the daemon until it is stopped (signal, max_bars); returns it for its counters."""
    log = logging.getLogger("mt5bridge.daemon")
    metrics = Metrics(config.metrics.port or None, config.metrics.host)
    daemon = Daemon(config, metrics=metrics, **daemon_kwargs)
    try:
        with stop_on_signals(daemon.stop):
            daemon.run()
    finally:
        metrics.close()
    log.info("event=stopped published=%d dropped=%d sequence=%d", daemon.published, daemon.publisher.dropped,
             daemon.sequence)
    return daemon

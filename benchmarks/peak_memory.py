"""Peak resident memory of the benchmark process, for the three scripts that report it. `resource` is POSIX only:
on Windows the figure is None ("not measured") and the timings still run."""

from __future__ import annotations

import sys

try:
    import resource  # POSIX only
except ImportError:  # Windows has no getrusage
    resource = None

NO_RSS = "peak resident memory not measured: the `resource` module does not exist on Windows"


def peak_rss_mib() -> float | None:
    """Peak resident memory of this process in MiB; None where it cannot be measured (Windows)."""
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 1024)  # getrusage(2): bytes on macOS, KiB on Linux


def rss_cell(mib: float | None) -> str:
    return f"peak RSS {mib:.0f} MiB" if mib is not None else "peak RSS not measured (Windows)"

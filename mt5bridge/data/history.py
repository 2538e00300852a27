"""`history`: pull closed bars from any source into a Parquet file, incrementally.

A first run writes the bars in [start, end); later runs append only bars newer than the file's last bar. The file
carries its symbol and timeframe in the Parquet metadata, and a run for another symbol or timeframe is refused.
Writes go to a temporary file in the same folder, then `os.replace`: an interrupted run leaves the old file whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .bars import concat_new, empty_bars, format_time
from .files import read_bars, write_parquet
from .gaps import GapReport, gap_report
from .sources import BarSource, Progress


@dataclass
class HistoryResult:
    path: Path
    existing: int  # bars in the file before this run
    added: int  # closed bars appended by this run
    dropped: int  # bad bars the source skipped ("drop" policy)
    bars: np.ndarray  # (N,) everything now in the file
    gaps: GapReport

    @property
    def total(self) -> int:
        return len(self.bars)


def pull_history(source: BarSource, out: str | Path, *, start: int | None = None, end: int | None = None,
                 progress: Progress | None = None) -> HistoryResult:
    """Append to `out` the source's closed bars with start <= time < end that are newer than the file's last bar."""
    out = Path(out)
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"--from {format_time(start)} is not before --to {format_time(end)}")
    meta = {"symbol": source.symbol, "timeframe": source.timeframe.name}
    old = empty_bars(0)
    if out.exists():
        existing = read_bars(out, format="parquet")
        for key, want in meta.items():
            have = existing.metadata.get(key)
            if have is not None and want and have != want:
                raise ConfigError(f"{out} holds {key} {have!r}, not {want!r}; pick another --out file")
        old = existing.bars
    lo = start
    if len(old):
        lo = max(lo if lo is not None else -(2**62), int(old["time"][-1]) + 1)
    new = source.closed_bars_range(lo, end, progress)
    bars = concat_new(old, new)
    if not len(bars):  # an empty Parquet would only fail later, in train or encode, far from the cause
        window = f" in [{format_time(start) if start is not None else '...'}, " \
                 f"{format_time(end) if end is not None else '...'})" if start is not None or end is not None else ""
        raise DataError(f"{source.name}: no closed bars{window}; nothing written to {out}")
    added = len(bars) - len(old)
    if added or not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(bars, out, metadata={**meta, "source": source.name})
    dropped = int(getattr(source, "dropped", 0))
    return HistoryResult(out, len(old), added, dropped, bars, gap_report(bars["time"], source.timeframe))

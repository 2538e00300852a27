"""Gap report: where bars are missing between consecutive bars. Weekends and holidays are normal, so this only
reports; nothing is filled in or removed.

Classes (server time): "weekend" - the gap starts on Friday or Saturday, ends on Sunday or Monday and lasts less
than 4 days; "holiday" - any other gap of 24 h or more; "intraday" - shorter gaps (daily breaks such as gold's,
feed outages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bars import format_time
from .timeframes import Timeframe, timeframe

_DAY = 86400
KINDS = ("weekend", "holiday", "intraday")


@dataclass(frozen=True)
class Gap:
    last: int  # open time of the bar before the gap
    next: int  # open time of the bar after it
    missing: int  # nominal bars missing (calendar bars, not trading hours)
    kind: str  # "weekend", "holiday" or "intraday"

    def __str__(self) -> str:
        return f"{format_time(self.last)} -> {format_time(self.next)} ({self.missing} bars, {self.kind})"


@dataclass
class GapReport:
    timeframe: str
    bars: int
    gaps: list[Gap] = field(default_factory=list)

    def count(self, kind: str | None = None) -> int:
        return sum(1 for g in self.gaps if kind is None or g.kind == kind)

    def missing(self, kind: str | None = None) -> int:
        return sum(g.missing for g in self.gaps if kind is None or g.kind == kind)

    def largest(self, k: int = 3) -> list[Gap]:
        return sorted(self.gaps, key=lambda g: (-(g.next - g.last), g.last))[:k]

    def summary(self) -> str:
        parts = ", ".join(f"{self.count(kind)} {kind} ({self.missing(kind)} bars)" for kind in KINDS)
        text = f"{self.bars} bars, {self.count()} gaps: {parts}"
        if self.gaps:
            text += "; largest: " + "; ".join(str(g) for g in self.largest())
        return text


def gap_report(times: np.ndarray, tf: Timeframe | str) -> GapReport:
    """times: (N,) int64 bar open times, increasing. MN1 compares calendar months; other timeframes seconds."""
    tf = timeframe(tf)
    t = np.asarray(times, dtype=np.int64)  # (N,)
    report = GapReport(timeframe=tf.name, bars=len(t))
    if len(t) < 2:
        return report
    if tf.monthly:
        months = t.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)  # (N,)
        steps = np.diff(months)  # (N-1,) in months
    else:
        steps = np.diff(t) // tf.seconds  # (N-1,) in bars
    for i in np.flatnonzero(steps > 1):
        last, nxt = int(t[i]), int(t[i + 1])
        report.gaps.append(Gap(last, nxt, int(steps[i]) - 1, _kind(last, nxt, tf)))
    return report


def _kind(last: int, nxt: int, tf: Timeframe) -> str:
    end_of_last = last + tf.seconds  # the gap starts when the last bar ends
    span = nxt - end_of_last
    if span < _DAY:
        return "intraday"
    # A weekend gap starts on Friday or Saturday and ends on Sunday or Monday (weekday 0 = Sunday; 1970-01-01 was a
    # Thursday); a Friday-to-Tuesday gap is a holiday, even though it holds a weekend.
    starts = (end_of_last // _DAY + 4) % 7
    ends = (nxt // _DAY + 4) % 7
    if starts in (5, 6) and ends in (0, 1) and span < 4 * _DAY:
        return "weekend"
    return "holiday"

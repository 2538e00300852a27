"""Bar checks: strictly increasing times, OHLC consistency, finite positive prices, non-negative whole volumes.

Two policies: "raise" stops with a DataError that lists the first offending rows with their file line numbers (or bar
times, for terminal data) and what is wrong; "drop" removes them, logs a warning and reports how many went. Live code
uses "drop" so one bad bar from the terminal never stops the daemon. Gaps are not errors (see gaps.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import ConfigError, DataError
from .bars import FIELDS, PRICE_FIELDS, RATES_DTYPE, empty_bars, format_time

POLICIES = ("raise", "drop")
log = logging.getLogger("mt5bridge.data")


@dataclass(frozen=True)
class Problem:
    row: int  # 0-based row in the input
    where: str  # "line 12", "row 12" or "bar 2020.01.03 10:00"
    what: str  # what is wrong, with the values

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class CheckResult:
    bars: np.ndarray  # (N,) RATES_DTYPE, the rows that passed
    bad: int = 0  # rows that failed (dropped under "drop")
    problems: list[Problem] = field(default_factory=list)  # the first few, in input order


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ConfigError(f"unknown bad-bar policy {policy!r}; use one of {POLICIES}")
    return policy


def check_bars(
    bars: np.ndarray, *, source: str, policy: str = "raise", max_report: int = 10
) -> CheckResult:
    """Check bars that are already RATES_DTYPE (terminal results, Parquet); problems are named by bar time."""
    bars = np.asarray(bars, dtype=RATES_DTYPE)
    columns = {name: bars[name] for name in FIELDS}
    return check_columns(columns, source=source, policy=policy, max_report=max_report, where="bar")


def check_columns(
    columns: Mapping[str, np.ndarray],
    *,
    source: str,
    policy: str = "raise",
    max_report: int = 10,
    where: str = "row",
    lines: np.ndarray | None = None,
    time_ok: np.ndarray | None = None,
    time_text: np.ndarray | None = None,
) -> CheckResult:
    """Check parsed columns (prices and volumes as float64 so NaN/negatives are visible) and build bars.

    columns: time (N,) int64 seconds, open/high/low/close/tick_volume/real_volume/spread (N,) numbers.
    lines: (N,) file line numbers, used in messages when given. time_ok: (N,) False where the time did not parse;
    time_text: (N,) the original time text, quoted in messages.
    """
    check_policy(policy)
    t = np.asarray(columns["time"], dtype=np.int64)  # (N,)
    n = len(t)
    row_ok = _row_checks(columns, n)
    if time_ok is not None:
        row_ok &= time_ok
    # Order is judged among rows that are otherwise good, against the newest good time seen before them.
    good = np.flatnonzero(row_ok)  # (G,)
    g = t[good]
    prev_max = np.maximum.accumulate(g)
    newer = np.ones(len(g), dtype=bool)
    newer[1:] = g[1:] > prev_max[:-1]
    holder = np.maximum.accumulate(np.where(newer, np.arange(len(g)), 0))  # index into good of the newest bar so far
    row_ok[good[~newer]] = False
    bad_rows = np.flatnonzero(~row_ok)

    def label(i: int) -> str:
        if lines is not None:
            return f"line {int(lines[i])}"
        if where == "bar" and (time_ok is None or time_ok[i]):
            return f"bar {format_time(t[i])}"
        return f"row {i}"

    previous = {int(good[k]): int(good[holder[k - 1]]) for k in np.flatnonzero(~newer)[:max_report] if k > 0}
    problems = [
        Problem(int(i), label(int(i)), _describe(columns, int(i), time_ok, time_text, previous, label))
        for i in bad_rows[:max_report]
    ]
    result = CheckResult(bars=_to_bars(columns, row_ok), bad=len(bad_rows), problems=problems)
    if len(bad_rows):
        listing = "\n  ".join(str(p) for p in problems)
        more = f"\n  ... and {len(bad_rows) - len(problems)} more" if len(bad_rows) > len(problems) else ""
        if policy == "raise":
            raise DataError(
                f"{source}: {len(bad_rows)} bad bar(s) of {n}:\n  {listing}{more}\n"
                "(fix the data, or use the 'drop' policy / --on-bad drop to skip such bars)"
            )
        log.warning("%s: dropped %d bad bar(s) of %d:\n  %s%s", source, len(bad_rows), n, listing, more)
    return result


def _row_checks(columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """(N,) bool: prices finite and > 0, high >= max(open, close), low <= min(open, close), volumes whole and >= 0."""
    o, h, lo, c = (np.asarray(columns[name], dtype=np.float64) for name in PRICE_FIELDS)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
        ok &= (o > 0) & (h > 0) & (lo > 0) & (c > 0)
        ok &= (h >= np.maximum(o, c)) & (lo <= np.minimum(o, c))
        for name in ("tick_volume", "real_volume", "spread"):
            if name in columns:
                v = np.asarray(columns[name], dtype=np.float64)
                ok &= np.isfinite(v) & (v == np.floor(v))
                if name != "spread":
                    ok &= v >= 0
    return ok


def _describe(columns, i, time_ok, time_text, previous, label) -> str:
    """Say what is wrong with row i (plain Python: only called for the few rows that are reported)."""
    if time_ok is not None and not time_ok[i]:
        text = time_text[i] if time_text is not None else "?"
        return f"cannot read the time {text!r}"
    value = {name: float(columns[name][i]) for name in columns if name != "time"}
    o, h, lo, c = (value[name] for name in PRICE_FIELDS)
    when = f" (bar {format_time(columns['time'][i])})"
    for name in PRICE_FIELDS:
        if not np.isfinite(value[name]):
            return f"{name} is missing or not a number{when}"
        if value[name] <= 0:
            return f"{name} {value[name]:g} is not a positive price{when}"
    if h < max(o, c):
        return f"high {h:g} < max(open, close) {max(o, c):g}{when}"
    if lo > min(o, c):
        return f"low {lo:g} > min(open, close) {min(o, c):g}{when}"
    for name in ("tick_volume", "real_volume", "spread"):
        if name in value:
            v = value[name]
            if not np.isfinite(v):
                return f"{name} is missing or not a number{when}"
            if v != np.floor(v):
                return f"{name} {v:g} is not a whole number{when}"
            if v < 0 and name != "spread":
                return f"{name} {v:g} is negative{when}"
    t = int(columns["time"][i])
    j = previous.get(i)
    if j is None:
        return f"time {format_time(t)} is not after the previous bar"
    t_prev = int(columns["time"][j])
    kind = "duplicate time" if t == t_prev else "time goes backwards"
    return f"{kind}: {format_time(t)} is not after {format_time(t_prev)} ({label(j)})"


def _to_bars(columns: Mapping[str, np.ndarray], keep: np.ndarray) -> np.ndarray:
    out = empty_bars(int(keep.sum()))
    for name in FIELDS:
        if name in columns:
            out[name] = np.asarray(columns[name])[keep]
    return out

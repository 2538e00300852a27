"""Timeframes by name (M1 ... MN1), their MetaTrader 5 constants and bar lengths.

The constant values are those of the official `MetaTrader5` package's `__init__.py` (5.0.6231); the adapter still
prefers the constant the loaded module itself exports, so this table only matters where no module is loaded (files,
replay, gap reports).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Timeframe:
    name: str  # "H1"
    code: int  # the MetaTrader5 TIMEFRAME_* value, e.g. 1 | 0x4000 for H1
    seconds: int  # nominal bar length; MN1 uses 30 days here, calendar months where it matters

    @property
    def monthly(self) -> bool:
        return self.name == "MN1"

    def __str__(self) -> str:
        return self.name


_MINUTE, _HOUR, _DAY = 60, 3600, 86400
TIMEFRAMES: dict[str, Timeframe] = {
    tf.name: tf
    for tf in (
        Timeframe("M1", 1, _MINUTE),
        Timeframe("M2", 2, 2 * _MINUTE),
        Timeframe("M3", 3, 3 * _MINUTE),
        Timeframe("M4", 4, 4 * _MINUTE),
        Timeframe("M5", 5, 5 * _MINUTE),
        Timeframe("M6", 6, 6 * _MINUTE),
        Timeframe("M10", 10, 10 * _MINUTE),
        Timeframe("M12", 12, 12 * _MINUTE),
        Timeframe("M15", 15, 15 * _MINUTE),
        Timeframe("M20", 20, 20 * _MINUTE),
        Timeframe("M30", 30, 30 * _MINUTE),
        Timeframe("H1", 1 | 0x4000, _HOUR),
        Timeframe("H2", 2 | 0x4000, 2 * _HOUR),
        Timeframe("H3", 3 | 0x4000, 3 * _HOUR),
        Timeframe("H4", 4 | 0x4000, 4 * _HOUR),
        Timeframe("H6", 6 | 0x4000, 6 * _HOUR),
        Timeframe("H8", 8 | 0x4000, 8 * _HOUR),
        Timeframe("H12", 12 | 0x4000, 12 * _HOUR),
        Timeframe("D1", 24 | 0x4000, _DAY),
        Timeframe("W1", 1 | 0x8000, 7 * _DAY),
        Timeframe("MN1", 1 | 0xC000, 30 * _DAY),
    )
}
_BY_CODE = {tf.code: tf for tf in TIMEFRAMES.values()}


def timeframe(value: str | int | Timeframe) -> Timeframe:
    """Look a timeframe up by name ("H1", "h1", "PERIOD_H1", "TIMEFRAME_H1") or by its MetaTrader5 constant."""
    if isinstance(value, Timeframe):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if int(value) in _BY_CODE:
            return _BY_CODE[int(value)]
        raise ConfigError(f"unknown MetaTrader 5 timeframe constant {value}; known: {sorted(_BY_CODE)}")
    name = str(value).strip().upper()
    for prefix in ("TIMEFRAME_", "PERIOD_"):
        name = name.removeprefix(prefix)
    if name in TIMEFRAMES:
        return TIMEFRAMES[name]
    raise ConfigError(f"unknown timeframe {value!r}; known timeframes: {', '.join(TIMEFRAMES)}")


def timeframe_name(code: int) -> str:
    """"H1" for 16385; the number itself for a constant MT5 does not define (shown, never an error)."""
    found = _BY_CODE.get(int(code))
    return found.name if found else str(code)


def bar_open_time(t: int, tf: Timeframe) -> int:
    """Open time of the bar that contains server time t (seconds). W1 bars open on Sunday 00:00, as in MT5."""
    t = int(t)
    if tf.monthly:
        month = np.datetime64(t, "s").astype("datetime64[M]")
        return int(month.astype("datetime64[s]").astype(np.int64))
    if tf.name == "W1":
        sunday = 3 * _DAY  # 1970-01-04 was a Sunday
        return t - (t - sunday) % tf.seconds
    return t - t % tf.seconds


def next_bar_time(t: int, tf: Timeframe) -> int:
    """Open time of the bar after the one that opens at t (calendar months for MN1)."""
    if tf.monthly:
        month = np.datetime64(int(t), "s").astype("datetime64[M]") + 1
        return int(month.astype("datetime64[s]").astype(np.int64))
    return int(t) + tf.seconds


def infer_timeframe(times: np.ndarray) -> Timeframe | None:
    """The timeframe of a bar series from its spacing: the most common gap between consecutive bars (sessions,
    weekends and holidays make longer gaps, never more frequent ones). None when it fits no MT5 timeframe or the
    series has fewer than 2 bars. MN1 is any most-common gap of 28-31 days."""
    gaps = np.diff(np.asarray(times, np.int64))
    gaps = gaps[gaps > 0]
    if len(gaps) == 0:
        return None
    values, counts = np.unique(gaps, return_counts=True)
    step = int(values[np.argmax(counts)])
    if 28 * _DAY <= step <= 31 * _DAY:
        return TIMEFRAMES["MN1"]
    return next((tf for tf in TIMEFRAMES.values() if tf.seconds == step and not tf.monthly), None)

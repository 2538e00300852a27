"""The bar model: MetaTrader 5's own rate record, as one numpy structured dtype, plus pandas conversions.

`RATES_DTYPE` is field for field what `MetaTrader5.copy_rates_*` returns (a packed record of 60 bytes):
time is the bar's open time in the broker's server time, as MT5 reports it (seconds since 1970 on the server's
wall clock, no time zone), prices are float64, volumes uint64, spread int32 (points).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

RATES_DTYPE = np.dtype(
    [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<u8"),
        ("spread", "<i4"),
        ("real_volume", "<u8"),
    ]
)
FIELDS: tuple[str, ...] = RATES_DTYPE.names
PRICE_FIELDS = ("open", "high", "low", "close")
VOLUME_FIELDS = ("tick_volume", "real_volume")
_EPOCH = dt.datetime(1970, 1, 1)  # naive: server time has no zone


def empty_bars(n: int = 0) -> np.ndarray:
    """Zeroed bars, shape (n,), RATES_DTYPE."""
    return np.zeros(n, dtype=RATES_DTYPE)


def as_bars(data: np.ndarray) -> np.ndarray:
    """Copy any structured array with MT5's field names into RATES_DTYPE (by name, so field order may differ)."""
    data = np.asarray(data)
    if data.dtype == RATES_DTYPE:
        return data.copy()
    missing = [name for name in FIELDS if data.dtype.names is None or name not in data.dtype.names]
    if missing:
        raise DataError(f"bars lack field(s) {missing}; got {data.dtype}")
    out = empty_bars(len(data))
    for name in FIELDS:
        out[name] = data[name]
    return out


def to_frame(bars: np.ndarray, *, datetime_time: bool = True) -> pd.DataFrame:
    """(N,) bars -> DataFrame with the same columns; `time` as naive datetime64[s] (server time) or int64 seconds."""
    bars = np.asarray(bars, dtype=RATES_DTYPE)
    frame = pd.DataFrame({name: bars[name] for name in FIELDS})
    if datetime_time:
        frame["time"] = bars["time"].astype("datetime64[s]")
    return frame


def from_frame(frame: pd.DataFrame) -> np.ndarray:
    """DataFrame with MT5 columns -> (N,) bars. `time` may be int seconds or datetime64 of any unit.

    A time-zone-aware `time` keeps its wall clock (server time has no zone; MT5 reports wall-clock seconds).
    Missing `spread` / `real_volume` / `tick_volume` become 0; missing time or prices raise DataError.
    """
    missing = [name for name in ("time", *PRICE_FIELDS) if name not in frame.columns]
    if missing:
        raise DataError(f"frame lacks column(s) {missing}; columns are {list(frame.columns)}")
    out = empty_bars(len(frame))
    out["time"] = times_to_seconds(frame["time"])
    for name in FIELDS[1:]:
        if name in frame.columns:
            out[name] = frame[name].to_numpy()
    return out


def times_to_seconds(values: pd.Series | np.ndarray) -> np.ndarray:
    """int seconds or datetimes (any unit, naive or aware: wall clock kept) -> (N,) int64 seconds."""
    series = pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.to_numpy().astype("datetime64[s]").astype(np.int64)
    return series.to_numpy().astype(np.int64)


def concat_new(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """old followed by the bars of new that are strictly newer than old's last bar; both (N,) RATES_DTYPE."""
    if len(old) and len(new):
        new = new[new["time"] > old["time"][-1]]
    return np.concatenate([np.asarray(old, RATES_DTYPE), np.asarray(new, RATES_DTYPE)])


def format_time(t: int | np.integer) -> str:
    """Server-time seconds -> 'YYYY.MM.DD HH:MM' (MT5's own notation)."""
    try:
        return (_EPOCH + dt.timedelta(seconds=int(t))).strftime("%Y.%m.%d %H:%M")
    except OverflowError:  # outside what datetime holds: show the number rather than fail on a message
        return f"{int(t)} s"


def parse_time(text: str) -> int:
    """'2020-01-31', '2020.01.31', '2020-01-31 10:00', '2020-01-31T10:00:00' -> server-time seconds."""
    cleaned = text.strip().replace(".", "-").replace("T", " ")
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            when = dt.datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        return int((when - _EPOCH).total_seconds())
    raise ConfigError(f"cannot read date {text!r}; use YYYY-MM-DD or 'YYYY-MM-DD HH:MM' (server time)")

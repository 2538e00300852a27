"""The market built-ins the twins of OnnxFeatures.mqh and OnnxEncoder.mqh call (tests only): the chart's bars,
MetaTrader's indicators and calendar time, with the same model as the C++ runtime's (tests/mql5check/
mql5_runtime_market.h), unkind parts included (the ONNX functions are in onnx_runtime.py):
- the newest visible bar is still forming: partial OHLC (open = high = low = close, one tick) and indicator values
  computed on that partial bar, as a terminal shows them mid-bar;
- CopyRates / CopyBuffer count from the present (start_pos 0 = the forming bar) and return the oldest element
  first (MQL5 Reference, CopyRates, CopyBuffer); a request past the oldest bar returns what exists, one wholly
  outside the chart -1;
- indicator values are mt5bridge.features.indicators' over the whole chart, 0.0 before their first value (what
  MetaQuotes' RSI.mq5, ATR.mq5, CCI.mq5, MACD.mq5 write there); BarsCalculated returns -1 and CopyBuffer fails with
  ERR_INDICATOR_DATA_NOT_FOUND, each for its first INDICATOR_WAIT calls after a handle is created, counted apart (the
  terminal computes in the background; the MQL5 book's "BarsCalculated" gives -1 on an error, 0 before anything is
  calculated).

`market_data(bars)` computes what a terminal shows; `write_market` writes it for the compiled code
(program_main.cpp `market`). The twin and the compiled code read the very same numbers.
"""

from __future__ import annotations

import copy
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mt5bridge.features import indicators as ind
from mt5bridge.features.sets import get_feature_set

from . import mql5, onnx_runtime

INVALID_HANDLE = -1
PERIOD_CURRENT = 0
PRICE_CLOSE, PRICE_TYPICAL = 1, 6
MAIN_LINE, SIGNAL_LINE = 0, 1

ERR_HISTORY_NOT_FOUND = 4401
ERR_INDICATOR_CANNOT_CREATE = 4802
ERR_INDICATOR_DATA_NOT_FOUND = 4806
ERR_INDICATOR_WRONG_HANDLE = 4807
ERR_INDICATOR_WRONG_INDEX = 4812
ERR_SMALL_ARRAY = 5052

INDICATOR_WAIT = 1  # calls after a handle's creation that find its data not calculated yet
SYMBOL, PERIOD, PERIOD_SECONDS = "XAUUSD", 16385, 3600  # the chart (set by `load`)
VALUES = ("rsi", "cci", "atr", "macd_main", "macd_signal")  # buffer 0 of each indicator; MACD's 1 is the signal


@dataclass
class MqlRates:
    time: int = 0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    tick_volume: int = 0
    spread: int = 0
    real_volume: int = 0


@dataclass
class MqlDateTime:
    year: int = 0
    mon: int = 0
    day: int = 0
    hour: int = 0
    min: int = 0
    sec: int = 0
    day_of_week: int = 0
    day_of_year: int = 0


@dataclass
class MarketData:
    bars: np.ndarray  # (N,) RATES_DTYPE, closed
    values: np.ndarray  # (N, 5) float64 indicator values at the closed bars (NaN before the first)
    forming: np.ndarray  # (N,) RATES_DTYPE: each bar while it was the newest (partial)
    forming_values: np.ndarray  # (N, 5) the indicators on that partial bar


def market_data(bars: np.ndarray) -> MarketData:
    """What a terminal shows of `bars` (RATES_DTYPE): the indicators over the whole series from its first bar, and
    each bar as it looked while forming (one tick: its open), with the indicators computed on that partial bar."""
    o, h, lo, c = (np.asarray(bars[k], np.float64) for k in ("open", "high", "low", "close"))
    values = np.column_stack([ind.rsi(c), ind.cci(h, lo, c), ind.atr(h, lo, c), *ind.macd(c)])  # (N, 5)
    forming = bars.copy()
    for k in ("high", "low", "close"):
        forming[k] = forming["open"]
    forming["tick_volume"], forming["spread"], forming["real_volume"] = 1, 0, 0
    stream = get_feature_set("mt5-v1").stream()  # its slots 7-11 are the raw indicators, as MT5 computes them
    forming_values = np.empty_like(values)
    for k in range(len(bars)):
        forming_values[k] = copy.deepcopy(stream).update(forming[k])[7:]
        stream.update(bars[k])
    return MarketData(bars, values, forming, forming_values)


def write_market(path: Path, data: MarketData) -> Path:
    """The file program_main.cpp's `market` command reads: "MQL5MKT1", the bar count, then 23 little-endian 8-byte
    fields a bar (mql5_runtime_market.h, LoadMarket)."""
    records = []
    for k in range(len(data.bars)):
        b, f = data.bars[k], data.forming[k]
        records.append(struct.pack("<q4d3q5d4dq5d", int(b["time"]), *(float(b[x]) for x in ("open", "high", "low",
                                                                                               "close")),
                                   int(b["tick_volume"]), int(b["spread"]), int(b["real_volume"]), *data.values[k],
                                   *(float(f[x]) for x in ("open", "high", "low", "close")), int(f["tick_volume"]),
                                   *data.forming_values[k]))
    path.write_bytes(b"MQL5MKT1" + struct.pack("<q", len(records)) + b"".join(records))
    return path


# --- the chart

_data: MarketData | None = None
_visible = 0
_indicators: dict[int, list] = {}  # handle -> [first value column, buffers, BarsCalculated, CopyBuffer waits]
_next_indicator = 10


def load(data: MarketData, visible: int, symbol: str = "XAUUSD", period: int = 16385, seconds: int = 3600) -> None:
    """A fresh terminal showing the first `visible` bars of `data` (the last one forming)."""
    global _data, _visible, SYMBOL, PERIOD, PERIOD_SECONDS
    reset()
    _data, _visible, SYMBOL, PERIOD, PERIOD_SECONDS = data, visible, symbol, period, seconds


def advance(n: int) -> None:
    """n more bars appear: the forming bar closes, the last new one forms."""
    global _visible
    if _data is None or _visible + n > len(_data.bars):
        raise IndexError("the history has no more bars to reveal")
    _visible += n


def reset() -> None:
    """No chart, no indicator (and no ONNX session: onnx_runtime.reset)."""
    global _data, _visible, _next_indicator, INDICATOR_WAIT
    _data, _visible, _next_indicator, INDICATOR_WAIT = None, 0, 10, 1
    _indicators.clear()
    onnx_runtime.reset()


def _chart_is(symbol: str, timeframe: int) -> bool:
    return symbol == SYMBOL and timeframe in (PERIOD_CURRENT, PERIOD)


def _series_range(start_pos: int, count: int) -> tuple[int, int] | None:
    """(first chart position, copied) of `count` series positions from start_pos, None when wholly outside."""
    if _data is None or start_pos < 0 or count <= 0 or start_pos >= _visible:
        return None
    copied = min(count, _visible - start_pos)
    return _visible - start_pos - copied, copied


def _rates(k: int) -> MqlRates:
    b = _data.forming[k] if k == _visible - 1 else _data.bars[k]
    return MqlRates(int(b["time"]), float(b["open"]), float(b["high"]), float(b["low"]), float(b["close"]),
                    int(b["tick_volume"]), int(b["spread"]), int(b["real_volume"]))


def Bars(symbol: str, timeframe: int) -> int:
    return _visible if _chart_is(symbol, timeframe) else 0


def PeriodSeconds(period: int = PERIOD_CURRENT) -> int:
    return PERIOD_SECONDS


def iTime(symbol: str, timeframe: int, shift: int) -> int:
    if not _chart_is(symbol, timeframe) or shift < 0 or shift >= _visible:
        return 0
    return int(_data.bars["time"][_visible - 1 - shift])


def iBarShift(symbol: str, timeframe: int, time: int, exact: bool = False) -> int:
    times = _data.bars["time"][:_visible]
    i = int(np.searchsorted(times, time, side="right")) - 1
    if i < 0 or (exact and time >= int(times[i]) + PERIOD_SECONDS):
        return -1
    return _visible - 1 - i


def CopyRates(symbol: str, timeframe: int, start_pos: int, count: int, rates_array: list) -> int:
    span = _series_range(start_pos, count) if _chart_is(symbol, timeframe) else None
    if span is None:
        mql5._error(ERR_HISTORY_NOT_FOUND)
        return -1
    first, copied = span
    rates_array[:] = [_rates(first + k) for k in range(copied)]  # the oldest first
    return copied


def _create(symbol: str, period: int, supported: bool, column: int, buffers: int) -> int:
    global _next_indicator
    if not _chart_is(symbol, period) or not supported:
        mql5._error(ERR_INDICATOR_CANNOT_CREATE)
        return INVALID_HANDLE
    handle = _next_indicator
    _next_indicator += 1
    _indicators[handle] = [column, buffers, INDICATOR_WAIT, INDICATOR_WAIT]
    return handle


def iRSI(symbol: str, period: int, ma_period: int, applied_price: int) -> int:
    return _create(symbol, period, ma_period == 14 and applied_price == PRICE_CLOSE, 0, 1)


def iCCI(symbol: str, period: int, ma_period: int, applied_price: int) -> int:
    return _create(symbol, period, ma_period == 14 and applied_price == PRICE_TYPICAL, 1, 1)


def iATR(symbol: str, period: int, ma_period: int) -> int:
    return _create(symbol, period, ma_period == 14, 2, 1)


def iMACD(symbol: str, period: int, fast: int, slow: int, signal: int, applied_price: int) -> int:
    return _create(symbol, period, (fast, slow, signal, applied_price) == (12, 26, 9, PRICE_CLOSE), 3, 2)


def _calculated(handle: int, copy: bool) -> list | None:
    indicator = _indicators.get(handle)
    if indicator is None:
        mql5._error(ERR_INDICATOR_WRONG_HANDLE)
        return None
    wait = 3 if copy else 2
    if indicator[wait] > 0:
        indicator[wait] -= 1
        mql5._error(ERR_INDICATOR_DATA_NOT_FOUND)
        return None
    return indicator


def BarsCalculated(indicator_handle: int) -> int:
    return -1 if _calculated(indicator_handle, False) is None else _visible


def CopyBuffer(indicator_handle: int, buffer_num: int, start_pos: int, count: int, buffer: list) -> int:
    indicator = _calculated(indicator_handle, True)
    if indicator is None:
        return -1
    if not 0 <= buffer_num < indicator[1]:
        mql5._error(ERR_INDICATOR_WRONG_INDEX)
        return -1
    span = _series_range(start_pos, count)
    if span is None:
        mql5._error(ERR_INDICATOR_DATA_NOT_FOUND)
        return -1
    first, copied = span
    column = indicator[0] + buffer_num
    out = []
    for k in range(first, first + copied):
        v = float((_data.forming_values if k == _visible - 1 else _data.values)[k, column])
        out.append(0.0 if math.isnan(v) else v)
    buffer[:] = out
    return copied


def IndicatorRelease(indicator_handle: int) -> bool:
    if _indicators.pop(indicator_handle, None) is None:
        mql5._error(ERR_INDICATOR_WRONG_HANDLE)
        return False
    return True


def TimeToStruct(dt: int, dt_struct: MqlDateTime) -> bool:
    days = dt // 86400
    civil = np.datetime64(dt, "s").astype(object)  # a datetime.datetime
    dt_struct.year, dt_struct.mon, dt_struct.day = civil.year, civil.month, civil.day
    dt_struct.hour, dt_struct.min, dt_struct.sec = civil.hour, civil.minute, civil.second
    dt_struct.day_of_week = (days + 4) % 7  # 1970-01-01 was a Thursday; 0 = Sunday
    dt_struct.day_of_year = civil.timetuple().tm_yday - 1
    return True


def MathLog(value: float) -> float:
    return math.log(value)


def MathMax(a, b):
    return a if a > b else b


def ArrayInitialize(array: list, value) -> int:
    array[:] = [type(value)(value)] * len(array)
    return len(array)

"""Batch indicators, computed the way MetaQuotes' own sources do (RSI.mq5, CCI.mq5, ATR.mq5, MACD.mq5,
MovingAverages.mqh), including their order of floating-point operations, so the values match the terminal's and the
streaming path (streaming.py) bit for bit.

Arrays are (N,) float64 over bars 0..N-1 (bar 0 = the first bar of the series). Values before an indicator's first
valid bar are NaN. Windowed sums are vectorised; the exponential recurrences (RSI's Wilder smoothing, the EMAs) are
inherently sequential and run as tight scalar loops (about 0.02 s per 100k bars each), which keeps MT5's exact
formula instead of an algebraically equal one that rounds differently.
"""

from __future__ import annotations

import numpy as np

RSI_PERIOD = CCI_PERIOD = ATR_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
CCI_FACTOR = 0.015


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _seq_sum(values) -> float:
    """Left-to-right sum from 0.0, as MQL's `sum += x` loops (np.sum adds pairwise, which rounds differently)."""
    total = 0.0
    for v in values:
        total += v
    return total


def rsi(close: np.ndarray, period: int = RSI_PERIOD) -> np.ndarray:
    """RSI.mq5: simple means of gains/losses over bars 1..period, then U = (U*(period-1) + gain)/period."""
    close = np.asarray(close, dtype=np.float64)  # (N,)
    n = len(close)
    out = _nan(n)
    if n <= period:
        return out
    diff = close[1:] - close[:-1]  # (N-1,) diff[i-1] belongs to bar i
    gain = np.where(diff > 0.0, diff, 0.0).tolist()
    loss = np.where(diff < 0.0, -diff, 0.0).tolist()
    up = _wilder(gain, _seq_sum(gain[:period]) / period, period)  # (N-period,) bars period..N-1
    down = _wilder(loss, _seq_sum(loss[:period]) / period, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - (100.0 / (1.0 + up / down))
    out[period:] = np.where(down != 0.0, value, np.where(up != 0.0, 100.0, 50.0))
    return out


def _wilder(values: list[float], seed: float, period: int) -> np.ndarray:
    out = [seed]
    u, keep = seed, period - 1
    for v in values[period:]:
        u = (u * keep + v) / period
        out.append(u)
    return np.array(out)


def cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = CCI_PERIOD) -> np.ndarray:
    """CCI.mq5 on the typical price: (TP - SMA) / (sum|TP_j - SMA| * 0.015/period); 0 when the deviation is 0."""
    tp = (np.asarray(high, np.float64) + low + close) / 3.0  # (N,) typical price
    n = len(tp)
    out = _nan(n)
    if n < period:
        return out
    windows = [tp[period - 1 - j : n - j] for j in range(period)]  # windows[j][k] = tp[k + period-1 - j]
    total = windows[0].copy()  # SimpleMA adds newest to oldest
    for w in windows[1:]:
        total += w
    sma = total / period  # (N-period+1,)
    dev = np.abs(windows[0] - sma)
    for w in windows[1:]:
        dev += np.abs(w - sma)
    d = dev * (CCI_FACTOR / period)
    m = windows[0] - sma
    with np.errstate(divide="ignore", invalid="ignore"):
        out[period - 1 :] = np.where(d != 0.0, m / d, 0.0)
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """ATR.mq5's TR: TR_0 = 0, TR_i = max(H_i, C_(i-1)) - min(L_i, C_(i-1)). (N,)"""
    tr = np.zeros(len(close))
    prev = np.asarray(close, np.float64)[:-1]
    tr[1:] = np.maximum(high[1:], prev) - np.minimum(low[1:], prev)
    return tr


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ATR_PERIOD) -> np.ndarray:
    """ATR.mq5: simple mean of TR_1..TR_period at bar `period`, then the running sum
    ATR += (TR_i - TR_(i-period)) / period."""
    tr = true_range(np.asarray(high, np.float64), np.asarray(low, np.float64), np.asarray(close, np.float64))
    return _running_mean(tr, period, begin=1)


def _running_mean(x: np.ndarray, period: int, begin: int) -> np.ndarray:
    """MT5's SimpleMAOnBuffer: first value at begin+period-1 from a left-to-right sum, then a running update.
    np.cumsum adds sequentially, so it reproduces `buf[i] = buf[i-1] + (x[i] - x[i-period]) / period` exactly."""
    n = len(x)
    out = _nan(n)
    first = begin + period - 1
    if n <= first:
        return out
    steps = np.empty(n - first)  # (N-first,)
    steps[0] = _seq_sum(x[begin : first + 1].tolist()) / period
    steps[1:] = (x[first + 1 :] - x[begin : n - period]) / period
    out[first:] = np.cumsum(steps)
    return out


def ema(price: np.ndarray, period: int) -> np.ndarray:
    """MovingAverages.mqh ExponentialMA seeded with the first price:
    y_0 = p_0, y_i = p_i*a + y_(i-1)*(1-a), a = 2/(n+1)."""
    price = np.asarray(price, dtype=np.float64)
    if not len(price):
        return price.copy()
    pr = 2.0 / (period + 1.0)
    keep = 1 - pr
    values = price.tolist()
    y = values[0]
    out = [y]
    for p in values[1:]:
        y = p * pr + y * keep
        out.append(y)
    return np.array(out)


def macd(close: np.ndarray, fast: int = MACD_FAST, slow: int = MACD_SLOW, signal: int = MACD_SIGNAL):
    """MACD.mq5: main = EMA(fast) - EMA(slow) from bar 0; signal = simple mean of the last `signal` mains (running sum),
    from bar signal-1. Returns (main, signal), each (N,)."""
    main = ema(close, fast) - ema(close, slow)
    return main, _running_mean(main, signal, begin=0)


def time_features(times: np.ndarray) -> np.ndarray:
    """(N,) server-time seconds -> (N, 3) float64: hour 0-23, day of week (0 = Sunday), month 1-12."""
    t = np.asarray(times, dtype=np.int64)
    out = np.empty((len(t), 3))
    days = t // 86400
    out[:, 0] = (t - days * 86400) // 3600
    out[:, 1] = (days + 4) % 7  # 1970-01-01 was a Thursday (4)
    out[:, 2] = t.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    return out


def log_volume_ratio(volume: np.ndarray, window: int) -> np.ndarray:
    """log((v + 1) / (median of the last `window` volumes, this bar included, + 1)); NaN before bar window-1."""
    import pandas as pd

    v = np.asarray(volume, dtype=np.float64)  # (N,)
    median = pd.Series(v).rolling(window, min_periods=window).median().to_numpy()
    with np.errstate(invalid="ignore"):
        return np.log((v + 1.0) / (median + 1.0))

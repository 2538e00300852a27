"""Streaming features: one state per symbol and timeframe, updated with one closed bar at a time.

Every step repeats the batch path's arithmetic in the same order (indicators.py), so streaming and batch agree bit
for bit (the logs in robust-v1 and scale-free-v1 may differ in the last bit between numpy's vector and scalar
loops). The state is plain data: `to_dict()` gives JSON-ready dicts and lists (no pickle), `FeatureSet.restore(state)`
continues from it.
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Any, Mapping

import numpy as np

from ..errors import DataError, ModelFileError
from ..data.bars import format_time
from . import indicators as ind
from .sets import F, FeatureSet, rescale_by_atr

STATE_VERSION = 1
_P_RSI, _P_CCI, _P_ATR = ind.RSI_PERIOD, ind.CCI_PERIOD, ind.ATR_PERIOD
_FAST_A = 2.0 / (ind.MACD_FAST + 1.0)
_SLOW_A = 2.0 / (ind.MACD_SLOW + 1.0)
_NAN = float("nan")


class FeatureStream:
    """Feed closed bars in time order with `update(bar)`; each call returns that bar's (F,) feature row."""

    def __init__(self, feature_set: FeatureSet):
        self.feature_set = feature_set
        self.n = 0  # bars seen; the next bar has index n
        self.last_time: int | None = None
        self.prev_close = 0.0
        self.rsi = [0.0, 0.0, 0.0, 0.0]  # seed sums of gains and losses, then U and D
        self.tp: deque[float] = deque(maxlen=_P_CCI)  # last typical prices
        self.tr: deque[float] = deque(maxlen=_P_ATR)  # last true ranges (TR_1 onwards)
        self.atr = [0.0, _NAN]  # seed sum, value
        self.ema = [0.0, 0.0]  # fast, slow
        self.main: deque[float] = deque(maxlen=ind.MACD_SIGNAL)  # last MACD mains
        self.signal = [0.0, _NAN]  # seed sum, value
        self.volumes: deque[float] = deque(maxlen=max(feature_set.volume_window, 1))
        self._sorted: list[float] = []  # the same volumes, sorted, for the rolling median

    @property
    def ready(self) -> bool:
        """True once all 12 values are defined (bar index >= first_valid)."""
        return self.n > self.feature_set.first_valid

    def update(self, bar: Any) -> np.ndarray:
        """bar: a RATES_DTYPE record or any mapping with time/open/high/low/close/tick_volume. Returns (F,) float64."""
        t = int(bar["time"])
        if self.last_time is not None and t <= self.last_time:
            raise DataError(f"bar {format_time(t)} is not after the last bar fed ({format_time(self.last_time)})")
        o, h, lo, c = (float(bar[name]) for name in ("open", "high", "low", "close"))
        volume = float(bar["tick_volume"])
        i = self.n
        row = np.full(F, np.nan)  # (F,)
        row[0], row[1], row[2] = c - o, h - o, lo - o
        row[3] = volume / 1000.0 if self.feature_set.volume == "per_1000" else self._volume_ratio(volume)
        row[4:7] = ind.time_features(np.array([t]))[0]
        row[7] = self._rsi(i, c)
        row[8] = self._cci(i, (h + lo + c) / 3.0)
        row[9] = self._atr(i, h, lo, c)
        row[10], row[11] = self._macd(i, c)
        if self.feature_set.scale == "atr":
            rescale_by_atr(row[None], np.array([c]))  # the batch path's code on one row: the same rounding
        self.prev_close, self.last_time, self.n = c, t, i + 1
        return row

    def update_many(self, bars: np.ndarray) -> np.ndarray:
        """(N,) bars -> (N, F)."""
        out = np.empty((len(bars), F))
        for k in range(len(bars)):
            out[k] = self.update(bars[k])
        return out

    def _rsi(self, i: int, c: float) -> float:
        if i == 0:
            return _NAN
        s = self.rsi
        diff = c - self.prev_close
        gain = diff if diff > 0.0 else 0.0
        loss = -diff if diff < 0.0 else 0.0
        if i < _P_RSI:
            s[0] += gain
            s[1] += loss
            return _NAN
        if i == _P_RSI:
            s[0] += gain
            s[1] += loss
            s[2], s[3] = s[0] / _P_RSI, s[1] / _P_RSI
        else:
            s[2] = (s[2] * (_P_RSI - 1) + gain) / _P_RSI
            s[3] = (s[3] * (_P_RSI - 1) + loss) / _P_RSI
        up, down = s[2], s[3]
        if down != 0.0:
            return 100.0 - (100.0 / (1.0 + up / down))
        return 100.0 if up != 0.0 else 50.0

    def _cci(self, i: int, tp: float) -> float:
        self.tp.append(tp)
        if i < _P_CCI - 1:
            return _NAN
        newest_first = list(reversed(self.tp))
        total = 0.0
        for x in newest_first:
            total += x
        sma = total / _P_CCI
        dev = 0.0
        for x in newest_first:
            dev += abs(x - sma)
        d = dev * (ind.CCI_FACTOR / _P_CCI)
        return (tp - sma) / d if d != 0.0 else 0.0

    def _atr(self, i: int, h: float, lo: float, c: float) -> float:
        if i == 0:
            return _NAN
        prev = self.prev_close
        tr = max(h, prev) - min(lo, prev)
        if i <= _P_ATR:
            self.atr[0] += tr
            if i == _P_ATR:
                self.atr[1] = self.atr[0] / _P_ATR
        else:
            self.atr[1] = self.atr[1] + (tr - self.tr[0]) / _P_ATR
        self.tr.append(tr)
        return self.atr[1] if i >= _P_ATR else _NAN

    def _macd(self, i: int, c: float) -> tuple[float, float]:
        if i == 0:
            self.ema = [c, c]
        else:
            self.ema[0] = c * _FAST_A + self.ema[0] * (1 - _FAST_A)
            self.ema[1] = c * _SLOW_A + self.ema[1] * (1 - _SLOW_A)
        main = self.ema[0] - self.ema[1]
        p = ind.MACD_SIGNAL
        if i < p:
            self.signal[0] += main
            if i == p - 1:
                self.signal[1] = self.signal[0] / p
        else:
            self.signal[1] = self.signal[1] + (main - self.main[0]) / p
        self.main.append(main)
        return main, (self.signal[1] if i >= p - 1 else _NAN)

    def _volume_ratio(self, volume: float) -> float:
        window = self.feature_set.volume_window
        if len(self.volumes) == window:
            del self._sorted[bisect.bisect_left(self._sorted, self.volumes[0])]
        self.volumes.append(volume)
        bisect.insort(self._sorted, volume)
        if len(self._sorted) < window:
            return _NAN
        mid = window // 2
        median = self._sorted[mid] if window % 2 else (self._sorted[mid - 1] + self._sorted[mid]) / 2
        return float(np.log(np.array([(volume + 1.0) / (median + 1.0)]))[0])

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (floats round-trip exactly through json; NaN is stored as None)."""
        return {
            "feature_set": self.feature_set.id,
            "version": STATE_VERSION,
            "n": self.n,
            "last_time": self.last_time,
            "prev_close": self.prev_close,
            "rsi": list(self.rsi),
            "tp": list(self.tp),
            "tr": list(self.tr),
            "atr": [_none(v) for v in self.atr],
            "ema": list(self.ema),
            "main": list(self.main),
            "signal": [_none(v) for v in self.signal],
            "volumes": list(self.volumes) if self.feature_set.volume_window else [],
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], feature_set: FeatureSet) -> "FeatureStream":
        if state.get("feature_set") != feature_set.id or state.get("version") != STATE_VERSION:
            raise ModelFileError(
                f"feature state is for {state.get('feature_set')!r} v{state.get('version')}, "
                f"expected {feature_set.id!r} v{STATE_VERSION}"
            )
        try:
            self = cls(feature_set)
            self.n, self.last_time, self.prev_close = int(state["n"]), state["last_time"], float(state["prev_close"])
            self.rsi = [float(v) for v in state["rsi"]]
            self.tp.extend(float(v) for v in state["tp"])
            self.tr.extend(float(v) for v in state["tr"])
            self.atr = [_nan(v) for v in state["atr"]]
            self.ema = [float(v) for v in state["ema"]]
            self.main.extend(float(v) for v in state["main"])
            self.signal = [_nan(v) for v in state["signal"]]
            self.volumes.extend(float(v) for v in state["volumes"])
            self._sorted = sorted(self.volumes)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"feature state is damaged: {exc!r}") from None
        return self


def _none(v: float) -> float | None:
    return None if v != v else v


def _nan(v: float | None) -> float:
    return _NAN if v is None else float(v)

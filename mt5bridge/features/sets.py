"""Feature sets: the 12 per-bar features of the seed's Expert Advisors ("mt5-v1"), a variant whose volume slot is
scale-free ("robust-v1"), and the default, whose every slot is free of the instrument's price scale ("scale-free-v1":
bar shapes and MACD in units of ATR14, ATR relative to the close). A set's id goes into the model file, so a model is
never fed features it was not trained on. docs/FEATURES.md has every formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..errors import ConfigError
from . import indicators as ind

if TYPE_CHECKING:
    from .streaming import FeatureStream

F = 12  # features per bar
_COMMON_HEAD = ("close_open", "high_open", "low_open")
_COMMON_TAIL = ("hour", "day_of_week", "month", "rsi14", "cci14", "atr14", "macd_main", "macd_signal")
ROBUST_VOLUME_WINDOW = 500  # bars; about a month of H1, so the median follows the feed's volume scale
# scale-free-v1 divides by max(ATR14, ATR_FLOOR * close): a market without any range for 14 bars (a frozen feed, a
# suspended symbol) gives finite values instead of 0/0. 1e-7 of the price is far below any traded instrument's H1 ATR
# (EURUSD 2000-2021: 3.5e-4 of the price at the 0.1% quantile; XAUUSD: 8e-4).
ATR_FLOOR = 1e-7


@dataclass(frozen=True)
class FeatureSet:
    id: str  # stable id stored in model files
    names: tuple[str, ...]  # the 12 column names, in order
    volume: str  # "per_1000": tick_volume / 1000; "log_median_ratio": log((v+1)/(rolling median+1))
    volume_window: int  # bars in the rolling median (log_median_ratio only; 0 otherwise)
    scale: str  # "price": slots 0-2, 9-11 in price units; "atr": in units of ATR14, and slot 9 = log(ATR14 / close)
    first_valid: int  # first bar (0-based from the series start) at which all 12 values are defined
    warmup: int  # bars to drop before using features, so the RSI/EMA seeds have faded (>= first_valid)
    description: str

    def compute(self, bars: np.ndarray) -> np.ndarray:
        """Batch path: (N,) bars (RATES_DTYPE) -> (N, F) float64; rows before a value's first valid bar hold NaN."""
        o, h, lo, c = (np.asarray(bars[name], dtype=np.float64) for name in ("open", "high", "low", "close"))
        volume = np.asarray(bars["tick_volume"], dtype=np.float64)
        out = np.empty((len(o), F))  # (N, F)
        out[:, 0] = c - o
        out[:, 1] = h - o
        out[:, 2] = lo - o
        out[:, 3] = volume / 1000.0 if self.volume == "per_1000" else ind.log_volume_ratio(volume, self.volume_window)
        out[:, 4:7] = ind.time_features(bars["time"])
        out[:, 7] = ind.rsi(c)
        out[:, 8] = ind.cci(h, lo, c)
        out[:, 9] = ind.atr(h, lo, c)
        out[:, 10], out[:, 11] = ind.macd(c)
        if self.scale == "atr":
            rescale_by_atr(out, c)
        return out

    def stream(self) -> "FeatureStream":
        """A fresh streaming state for one symbol and timeframe (see streaming.py)."""
        from .streaming import FeatureStream

        return FeatureStream(self)

    def restore(self, state: Mapping[str, Any]) -> "FeatureStream":
        """A streaming state from `FeatureStream.to_dict()` output (plain JSON data)."""
        from .streaming import FeatureStream

        return FeatureStream.from_dict(state, self)


def rescale_by_atr(rows: np.ndarray, close: np.ndarray) -> None:
    """In place, (N, F) price-unit rows and (N,) closes -> scale-free-v1 rows. The one implementation of the batch
    and the streaming path (streaming passes N = 1), so both round alike. NaN ATR (warm-up) stays NaN."""
    unit = np.maximum(rows[:, 9], ATR_FLOOR * close)  # (N,) ATR14, floored; np.maximum keeps NaN
    for k in (0, 1, 2, 10, 11):
        rows[:, k] = rows[:, k] / unit
    rows[:, 9] = np.log(unit / close)


_MT5 = FeatureSet(
    id="mt5-v1",
    names=(*_COMMON_HEAD, "tick_volume_k", *_COMMON_TAIL),
    volume="per_1000",
    volume_window=0,
    scale="price",
    first_valid=14,
    warmup=500,
    description="the seed EAs' 12 features: bar shape, tick_volume/1000, server-time calendar, RSI, CCI, ATR, MACD",
)
_ROBUST = FeatureSet(
    id="robust-v1",
    names=(*_COMMON_HEAD, "log_volume_ratio", *_COMMON_TAIL),
    volume="log_median_ratio",
    volume_window=ROBUST_VOLUME_WINDOW,
    scale="price",
    first_valid=ROBUST_VOLUME_WINDOW - 1,
    warmup=500,
    description="mt5-v1 with tick volume as log((v+1)/(median of the last 500 volumes+1)): immune to feed scale drift",
)
_SCALE_FREE = FeatureSet(
    id="scale-free-v1",
    names=("close_open_atr", "high_open_atr", "low_open_atr", "log_volume_ratio", "hour", "day_of_week", "month",
           "rsi14", "cci14", "log_atr_close", "macd_main_atr", "macd_signal_atr"),
    volume="log_median_ratio",
    volume_window=ROBUST_VOLUME_WINDOW,
    scale="atr",
    first_valid=ROBUST_VOLUME_WINDOW - 1,
    warmup=500,
    description="robust-v1 with bar shapes and MACD in units of ATR14 and log(ATR14/close): the same numbers for "
                "any instrument and price level",
)
FEATURE_SETS: dict[str, FeatureSet] = {fs.id: fs for fs in (_MT5, _ROBUST, _SCALE_FREE)}
DEFAULT_FEATURE_SET = _SCALE_FREE.id  # what every preset trains on
FEATURE_NAMES: tuple[str, ...] = _MT5.names  # the seed's names, slot by slot


def get_feature_set(name: str) -> FeatureSet:
    """Feature set by id ("mt5-v1", "robust-v1", "scale-free-v1"); ConfigError naming the known ids otherwise."""
    try:
        return FEATURE_SETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown feature set {name!r}; known feature sets: {', '.join(FEATURE_SETS)}") from None


def compute_features(bars: np.ndarray, feature_set: str = DEFAULT_FEATURE_SET) -> np.ndarray:
    """(N,) bars -> (N, F) float64 with the named feature set (batch path)."""
    return get_feature_set(feature_set).compute(bars)

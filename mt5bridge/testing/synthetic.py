"""Synthetic bars for tests and demos: a valid random walk with MT5's dtype, on a regular calendar."""

from __future__ import annotations

import numpy as np

from ..data.bars import empty_bars
from ..data.timeframes import timeframe


def synthetic_bars(n: int, *, start: int = 1_577_836_800, tf: str = "H1", price: float = 1.1, seed: int = 0,
                   weekends: bool = True) -> np.ndarray:
    """(n,) valid random-walk bars from `start` (2020-01-01 00:00), skipping Saturdays and Sundays if `weekends`."""
    rng = np.random.default_rng(seed)
    step = timeframe(tf).seconds
    times: list[int] = []
    t = start
    while len(times) < n:
        if not weekends or ((t // 86400 + 4) % 7) not in (0, 6):
            times.append(t)
        t += step
    close = price * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate([[price], close[:-1]])
    bars = empty_bars(n)
    bars["time"] = times
    bars["open"], bars["close"] = open_, close
    bars["high"] = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n))
    bars["low"] = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n))
    bars["tick_volume"] = rng.integers(1, 5000, n)
    bars["spread"] = rng.integers(0, 30, n)
    return bars

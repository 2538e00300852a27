"""Bar histories turned into what the model reads: standardised features and lagged windows.

Ordering convention (docs/TRAINING.md): the input at bar t is the last W bars' features, **newest first**
(lag 0 = bar t, then t-1, ...), flattened lag-major: column lag*F + feature. The target is the last D bars, same
order, so column block k of an output is the bar k bars back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError


@dataclass
class Series:
    """One symbol's history: bar times and their raw features, from the feature set's first usable bar on."""

    name: str
    times: np.ndarray  # (N,) int64 bar open times, server time, seconds
    features: np.ndarray  # (N, F) float64, all finite
    symbol: str | None = None  # from the file's mt5bridge metadata (Parquet from `history`); None when unknown
    timeframe: str | None = None  # "H1": from the metadata, else inferred from the bar spacing; None when unknown
    feature_set: str | None = None  # the id the features were computed with (None: made by hand, e.g. in tests)

    def __len__(self) -> int:
        return len(self.times)

    def slice(self, start: int, stop: int | None = None) -> "Series":
        return Series(self.name, self.times[start:stop], self.features[start:stop], self.symbol, self.timeframe,
                      self.feature_set)


def load_series(path: str | Path, feature_set: str, *, warmup_bars: int = 0, start: int | None = None,
                end: int | None = None, policy: str = "raise") -> Series:
    """Read a bar file, compute its features over the whole file (indicator seeds start at its first bar), drop the
    warm-up, and keep bars with start <= time < end (seconds)."""
    from ..data.files import read_bars
    from ..data.timeframes import infer_timeframe
    from ..features import get_feature_set

    fs = get_feature_set(feature_set)
    bar_file = read_bars(path, policy=policy)
    bars = bar_file.bars
    features = fs.compute(bars)  # (N, F)
    skip = max(warmup_bars or fs.warmup, fs.first_valid)
    times = np.asarray(bars["time"], np.int64)
    keep = np.arange(len(times)) >= skip
    if start is not None:
        keep &= times >= start
    if end is not None:
        keep &= times < end
    inferred = infer_timeframe(times)
    series = Series(Path(path).name, times[keep], features[keep], bar_file.metadata.get("symbol"),
                    bar_file.metadata.get("timeframe") or (inferred.name if inferred else None), feature_set)
    if len(series) == 0:
        raise DataError(f"{path}: no bars left after the {skip}-bar feature warm-up and the date window")
    bad = ~np.isfinite(series.features).all(axis=1)
    if bad.any():
        at = int(np.argmax(bad))
        raise DataError(f"{path}: non-finite features at bar time {int(series.times[at])} (row {at} after warm-up)")
    return series


def lag_windows(z: np.ndarray, index: np.ndarray, bars: int) -> np.ndarray:
    """z (N, F) standardised features; index (...) bar positions -> (..., bars*F), newest bar first.

    Positions before the start of z (a stream's first bars) read as zeros, the standardised mean.
    """
    lags = index[..., None] - np.arange(bars)  # (..., bars)
    out = z[np.clip(lags, 0, None)]  # (..., bars, F)
    out[lags < 0] = 0.0
    return out.reshape(*index.shape, bars * z.shape[1])

"""The training protocol's data side: time-ordered split, frozen standardisation, B contiguous stream segments,
and the (T, B, ·) chunks of inputs and targets (docs/TRAINING.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ModelConfig, TrainConfig
from ..errors import DataError
from ..normalize import Standardizer
from .series import Series, lag_windows


@dataclass
class Prepared:
    series: list[Series]
    standardizer: Standardizer
    z: list[np.ndarray]  # per series (N_i, F) standardised
    train: list[tuple[int, int]]  # per series, bar positions [a, b) whose targets are trained on
    validation: list[tuple[int, int]]  # per series, the held-out latest bars [b, N)
    stream_series: np.ndarray  # (B,) series index of each stream
    stream_start: np.ndarray  # (B,) first bar position of each stream's segment
    length: int  # L: steps per stream and epoch

    def chunks(self, tbptt: int) -> list[tuple[int, int]]:
        """[t0, t1) step ranges of an epoch's chunks; the last one may be shorter."""
        return [(t0, min(t0 + tbptt, self.length)) for t0 in range(0, self.length, tbptt)]

    def batch(self, t0: int, t1: int, cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (T, B, W*F) and targets (T, B, D*F) of steps [t0, t1) of every stream."""
        steps = np.arange(t0, t1)
        x = np.empty((len(steps), len(self.stream_start), cfg.inputs))
        y = np.empty((len(steps), len(self.stream_start), cfg.outputs))
        for b, (s, start) in enumerate(zip(self.stream_series, self.stream_start)):
            y[:, b] = lag_windows(self.z[s], start + steps, cfg.target_bars)
            x[:, b] = y[:, b, : cfg.inputs]
        return x, y

    @property
    def train_bars(self) -> int:
        return sum(b - a for a, b in self.train)


def prepare(series: list[Series], cfg: ModelConfig, train: TrainConfig) -> Prepared:
    """Split each series in time, fit the standardisation on the training parts only, cut the streams."""
    first = cfg.target_bars - 1  # the first bar whose D-bar target lies wholly inside the series
    for s in series:
        if s.feature_set is not None and s.feature_set != train.feature_set:
            raise DataError(f"{s.name}: features computed with {s.feature_set!r}, the training config says "
                            f"{train.feature_set!r}")
    timeframes = {s.timeframe for s in series}
    if len(timeframes) > 1:  # one model is one timeframe: its memory counts bars, and bars of M15 are not H1's
        listing = ", ".join(f"{s.name} ({s.timeframe or 'unknown timeframe'})" for s in series)
        raise DataError(f"the files have different timeframes: {listing}; train one model per timeframe")
    train_ranges, val_ranges = [], []
    for s in series:
        usable = len(s) - first
        split = first + int(round(usable * (1.0 - train.validation)))
        if split - first < train.tbptt:
            raise DataError(f"{s.name}: only {max(split - first, 0)} training bars after the {first}-bar target "
                            f"window; need at least tbptt = {train.tbptt}")
        train_ranges.append((first, split))
        val_ranges.append((split, len(s)))
    standardizer = Standardizer.fit(np.concatenate([s.features[:b] for s, (_, b) in zip(series, train_ranges)]))
    z = [standardizer.transform(s.features) for s in series]
    lengths = np.array([b - a for a, b in train_ranges])
    if train.streams < len(series):
        raise DataError(f"{len(series)} files need at least as many streams; train.streams = {train.streams}")
    # Streams per series in proportion to its length, at least one each.
    share = np.maximum(1, np.floor(lengths / lengths.sum() * train.streams).astype(int))
    while share.sum() > train.streams:
        share[np.argmax(share)] -= 1
    while share.sum() < train.streams:
        share[np.argmax(lengths / share)] += 1
    length = int(min(n // k for n, k in zip(lengths, share)))
    if length < 1:
        raise DataError(f"too little training data for {train.streams} streams: {lengths.tolist()} bars")
    stream_series = np.repeat(np.arange(len(series)), share)
    stream_start = np.concatenate([a + np.arange(k) * (n // k) for (a, _), n, k in zip(train_ranges, lengths, share)])
    return Prepared(series, standardizer, z, train_ranges, val_ranges, stream_series, stream_start, length)

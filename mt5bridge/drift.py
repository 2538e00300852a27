"""Input drift: how far a stream's inputs stray from what its model was trained on.

A model file records the quantiles of its standardised training inputs (mt5bridge/training/provenance.py). A bar's
input value is *outside* when it lies below the training 0.1 % quantile or above the 99.9 % quantile of its feature.
The drift score of a stream at a bar is the share of outside values among the last `DRIFT_WINDOW` bars x F features
(fewer bars at a stream's start). On data like the training data it is about 0.2 %; a feature in other units (a
price-unit feature set on another price scale) pushes it towards 1/F per broken feature.

The score is integer counting over a window, so it is the same whether bars come one at a time (the daemon) or in
chunks (encode, evaluate): ModelRunner computes it, the one code path of both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

INPUT_LEVELS = (0.0, 0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999, 1.0)
LEVELS_KEY = "inputs.levels"  # model extra (Q,): INPUT_LEVELS
QUANTILES_KEY = "inputs.quantiles"  # model extra (Q, F): standardised training inputs at those levels
LOW_LEVEL, HIGH_LEVEL = 0.001, 0.999  # the training range a value must stay inside
DRIFT_WINDOW = 500  # bars: about a month of H1, long enough that a volatile week alone does not trip it
# Measured with the default preset trained on EURUSD 2000-2017 (docs/TRAINING.md): the 500-bar score peaks at 0.65 %
# on EURUSD 2017-2021 and 4.45 % on XAUUSD 2014-2025 (its most volatile months); the old price-unit default on XAUUSD
# scores 50 %; one feature wholly out of range scores 1/12 = 8.3 %. 7.5 % sits between.
DRIFT_THRESHOLD = 0.075
DRIFT_MIN_BARS = 100  # bars fed before a stream's drift score may raise the alarm (fewer bars: too noisy)


def drift_alarm(score, bars_fed, threshold: float = DRIFT_THRESHOLD):
    """The DRIFT flag's rule (the daemon's latents and heartbeats, the latent files): the score over the threshold
    once DRIFT_MIN_BARS bars were fed; a NaN score (no training quantiles) never alarms. Scalars or arrays."""
    with np.errstate(invalid="ignore"):
        return (np.asarray(score) > threshold) & (np.asarray(bars_fed) >= DRIFT_MIN_BARS)


def training_range(extras: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """(low (F,), high (F,)) of a model's standardised training inputs; None for a file that predates them."""
    levels, quantiles = extras.get(LEVELS_KEY), extras.get(QUANTILES_KEY)
    if levels is None or quantiles is None:
        return None
    levels = list(np.round(levels, 6))
    return quantiles[levels.index(LOW_LEVEL)], quantiles[levels.index(HIGH_LEVEL)]


def outside_counts(z: np.ndarray, bounds: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """z (..., F) standardised -> (...,) how many of each bar's F values lie outside the training range."""
    low, high = bounds
    return ((z < low) | (z > high)).sum(axis=-1)


class DriftMeter:
    """The rolling drift score of B streams. `recent` (B, window) holds each stream's last outside counts, oldest
    first; it is part of ModelRunner's state, so a restarted daemon continues the same score."""

    def __init__(self, extras: dict[str, np.ndarray], streams: int, features: int, window: int = DRIFT_WINDOW):
        self.bounds = training_range(extras)
        self.window, self.features = window, features
        self.recent = np.zeros((streams, window), np.int64)  # (B, window)

    @property
    def enabled(self) -> bool:
        return self.bounds is not None

    def reset(self, streams: list[int] | None = None) -> None:
        if streams is None:
            self.recent[:] = 0
        else:
            self.recent[streams] = 0

    def step(self, z: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """z (B, T, F) standardised inputs of T new bars; seen (B,) bars before them -> (T, B) scores (NaN without
        training quantiles)."""
        streams, steps = z.shape[0], z.shape[1]
        if self.bounds is None:
            return np.full((steps, streams), np.nan)
        counts = outside_counts(z, self.bounds)  # (B, T)
        history = np.concatenate([self.recent, counts], axis=1)  # (B, window + T)
        running = np.concatenate([np.zeros((streams, 1), np.int64), np.cumsum(history, axis=1)], axis=1)
        ends = self.window + 1 + np.arange(steps)  # (T,) the running sum up to and including each new bar
        sums = running[:, ends] - running[:, ends - self.window]  # (B, T) outside values in the last window bars
        bars = np.minimum(seen[:, None] + 1 + np.arange(steps)[None, :], self.window)  # (B, T)
        self.recent = history[:, -self.window:]
        return (sums / (bars * self.features)).T


def summarize(extras: dict[str, np.ndarray], z: np.ndarray, scores: np.ndarray, names: tuple[str, ...],
              threshold: float = DRIFT_THRESHOLD) -> dict[str, Any]:
    """evaluate's `input_drift`: z (N, F) standardised inputs of the evaluated bars, scores (N,) their rolling score."""
    bounds = training_range(extras)
    if bounds is None:
        return {"available": False, "why": "the model file records no training input quantiles (trained before "
                                           "mt5bridge recorded them); retrain to get a drift score"}
    low, high = bounds
    outside = (z < low) | (z > high)  # (N, F)
    finite = scores[np.isfinite(scores)]
    return {
        "available": True,
        "window": DRIFT_WINDOW,
        "threshold": threshold,
        "share_outside": float(outside.mean()),
        "max_rolling_score": float(finite.max()) if len(finite) else None,
        "bars_over_threshold": int(np.sum(finite > threshold)),
        "drifted": bool(outside.mean() > threshold),
        "per_feature_share_outside": {name: float(v) for name, v in zip(names, outside.mean(axis=0))},
        "training_range": {"low_quantile": LOW_LEVEL, "high_quantile": HIGH_LEVEL},
    }

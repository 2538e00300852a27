"""Stepping a trained model over closed bars: the one code path shared by `mt5bridge encode` and the live daemon.

A `ModelRunner` holds B streams. Each step takes the raw features of one closed bar per stream (or T bars in a
row, which gives the same numbers as T single steps), standardises them with the model's frozen statistics,
builds the encoder window (last W bars) and the target (last D bars), runs the engine, and returns the latent mean,
the reconstruction error, its percentile among the training errors, and the input-drift score (mt5bridge/drift.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .drift import DriftMeter
from .engine import make_engine
from .engine.base import Engine
from .modelfile import Model

QUANTILES_KEY = "errors.quantiles"  # model extra: training reconstruction errors at 0, 0.1, ..., 100 percent


@dataclass
class StepOutput:
    latent: np.ndarray  # (T, B, Z) latent mean
    error: np.ndarray  # (T, B) mean squared error over the D*F standardised target; NaN until D bars were seen
    percentile: np.ndarray  # (T, B) percent of training errors <= error; NaN without an error or a distribution
    reconstruction: np.ndarray  # (T, B, O) standardised, newest bar first
    target: np.ndarray  # (T, B, O)
    drift: np.ndarray  # (T, B) share of the last DRIFT_WINDOW bars' inputs outside the training range; NaN if unknown


def error_quantiles(errors: np.ndarray, points: int = 1001) -> np.ndarray:
    """The distribution of reconstruction errors stored in a model, as `points` evenly spaced quantiles."""
    errors = np.asarray(errors, np.float64)
    errors = errors[np.isfinite(errors)]
    return np.quantile(errors, np.linspace(0.0, 1.0, points)) if len(errors) else np.zeros(0)


def error_percentile(errors: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    if len(quantiles) < 2:
        return np.full(np.shape(errors), np.nan)
    percent = np.interp(errors, quantiles, np.linspace(0.0, 100.0, len(quantiles)))
    return np.where(np.isfinite(errors), percent, np.nan)


class ModelRunner:
    def __init__(self, model: Model, streams: int = 1, device=None, engine: Engine | None = None):
        self.model = model
        cfg = model.config
        self.engine = engine or make_engine(cfg, streams=streams, device=device, dtype=model.dtype)
        self.engine.set_params(model.params)
        self.streams = streams
        self.quantiles = model.extras.get(QUANTILES_KEY, np.zeros(0))
        self.drift = DriftMeter(model.extras, streams, cfg.features)
        self.reset()

    def reset(self, streams: list[int] | None = None) -> None:
        """Forget everything about the given streams (all when None): empty memory, no past bars."""
        cfg = self.model.config
        if streams is None:
            self.engine.set_state(self.engine.zero_state(self.streams))
            self.past = np.zeros((self.streams, cfg.target_bars - 1, cfg.features))  # (B, D-1, F) oldest first
            self.seen = np.zeros(self.streams, np.int64)  # bars stepped per stream
            self.drift.reset()
            return
        self.engine.reset_state(streams)
        self.past[streams] = 0.0
        self.seen[streams] = 0
        self.drift.reset(streams)

    def step(self, features: np.ndarray) -> StepOutput:
        """features (T, B, F) raw, finite -> outputs for those T bars of each of the B streams."""
        cfg = self.model.config
        features = np.asarray(features, np.float64)
        steps = features.shape[0]
        if features.shape[1:] != (self.streams, cfg.features):
            raise ValueError(f"features have shape {features.shape}, expected (T, {self.streams}, {cfg.features})")
        if not np.isfinite(features).all():
            raise ValueError("features hold NaN or inf: feed only bars after the feature warm-up")
        z = self.model.standardizer.transform(features).transpose(1, 0, 2)  # (B, T, F)
        history = np.concatenate([self.past, z], axis=1)  # (B, D-1+T, F) oldest first
        newest = cfg.target_bars - 1 + np.arange(steps)  # (T,) position of each step's bar in history
        lags = newest[:, None] - np.arange(cfg.target_bars)  # (T, D) newest first
        stacked = history[:, lags]  # (B, T, D, F)
        target = stacked.transpose(1, 0, 2, 3).reshape(steps, self.streams, cfg.outputs)  # (T, B, D*F)
        inputs = target[:, :, : cfg.inputs]  # the first W lags of the target are the encoder's window
        latent, reconstruction = self.engine.forward(inputs)
        error = np.mean((reconstruction.astype(np.float64) - target) ** 2, axis=2)  # (T, B)
        complete = (self.seen[None, :] + np.arange(1, steps + 1)[:, None]) >= cfg.target_bars
        error = np.where(complete, error, np.nan)
        drift = self.drift.step(z, self.seen)
        self.past = history[:, -(cfg.target_bars - 1):] if cfg.target_bars > 1 else self.past
        self.seen += steps
        return StepOutput(latent, error, error_percentile(error, self.quantiles), reconstruction, target, drift)

    # --- persistence ------------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """Everything needed to continue exactly: each layer's h and c, the last D-1 standardised bars, counts, and the
        drift meter's recent outside counts."""
        state = {"past": self.past.copy(), "seen": self.seen.copy(), "drift": self.drift.recent.copy()}
        for layer, (h, c) in enumerate(self.engine.get_state()):
            state[f"h{layer}"], state[f"c{layer}"] = h, c
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        layers = len(self.model.config.lstm)
        self.engine.set_state([(state[f"h{i}"], state[f"c{i}"]) for i in range(layers)])
        self.past = np.array(state["past"], np.float64)
        self.seen = np.array(state["seen"], np.int64)
        self.streams = len(self.seen)
        # A daemon state saved before the drift score existed has no "drift": the score restarts from empty.
        recent = state.get("drift")
        self.drift.recent = np.zeros((self.streams, self.drift.window), np.int64) if recent is None \
            else np.array(recent, np.int64)

"""Stateful inference passes over a history, through `ModelRunner` (the same path as encode and the daemon), for
evaluation. Training's validation and error distribution step many segments side by side instead (segments.py);
each segment gives the numbers of `stateful_pass` from its first bar (tested).
"""

from __future__ import annotations

import numpy as np

from ..engine.base import Engine
from ..inference import ModelRunner

CHUNK = 512  # bars per forward call; results do not depend on it


def stateful_pass(runner: ModelRunner, features: np.ndarray, start: int, stop: int, burn_in: int,
                  *, keep_outputs: bool = True) -> dict[str, np.ndarray]:
    """One stream over bars [start - burn_in, stop) of raw features (N, F) from an empty memory.

    Bars before `start` only warm the state. Returns, for the bars of [start, stop) whose D-bar target is complete:
    index (n,) bar positions, error (n,), drift (n,) the input-drift score, and with keep_outputs latent (n, Z),
    reconstruction and target (n, O).
    """
    runner.reset()
    first = max(start - burn_in, 0)
    parts: dict[str, list[np.ndarray]] = {"index": [], "error": [], "drift": [], "latent": [], "reconstruction": [],
                                          "target": []}
    for lo in range(first, stop, CHUNK):
        index = np.arange(lo, min(lo + CHUNK, stop))
        out = runner.step(features[index][:, None])
        scored = (index >= start) & np.isfinite(out.error[:, 0])
        parts["index"].append(index[scored])
        parts["error"].append(out.error[scored, 0])
        parts["drift"].append(out.drift[scored, 0])
        if keep_outputs:
            parts["latent"].append(out.latent[scored, 0])
            parts["reconstruction"].append(out.reconstruction[scored, 0].astype(np.float64))
            parts["target"].append(out.target[scored, 0])
    keys = list(parts) if keep_outputs else ["index", "error", "drift"]
    return {k: np.concatenate(parts[k]) for k in keys}


def reset_every_bar(engine: Engine, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """The control: the same model with its state reset before every bar. x (n, I) -> reconstruction (n, O)."""
    out = []
    for lo in range(0, len(x), chunk):
        part = x[lo: lo + chunk]
        engine.set_state(engine.zero_state(len(part)))  # every bar is its own stream with an empty memory
        out.append(engine.forward(part[None])[1][0].astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, engine.config.outputs))

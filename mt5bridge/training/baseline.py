"""The no-memory baseline: ridge regression from the W-bar input window to the D-bar target.

It sees exactly what the encoder sees at one bar and nothing before it, so whatever the model rebuilds better than
this at lags >= W it must have remembered. Fitted on the training data by streaming normal equations (no N x O
matrix is ever built); the penalty is picked on the last 20% of the training rows, then refitted on all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)  # relative to the number of rows / 1000
BLOCK = 8192  # rows per block of the streamed normal equations


@dataclass(frozen=True)
class RidgeBaseline:
    weights: np.ndarray  # (I+1, O): the last row is the intercept
    penalty: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (..., I) -> (..., O)."""
        return x @ self.weights[:-1] + self.weights[-1]

    def to_extras(self) -> dict[str, np.ndarray]:
        return {"baseline.weights": self.weights, "baseline.penalty": np.array([self.penalty])}

    @classmethod
    def from_extras(cls, extras: dict[str, np.ndarray]) -> "RidgeBaseline | None":
        if "baseline.weights" not in extras:
            return None
        return cls(extras["baseline.weights"], float(extras["baseline.penalty"][0]))


def _moments(blocks: Iterable[tuple[np.ndarray, np.ndarray]], inputs: int, outputs: int):
    xtx = np.zeros((inputs + 1, inputs + 1))
    xty = np.zeros((inputs + 1, outputs))
    rows = 0
    for x, y in blocks:
        xa = np.hstack([x, np.ones((len(x), 1))])  # (n, I+1)
        xtx += xa.T @ xa
        xty += xa.T @ y
        rows += len(x)
    return xtx, xty, rows


def _solve(xtx: np.ndarray, xty: np.ndarray, penalty: float) -> np.ndarray:
    reg = penalty * np.eye(len(xtx))
    reg[-1, -1] = 0.0  # the intercept is not penalised
    return np.linalg.solve(xtx + reg, xty)


def fit_ridge(fit_blocks, holdout_blocks, all_blocks, inputs: int, outputs: int) -> RidgeBaseline:
    """Blocks are callables returning iterables of (x (n, I), y (n, O)) float64 pairs."""
    xtx, xty, rows = _moments(fit_blocks(), inputs, outputs)
    best, best_error = LAMBDAS[0], np.inf
    for lam in LAMBDAS:
        w = _solve(xtx, xty, lam * max(rows, 1) / 1000)
        error = sum(float(np.sum((np.hstack([x, np.ones((len(x), 1))]) @ w - y) ** 2))
                    for x, y in holdout_blocks())
        if error < best_error:
            best, best_error = lam, error
    xtx, xty, rows = _moments(all_blocks(), inputs, outputs)
    penalty = best * max(rows, 1) / 1000
    return RidgeBaseline(_solve(xtx, xty, penalty), penalty)


def blocks_of(z_list: list[np.ndarray], ranges: list[tuple[int, int]], window: int, target_bars: int):
    """Callable producing (x, y) blocks for bars [a, b) of each standardised series in z_list."""
    from .series import lag_windows

    def produce():
        for z, (a, b) in zip(z_list, ranges):
            for lo in range(a, b, BLOCK):
                index = np.arange(lo, min(lo + BLOCK, b))
                yield lag_windows(z, index, window), lag_windows(z, index, target_bars)

    return produce

"""The no-memory baseline: ridge regression from the W-bar input window to the D-bar target.

It sees exactly what the encoder sees at one bar and nothing before it, so whatever the model rebuilds better than
this at lags >= W it must have remembered. Fitted on the training data by streaming normal equations (no N x O
matrix is ever built); the penalty is picked on the last 20% of the training rows, then refitted on all of them.
One pass over the rows: the moments of the first 80% and of the last 20% are summed for the refit, and a penalty's
held-out squared error comes from the held-out moments (w'X'Xw - 2w'X'y + y'y), not from predicting the rows
again once per penalty (that pass and the separate refit pass were most of a GPU run's setup).
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


@dataclass
class _Moments:
    """Normal-equation sums over some rows: X'X and X'Y with an intercept column, y'y summed over the outputs."""

    xtx: np.ndarray  # (I+1, I+1)
    xty: np.ndarray  # (I+1, O)
    yty: float
    rows: int

    def __add__(self, other: "_Moments") -> "_Moments":
        return _Moments(self.xtx + other.xtx, self.xty + other.xty, self.yty + other.yty, self.rows + other.rows)

    def squared_error(self, w: np.ndarray) -> float:
        """sum over these rows of |[x, 1] w - y|^2, from the sums alone; w (I+1, O)."""
        return float(np.sum(w * (self.xtx @ w)) - 2.0 * np.sum(w * self.xty) + self.yty)


def _moments(blocks: Iterable[tuple[np.ndarray, np.ndarray]], inputs: int, outputs: int) -> _Moments:
    out = _Moments(np.zeros((inputs + 1, inputs + 1)), np.zeros((inputs + 1, outputs)), 0.0, 0)
    for x, y in blocks:
        xa = np.hstack([x, np.ones((len(x), 1))])  # (n, I+1)
        out.xtx += xa.T @ xa
        out.xty += xa.T @ y
        out.yty += float(np.einsum("no,no->", y, y))
        out.rows += len(x)
    return out


def _solve(xtx: np.ndarray, xty: np.ndarray, penalty: float) -> np.ndarray:
    reg = penalty * np.eye(len(xtx))
    reg[-1, -1] = 0.0  # the intercept is not penalised
    return np.linalg.solve(xtx + reg, xty)


def fit_ridge(fit_blocks, holdout_blocks, inputs: int, outputs: int) -> RidgeBaseline:
    """Blocks are callables returning iterables of (x (n, I), y (n, O)) float64 pairs; together the fit and
    holdout blocks are all the training rows."""
    fit = _moments(fit_blocks(), inputs, outputs)
    held = _moments(holdout_blocks(), inputs, outputs)
    errors = [held.squared_error(_solve(fit.xtx, fit.xty, lam * max(fit.rows, 1) / 1000)) for lam in LAMBDAS]
    best = LAMBDAS[int(np.argmin(errors))]  # the first of equal errors, as the loop over LAMBDAS picked it
    both = fit + held
    penalty = best * max(both.rows, 1) / 1000
    return RidgeBaseline(_solve(both.xtx, both.xty, penalty), penalty)


def blocks_of(z_list: list[np.ndarray], ranges: list[tuple[int, int]], window: int, target_bars: int):
    """Callable producing (x, y) blocks for bars [a, b) of each standardised series in z_list."""
    from .series import lag_windows

    def produce():
        for z, (a, b) in zip(z_list, ranges):
            for lo in range(a, b, BLOCK):
                y = lag_windows(z, np.arange(lo, min(lo + BLOCK, b)), target_bars)  # (n, D*F), newest bar first
                yield y[:, : window * z.shape[1]], y  # the input window is the target's first W bars

    return produce

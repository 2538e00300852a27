"""Stepping an exported graph with ONNX Runtime, bar after bar, as an EA does, and comparing it with `encode`.

`export --verify` and the tests use it. This module is the only importer of `onnxruntime` (an optional dependency:
the `test` extra installs it; MetaTrader 5 brings its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .onnx_export import INFO_FIELDS

NORM_FLOOR = 1e-12  # a zero vector's deviation is measured against this instead of 0


def _session(path_or_bytes: str | Path | bytes):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError("onnxruntime is not installed: `pip install onnxruntime` (or the test extra) to run an "
                          "exported graph in Python") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    source = path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


@dataclass
class OnnxSteps:
    latent: np.ndarray  # (N, Z) float32
    error: np.ndarray  # (N,) NaN until D bars were stepped, as encode
    percentile: np.ndarray  # (N,)
    outside: np.ndarray  # (N,) outside values of each bar (float: the graph's output)


class OnnxStepper:
    """One stream through the step graph: keeps the last D raw feature rows and the packed state, as an EA does."""

    def __init__(self, graph: str | Path | bytes):
        self.session = _session(graph)
        self.info = dict(zip(INFO_FIELDS, self._info()))
        d, f = int(self.info["target_bars"]), int(self.info["features"])
        self.bars = np.zeros((1, d, f), np.float32)  # (1, D, F) newest first
        self.valid = np.zeros((1, d), np.float32)  # (1, D)
        self.state = np.zeros((1, int(self.info["state"])), np.float32)  # (1, S)
        self.stepped = 0

    def _info(self) -> np.ndarray:
        shapes = {i.name: i.shape for i in self.session.get_inputs()}
        feeds = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
        return self.session.run(["info"], feeds)[0][0]

    def step(self, row: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """row (F,) raw features of the bar just closed -> latent (Z,), error, percentile, outside."""
        self.bars[0, 1:] = self.bars[0, :-1].copy()
        self.bars[0, 0] = row
        self.valid[0, 1:] = self.valid[0, :-1].copy()
        self.valid[0, 0] = 1.0
        latent, error, percentile, outside, state = self.session.run(
            ["latent", "error", "percentile", "outside", "state_out"],
            {"bars": self.bars, "valid": self.valid, "state": self.state})
        self.state = state
        self.stepped += 1
        scored = self.stepped >= self.bars.shape[1]
        return latent[0], float(error[0, 0]) if scored else np.nan, \
            float(percentile[0, 0]) if scored else np.nan, float(outside[0, 0])

    def run(self, features: np.ndarray) -> OnnxSteps:
        """features (N, F) raw -> every bar's outputs."""
        out = [self.step(row) for row in np.asarray(features, np.float32)]
        return OnnxSteps(np.array([o[0] for o in out]), np.array([o[1] for o in out]),
                         np.array([o[2] for o in out]), np.array([o[3] for o in out]))


def relative_deviation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: |a - b| / max(|b|, NORM_FLOOR), with vectors (N, K) or scalars (N,); NaN rows must agree (0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    both_nan = np.isnan(a).all(axis=1) & np.isnan(b).all(axis=1)
    dev = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), NORM_FLOOR)
    return np.where(both_nan, 0.0, np.where(np.isnan(dev), np.inf, dev))


TOLERANCE = 1e-5  # of each latent vector's norm, and relative on the error (issue #13; float32 measures ~1e-6)
PERCENT_TOLERANCE = 0.01  # percentage points: a percentile moves by error deviation x the distribution's slope


@dataclass
class VerifyReport:
    bars: int
    latent: float  # max over bars of |latent - encode| / |encode|
    error: float  # max relative deviation of the reconstruction error
    percentile: float  # max absolute deviation, percentage points
    tolerance: float = TOLERANCE

    @property
    def passed(self) -> bool:
        return self.latent <= self.tolerance and self.error <= self.tolerance and \
            self.percentile <= PERCENT_TOLERANCE

    @property
    def text(self) -> str:
        verdict = "matches" if self.passed else "DOES NOT match"
        return (f"onnxruntime over {self.bars} bars {verdict} encode: latent {self.latent:.1e} of its norm, error "
                f"{self.error:.1e} relative (tolerance {self.tolerance:g}), percentile {self.percentile:.1e} "
                f"points (tolerance {PERCENT_TOLERANCE:g})")


def compare(steps: OnnxSteps, table) -> VerifyReport:
    """steps over N bars against encode's table (pyarrow) of the same N bars."""
    frame = table.to_pandas()
    latent = frame[[c for c in frame.columns if c.startswith("z") and c[1:].isdigit()]].to_numpy()
    theirs = frame["anomaly_pct"].to_numpy()
    pct = np.where(np.isnan(steps.percentile) & np.isnan(theirs), 0.0,  # both unscored: agree; one NaN: inf
                   np.nan_to_num(np.abs(steps.percentile - theirs), nan=np.inf))
    return VerifyReport(len(frame), float(relative_deviation(steps.latent, latent).max(initial=0.0)),
                        float(relative_deviation(steps.error, frame["recon_error"].to_numpy()).max(initial=0.0)),
                        float(np.max(pct, initial=0.0)))


def verify_against_encode(model, graph: str | Path, data: str | Path, bars: int) -> VerifyReport:
    """Encode the first `bars` usable bars of `data` with `model` (a modelfile.Model) and step the graph over them
    with onnxruntime."""
    from .training.encode import encode_series
    from .training.series import load_series

    series = load_series(data, model.feature_set).slice(0, bars)
    return compare(OnnxStepper(graph).run(series.features), encode_series(model, series))

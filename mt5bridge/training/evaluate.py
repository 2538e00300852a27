"""`mt5bridge evaluate`: how well a model rebuilds the last D bars, and how far back it remembers.

A stateful pass from the first evaluated bar; the first `burn_in` bars only warm the state. All metrics are on
standardised targets (docs/TRAINING.md has every definition). The memory test compares, lag by lag, the model
with the no-memory ridge baseline fitted at train time: past the encoder's window (lags >= W) the model can only beat
the baseline by remembering.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..drift import summarize as summarize_drift
from ..engine import make_engine
from ..features import get_feature_set
from ..data.bars import format_time
from ..errors import ConfigError, DataError, ModelFileError
from ..fileio import atomic_path
from ..inference import ModelRunner
from ..modelfile import Model
from .baseline import RidgeBaseline
from .passes import reset_every_bar, stateful_pass
from .series import Series

PRICE_FEATURES = (0, 1, 2, 3)  # close-open, high-open, low-open, volume
MEMORY_MARGIN = 0.10  # R^2 above the baseline that counts as remembering a lag
ACTIVE_VARIANCE = 0.01


def per_lag_r2(y: np.ndarray, y_hat: np.ndarray, bars: int, features: tuple[int, ...] | None = None) -> np.ndarray:
    """R^2 per lag (index 0 = the current bar), pooled over the chosen features: y, y_hat (n, D*F) -> (D,)."""
    n = len(y)
    y3, p3 = y.reshape(n, bars, -1), y_hat.reshape(n, bars, -1)
    if features is not None:
        y3, p3 = y3[:, :, list(features)], p3[:, :, list(features)]
    residual = np.sum((y3 - p3) ** 2, axis=(0, 2))
    total = np.sum((y3 - y3.mean(axis=0)) ** 2, axis=(0, 2))
    return 1.0 - residual / total


def nmse(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.sum((y - y_hat) ** 2) / np.sum((y - y.mean(axis=0)) ** 2))


def memory(model_r2: np.ndarray, baseline_r2: np.ndarray, window: int) -> tuple[int, int]:
    """(memory_horizon, memory_lags) over lags [W, D-1] with a margin of MEMORY_MARGIN."""
    lags = np.arange(window, len(model_r2))
    wins = lags[(model_r2[lags] - baseline_r2[lags]) >= MEMORY_MARGIN]
    return (int(wins.max()) if len(wins) else window - 1), int(len(wins))


def evaluate(model: Model, series: Series, *, start_time: int | None = None, burn_in: int = 200,
             device: str | None = None) -> dict[str, Any]:
    cfg = model.config
    baseline = RidgeBaseline.from_extras(model.extras)
    if baseline is None:
        raise ModelFileError("the model file holds no no-memory baseline; retrain it with `mt5bridge train`")
    start = 0 if start_time is None else int(np.searchsorted(series.times, start_time))
    if burn_in < 0:
        raise ConfigError(f"--burn-in {burn_in} must be >= 0")
    if start >= len(series):
        raise DataError(f"{series.name}: no bars from {format_time(start_time)} on (the data ends at "
                        f"{format_time(int(series.times[-1]))})")
    scored = len(series) - start - max(burn_in, cfg.target_bars - 1)  # a scored bar needs D-1 bars before it
    if scored < 2:  # R^2 and nmse need a spread of targets
        raise DataError(f"{series.name}: {len(series) - start} bars from the start leave {max(scored, 0)} to score "
                        f"after the burn-in of {burn_in} (and the {cfg.target_bars - 1} bars a target reaches back); "
                        "lower --burn-in or start earlier")
    runner = ModelRunner(model, streams=1, device=device)
    out = stateful_pass(runner, series.features, start + burn_in, len(series), burn_in)
    y, y_hat, latent = out["target"], out["reconstruction"], out["latent"]
    x = y[:, : cfg.inputs]
    y_base = baseline.predict(x)
    control_engine = make_engine(cfg, streams=1, device=device, dtype=model.dtype)
    control_engine.set_params(model.params)
    y_reset = reset_every_bar(control_engine, x)
    d, w = cfg.target_bars, cfg.window
    r2, r2_price = per_lag_r2(y, y_hat, d), per_lag_r2(y, y_hat, d, PRICE_FEATURES)
    base_r2, base_price = per_lag_r2(y, y_base, d), per_lag_r2(y, y_base, d, PRICE_FEATURES)
    horizon, lags = memory(r2_price, base_price, w)
    result = {
        "bars": int(len(y)),
        "first_bar_time": int(series.times[out["index"][0]]),
        "last_bar_time": int(series.times[out["index"][-1]]),
        "burn_in": burn_in,
        "window": w,
        "nmse": nmse(y, y_hat),
        "rmse_std": float(np.sqrt(np.mean((y - y_hat) ** 2))),
        "per_lag_r2": r2.tolist(),
        "per_lag_r2_price": r2_price.tolist(),
        "baseline_nmse": nmse(y, y_base),
        "baseline_per_lag_r2": base_r2.tolist(),
        "baseline_per_lag_r2_price": base_price.tolist(),
        "state_reset_nmse": nmse(y, y_reset),
        "state_reset_per_lag_r2_price": per_lag_r2(y, y_reset, d, PRICE_FEATURES).tolist(),
        "memory_horizon": horizon,
        "memory_lags": lags,
        "latent_active_units": int(np.sum(latent.var(axis=0) > ACTIVE_VARIANCE)),
        "reconstruction_error_median": float(np.median(out["error"])),
        "feature_set": model.feature_set,
        "input_drift": summarize_drift(model.extras, model.standardizer.transform(series.features[out["index"]]),
                                       out["drift"], get_feature_set(model.feature_set).names),
    }
    return result


def write_json(result: dict[str, Any], path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=2))


def plot(result: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Per-lag R^2 of model, no-memory baseline and state-reset control: the memory at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lags = np.arange(len(result["per_lag_r2_price"]))
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    ax.plot(lags, result["per_lag_r2_price"], "o-", label="model (price action)", color="tab:blue")
    ax.plot(lags, result["baseline_per_lag_r2_price"], "s-", label="ridge, no memory (price action)",
            color="tab:orange")
    ax.plot(lags, result["state_reset_per_lag_r2_price"], "^-", label="model, state reset every bar",
            color="tab:gray")
    ax.plot(lags, result["per_lag_r2"], "--", label="model (all 12 features)", color="tab:blue", alpha=0.5)
    ax.axvspan(-0.5, result["window"] - 0.5, color="tab:green", alpha=0.08, label="inside the encoder's window")
    ax.set_xlabel("lag (bars back; 0 = the current bar)")
    ax.set_ylabel("R² on standardised targets")
    ax.set_ylim(min(-0.1, float(np.min(result["state_reset_per_lag_r2_price"]))), 1.0)
    ax.set_title(title or f"nmse {result['nmse']:.3f} (baseline {result['baseline_nmse']:.3f}); memory horizon "
                 f"{result['memory_horizon']}, {result['memory_lags']} lags remembered")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


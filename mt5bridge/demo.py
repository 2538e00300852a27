"""`mt5bridge demo` for now: show the devices, train the `tiny` preset for a few steps, save, reload and compare.

The full demo (bundled bars replayed through the daemon to a subscriber) replaces this with the daemon issue. The
series here is synthetic (a few noisy sines), so the demo needs no data and no terminal.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .config import preset
from .engine import make_engine
from .modelfile import Model, load_model, save_model
from .normalize import Standardizer


def lagged_windows(series: np.ndarray, bars: int) -> np.ndarray:
    """series (N,F) -> (N-bars+1, bars*F): row t holds bars t+bars-1, t+bars-2, ..., t (lag 0, the newest, first)."""
    n, f = series.shape
    lags = [series[bars - 1 - lag: n - lag] for lag in range(bars)]  # each (N-bars+1, F)
    return np.concatenate(lags, axis=1)


def synthetic_series(bars: int, features: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(bars)[:, None]
    periods = rng.uniform(6, 60, size=features)
    return np.sin(2 * np.pi * t / periods + rng.uniform(0, 6, features)) + 0.1 * rng.normal(size=(bars, features))


def run_engine_demo(device: str | None = None, steps: int = 60, echo: Callable[[str], None] = print) -> float:
    """Train briefly; returns the final loss divided by the first (well below 1 when learning works)."""
    config = preset("tiny")
    streams, chunk = 4, 16
    series = synthetic_series(streams * (chunk * 8) + config.target_bars, config.features)
    standardizer = Standardizer.fit(series)
    z = standardizer.transform(series)
    x_all = lagged_windows(z, config.window)[config.target_bars - config.window:]  # align with the targets
    y_all = lagged_windows(z, config.target_bars)
    per_stream = len(y_all) // streams
    x_streams = x_all[: per_stream * streams].reshape(streams, per_stream, -1).transpose(1, 0, 2)  # (T,B,I)
    y_streams = y_all[: per_stream * streams].reshape(streams, per_stream, -1).transpose(1, 0, 2)  # (T,B,O)

    engine = make_engine(config, streams=streams, device=device)
    echo(f"engine: {engine.device_label}, preset 'tiny' ({sum(p.size for p in engine.get_params().values())} "
         f"parameters), {streams} streams, TBPTT chunks of {chunk} steps")
    rng = np.random.default_rng(1)
    first = last = None
    start = time.perf_counter()
    for step in range(steps):
        t0 = (step * chunk) % (per_stream - chunk)
        if t0 < chunk:
            engine.reset_state()  # a new pass over the series starts from an empty memory
        eps = rng.standard_normal((chunk, streams, config.latent))
        loss = engine.train_step(x_streams[t0: t0 + chunk], y_streams[t0: t0 + chunk], eps)
        first = loss.total if first is None else first
        last = loss.total
        if step % 10 == 0 or step == steps - 1:
            echo(f"  step {step:3d}  loss {loss.total:.4f}  (mse {loss.mse:.4f}, kl/row {loss.kl:.3f})")
    echo(f"trained {steps} steps in {time.perf_counter() - start:.1f} s; loss {first:.4f} -> {last:.4f}")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo-model.npz"
        save_model(path, Model.from_engine(engine, standardizer, "synthetic-demo"))
        again = make_engine(load_model(path).config, streams=streams, device=device)
        load_model(path).load_into(again)
        probe = x_streams[:chunk]
        engine.reset_state()
        same = np.array_equal(engine.forward(probe)[0], again.forward(probe)[0])
        echo(f"saved {path.stat().st_size / 1024:.0f} KiB model, reloaded: latents identical bit for bit: {same}")
    return last / first

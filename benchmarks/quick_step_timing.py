"""One article-size training step and one live step, timed: for quick comparisons of kernel settings.

    MT5BRIDGE_LSTM_TILE=16x8 python benchmarks/quick_step_timing.py gpu 32

Five warm training steps queued without waiting (as the trainer runs), then one read; a live step is one bar of one
stream, waited for. Prints JSON. BENCHMARKS.md's numbers come from train_epoch.py and inference_speed.py.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mt5bridge.config import preset  # noqa: E402
from mt5bridge.engine import make_engine  # noqa: E402


def main(device: str, streams: int, steps: int = 40, repeats: int = 5, profile: bool = False) -> dict:
    cfg = preset("article")
    engine = make_engine(cfg, streams=streams, device=device, profiling=profile)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps, streams, cfg.inputs)).astype(np.float32)
    y = rng.normal(size=(steps, streams, cfg.outputs)).astype(np.float32)
    eps = rng.normal(size=(steps, streams, cfg.latent)).astype(np.float32)
    engine.train_step(x, y, eps)  # warm-up: builds, allocates
    if profile:
        engine.rt.kernel_profile()  # drop the warm-up's events
    t0 = time.perf_counter()
    for _ in range(repeats):
        engine.train_step(x, y, eps, wait=False)
    engine.collect_losses()
    train = (time.perf_counter() - t0) / repeats
    kernels = {}
    if profile:  # device seconds per kernel name over the timed steps
        kernels = {k: [n, round(sec / repeats * 1e3, 3)] for k, (n, sec) in
                   sorted(engine.rt.kernel_profile().items(), key=lambda kv: -kv[1][1])}
    live = make_engine(cfg, streams=1, device=device)
    one = x[:1, :1]
    live.forward(one)
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        live.forward(one)
        times.append(time.perf_counter() - t0)
    return {"device": engine.device_label, "tile": os.environ.get("MT5BRIDGE_LSTM_TILE", "default"),
            "gemm_tile": os.environ.get("MT5BRIDGE_GEMM_TILE", "default"),
            "split": os.environ.get("MT5BRIDGE_LSTM_SPLIT", "0"),
            "streams": streams, "K": steps, "train_step_s": train,
            "epoch_estimate_s_136k_bars": train * 136_418 / (streams * steps),
            "live_step_p50_ms": 1e3 * float(np.median(times)), "kernels_per_step_ms": kernels}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), profile="--profile" in sys.argv)))

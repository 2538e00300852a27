"""Backfill encode throughput and live-step latency, through ModelRunner (the code path of encode and the daemon).

    python benchmarks/inference_speed.py --device cpu [--preset article] [--data FILE]

- backfill encode: one stream over the whole EURUSD H1 file (136k bars; ../shared/data, not in the repository),
  in chunks of 1024 bars: bars/s; and 28 streams at once over the same bars: bars/s over all streams;
- live step: one closed bar per stream -> latent and error, p50/p99 over 500 steps, for 1 and 28 streams;
- memory: peak resident memory of the process (not on Windows, which has no `resource` module: reported as
  null); device memory held by the engines' buffers.
Random weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "EURUSD_H1_2000_2021.csv.gz"

from benchmarks.peak_memory import NO_RSS, peak_rss_mib, rss_cell  # noqa: E402,F401 - ROOT is on sys.path



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="article")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--live-steps", type=int, default=500)
    args = parser.parse_args()

    from mt5bridge.config import get_preset
    from mt5bridge.engine.reference import ReferenceEngine
    from mt5bridge.inference import ModelRunner
    from mt5bridge.modelfile import Model
    from mt5bridge.normalize import Standardizer
    from mt5bridge.training.series import load_series

    chosen = get_preset(args.preset)
    model = Model.from_engine(ReferenceEngine(chosen.model, 1, np.float32), Standardizer.identity(12),
                              chosen.train.feature_set, with_optimizer=False)
    series = load_series(args.data, chosen.train.feature_set)
    features = series.features  # (N, F)
    result = {"preset": args.preset, "bars": len(features)}

    runner = ModelRunner(model, streams=1, device=args.device)
    runner.step(features[:1024, None])  # builds the programs, sizes the buffers
    runner.reset()
    started = time.perf_counter()
    for lo in range(0, len(features), 1024):
        runner.step(features[lo: lo + 1024, None])
    seconds = time.perf_counter() - started
    result.update(device=runner.engine.device_label, encode_1_stream_bars_per_s=len(features) / seconds)

    many = ModelRunner(model, streams=28, device=args.device)
    part = features[: 28 * 1024 // 28 * 10]  # 10,240 bars per stream
    stacked = np.repeat(part[:, None], 28, axis=1)
    many.step(stacked[:256])
    many.reset()
    started = time.perf_counter()
    for lo in range(0, len(stacked), 1024):
        many.step(stacked[lo: lo + 1024])
    result["encode_28_streams_bars_per_s"] = 28 * len(stacked) / (time.perf_counter() - started)

    for streams, live in ((1, runner), (28, many)):
        live.reset()
        live.step(np.repeat(features[:200, None], streams, axis=1))  # a warm state
        times = []
        for i in range(args.live_steps):
            bar = np.repeat(features[200 + i: 201 + i, None], streams, axis=1)
            t0 = time.perf_counter()
            live.step(bar)
            times.append(time.perf_counter() - t0)
        lat = np.array(times) * 1e3
        result[f"live_{streams}_p50_ms"] = float(np.percentile(lat, 50))
        result[f"live_{streams}_p99_ms"] = float(np.percentile(lat, 99))
    result["peak_rss_mib"] = peak_rss_mib()
    rt = getattr(runner.engine, "rt", None)
    if rt is not None:
        result["device_buffers_mib"] = rt.allocated_bytes / 2**20
    result.update(date=date.today().isoformat(), host=platform.node(), command=" ".join(sys.argv))
    print(json.dumps(result))
    if result["peak_rss_mib"] is None:
        print(NO_RSS, file=sys.stderr)
    print(f"| inference | {args.preset} | {result['device']} | encode 1 stream "
          f"{result['encode_1_stream_bars_per_s']:.0f} bars/s, 28 streams "
          f"{result['encode_28_streams_bars_per_s']:.0f} bars/s | live 1: p50 "
          f"{result['live_1_p50_ms']:.2f} / p99 {result['live_1_p99_ms']:.2f} ms; live 28: p50 "
          f"{result['live_28_p50_ms']:.2f} / p99 {result['live_28_p99_ms']:.2f} ms |")


if __name__ == "__main__":
    main()

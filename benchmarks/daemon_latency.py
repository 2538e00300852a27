"""Bar available -> message on the wire, for 1 and 28 streams, and the daemon's peak resident memory (not on
Windows: no `resource` module there).

    python benchmarks/daemon_latency.py [--device cpu] [--preset default] [--bars 200] [--streams 1 28]

The MT5 simulator (in process, on a manual clock) holds the bundled sample for every symbol; each measured bar is
made available by moving the clock, then the daemon runs one cycle (poll, features, one device call per model,
send, persist) and a subscriber on 127.0.0.1 timestamps each message as it arrives. Latency = arrival - the moment
the cycle started; a real daemon adds up to `poll_interval_s` of polling delay on top (MT5 has no push).
Random weights: the latency does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peak_memory import NO_RSS, peak_rss_mib, rss_cell  # noqa: E402,F401 - ROOT is on sys.path




def make_model(path: Path, preset: str) -> Path:
    from mt5bridge.config import get_preset
    from mt5bridge.engine.reference import ReferenceEngine
    from mt5bridge.modelfile import Model, save_model
    from mt5bridge.normalize import Standardizer

    chosen = get_preset(preset)
    engine = ReferenceEngine(chosen.model, 1, np.float32)
    save_model(path, Model.from_engine(engine, Standardizer.identity(chosen.model.features), chosen.train.feature_set,
                                       with_optimizer=False))
    return path


def measure(device: str, preset: str, streams: int, bars: int) -> dict:
    from mt5bridge.daemon.config import DaemonConfig, PublisherConfig, RunConfig, StreamConfig
    from mt5bridge.daemon.loop import Daemon
    from mt5bridge.data import read_bars, sample_path
    from mt5bridge.data.mt5 import Mt5Source
    from mt5bridge.testing.clock import ManualClock
    from mt5bridge.testing.mt5sim import Mt5Simulator
    from mt5bridge.zmq_io import Subscriber

    history = read_bars(sample_path()).bars
    start = 1200
    symbols = [f"SYM{i:02d}" for i in range(streams)]
    clock = ManualClock(float(history["time"][start]) + 1)
    sim = Mt5Simulator(clock=clock)
    for symbol in symbols:
        sim.add_bars(symbol, "H1", history)
    with tempfile.TemporaryDirectory() as folder:
        model = make_model(Path(folder) / "model.npz", preset)
        config = RunConfig(
            streams=tuple(StreamConfig(symbol=s, timeframe="H1", model=str(model)) for s in symbols),
            publisher=PublisherConfig(endpoint="tcp://127.0.0.1:*", heartbeat_interval_s=3600.0),
            daemon=DaemonConfig(state_dir=str(Path(folder) / "state"), warmup_bars=200, poll_interval_s=1.0,
                                device=device), base_dir=Path(folder))
        daemon = Daemon(config, sources={f"{s}/H1": Mt5Source.from_module(sim, s, "H1") for s in symbols},
                        clock=clock, sleep=lambda s: None)
        sub = Subscriber(daemon.publisher.endpoint, ("mt5bridge/latent/",))
        arrivals: list[tuple[float, int]] = []  # (perf_counter at arrival, sequence), recorded by a thread
        done = threading.Event()

        def listen() -> None:
            from mt5bridge.wire import decode

            while not done.is_set():
                got = sub.receive(0.05)
                if got is not None:
                    arrivals.append((time.perf_counter(), decode(got[1]).sequence))

        time.sleep(0.3)
        daemon.start()
        thread = threading.Thread(target=listen, daemon=True)
        time.sleep(0.3)
        thread.start()
        started_at: dict[int, float] = {}  # sequence -> start of the cycle that published it
        cycles = []
        while daemon.published - 1 < bars * streams:
            clock.advance(3600)
            first, started = daemon.sequence + 1, time.perf_counter()
            daemon.cycle()
            cycles.append(time.perf_counter() - started)
            for seq in range(first, daemon.sequence + 1):
                started_at[seq] = started
        deadline = time.monotonic() + 10
        while len([a for a in arrivals if a[1] in started_at]) < len(started_at) and time.monotonic() < deadline:
            time.sleep(0.01)
        done.set()
        thread.join()
        latencies = [t - started_at[seq] for t, seq in arrivals if seq in started_at]
        rss_mib = peak_rss_mib()
        device_label = daemon.groups[next(iter(daemon.groups))].runner.engine.device_label
        sub.close()
        daemon.close()
    lat = np.array(latencies) * 1e3
    return {"streams": streams, "preset": preset, "device": device_label, "messages": int(len(lat)),
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max()), "cycle_p50_ms": float(np.percentile(np.array(cycles) * 1e3, 50)),
            "peak_rss_mib": rss_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--bars", type=int, default=200)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 28])
    args = parser.parse_args()
    for streams in args.streams:
        result = measure(args.device, args.preset, streams, args.bars)
        result.update(date=date.today().isoformat(), host=platform.node(), command=" ".join(sys.argv))
        print(json.dumps(result))
        if result["peak_rss_mib"] is None:
            print(NO_RSS, file=sys.stderr)
        print(f"| daemon bar->wire | {result['preset']} | {streams} streams | {result['device']} | "
              f"p50 {result['p50_ms']:.2f} ms | p99 {result['p99_ms']:.2f} ms | "
              f"{rss_cell(result['peak_rss_mib'])} |")


if __name__ == "__main__":
    main()

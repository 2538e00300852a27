"""`mt5bridge demo`: the whole pipeline on one machine, no terminal, no setup.

1. trains the `tiny` preset for one epoch on the first 7,000 bars of the bundled XAUUSD H1 sample (seconds);
2. starts the daemon on a replay of the sample: the bars up to 9,000 are "history" (the daemon warms up on them),
   then one more bar closes every `1 / bars_per_second` seconds;
3. a subscriber (a thread of this process, connected over TCP on 127.0.0.1) prints every latent as it arrives;
4. stops after `bars` published bars, or on Ctrl-C.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .config import get_preset
from .daemon.config import DaemonConfig, PublisherConfig, RunConfig, SourceConfig, StreamConfig
from .daemon.service import run_service
from .data import sample_path
from .subscriber import SubscriberLogic
from .training.series import load_series
from .training.trainer import Trainer
from .wire import FLAG_NAMES, FLAG_NO_ERROR, FLAG_WARM, HEARTBEAT_TOPIC, LatentMessage, bit_names
from .zmq_io import Subscriber

TRAIN_BARS, REPLAY_START = 7000, 9000


def format_latent(message: LatentMessage, width: int = 6) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(message.bar_time))
    error = "   n/a" if message.recon_error != message.recon_error else f"{message.recon_error:6.3f}"
    pct = "  n/a" if message.anomaly_pct != message.anomaly_pct else f"{message.anomaly_pct:5.1f}"
    z = " ".join(f"{v:+.2f}" for v in message.latent[:width])
    flags = message.flags & ~(FLAG_WARM | FLAG_NO_ERROR)  # the usual ones; error n/a already says NO_ERROR
    note = f"  [{bit_names(flags, FLAG_NAMES)}]" if flags else ""
    return (f"{message.symbol} {when}  seq {message.sequence:4d}  error {error} (pct {pct})  "
            f"z[0:{width}] {z} ...{note}")


def _subscribe(endpoint: str, expect: int, echo: Callable[[str], None], done: threading.Event, result: dict) -> None:
    subscriber = Subscriber(endpoint, ("mt5bridge/latent/", HEARTBEAT_TOPIC))
    logic = SubscriberLogic()
    try:
        while not done.is_set() or result["received"] < expect:
            got = subscriber.receive(0.2)
            if got is None:
                if done.is_set():
                    break
                continue
            for event in logic.accept(*got, time.monotonic()):
                if event.kind == "deliver":
                    result["received"] += 1
                    echo(format_latent(event.message))
                elif event.kind == "resend":
                    subscriber.subscribe(event.detail)
                elif event.kind == "cancel":
                    subscriber.unsubscribe(event.detail)
                elif event.kind in ("gap", "violation"):
                    echo(f"  subscriber: {event.kind} {event.detail}")
    finally:
        result["counts"] = dict(logic.counts)
        subscriber.close()


def run_demo(device: str | None = None, bars: int = 48, bars_per_second: float = 8.0,
             echo: Callable[[str], None] = print) -> dict:
    import warnings

    from .engine import choose_device

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the label below says it when no OpenCL device exists
        choice = choose_device(device)
    echo(f"device: {choice.label} ({choice.reason}; `mt5bridge devices` lists them, --device chooses)")
    sample = sample_path()
    chosen = get_preset("tiny")
    train_cfg = replace(chosen.train, epochs=1)
    with tempfile.TemporaryDirectory(prefix="mt5bridge-demo-") as folder:
        model = Path(folder) / "tiny.npz"
        series = load_series(sample, train_cfg.feature_set).slice(0, TRAIN_BARS)
        echo(f"1/3 training the 'tiny' model for one epoch on {len(series)} bars of {sample.name} ...")
        started = time.perf_counter()
        Trainer([series], chosen.model, train_cfg, model, device=device, progress=False, echo=lambda s: None).run()
        echo(f"    done in {time.perf_counter() - started:.1f} s")
        speed = 3600.0 * bars_per_second
        config = RunConfig(
            source=SourceConfig(spec=f"replay:{sample}?speed={speed:g}&start={REPLAY_START}"),
            streams=(StreamConfig(symbol="XAUUSD", timeframe="H1", model=str(model)),),
            publisher=PublisherConfig(endpoint="tcp://127.0.0.1:*", heartbeat_interval_s=1.0),
            daemon=DaemonConfig(state_dir=str(Path(folder) / "state"), warmup_bars=300, poll_interval_s=0.05,
                                device=device or "auto", max_bars=bars),
            base_dir=Path(folder))
        result = {"received": 0}
        done = threading.Event()
        echo(f"2/3 daemon: replaying {sample.name} from bar {REPLAY_START}, {bars_per_second:g} closed H1 bars/s; "
             "it warms up on the bars before, then publishes each closed bar")
        echo("3/3 subscriber (a thread, over TCP on 127.0.0.1) prints each latent as it arrives:")

        def start_subscriber(endpoint: str) -> threading.Thread:
            thread = threading.Thread(target=_subscribe, args=(endpoint, bars, echo, done, result), daemon=True)
            thread.start()
            return thread

        holder = {}

        def on_start(daemon) -> None:
            holder["thread"] = start_subscriber(daemon.publisher.endpoint)

        try:
            daemon = run_service(config, on_bound=on_start)
        finally:
            done.set()
            if "thread" in holder:
                holder["thread"].join(timeout=5)
        echo(f"published {daemon.published} bars on {daemon.publisher.endpoint}; the subscriber received "
             f"{result['received']} ({result.get('counts', {})})")
        return {"published": daemon.published, **result}

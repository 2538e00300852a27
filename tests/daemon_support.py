"""Helpers for the daemon tests: a tiny model, the MT5 simulator on a manual clock, and a recording subscriber."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mt5bridge.config import get_preset
from mt5bridge.daemon.config import DaemonConfig, PublisherConfig, RunConfig, StreamConfig
from mt5bridge.daemon.loop import Daemon
from mt5bridge.data import read_bars, sample_path
from mt5bridge.data.mt5 import Mt5Source
from mt5bridge.subscriber import SubscriberLogic
from mt5bridge.testing.clock import ManualClock
from mt5bridge.testing.mt5sim import Mt5Simulator
from mt5bridge.training.series import load_series
from mt5bridge.training.trainer import Trainer
from mt5bridge.wire import LatentMessage
from mt5bridge.zmq_io import Subscriber

HOUR = 3600
START = 1500  # the simulator's clock starts inside bar START: bars 0..START-1 are closed history


def train_tiny(path: Path, seed: int = 0) -> Path:
    chosen = get_preset("tiny")
    series = load_series(sample_path(), chosen.train.feature_set).slice(0, 2500)
    model = replace(chosen.model, seed=seed)
    Trainer([series], model, replace(chosen.train, epochs=1), path, device="numpy", progress=False,
            echo=lambda s: None).run()
    return path


def sample_bars() -> np.ndarray:
    return read_bars(sample_path()).bars


class Recorder:
    """A subscriber that keeps every delivered latent, in order, with the reference subscriber's logic."""

    def __init__(self, endpoint: str, topics=("mt5bridge/",), **kwargs):
        self.topics, self.subscriber_kwargs = tuple(topics), kwargs
        self.sub = Subscriber(endpoint, topics, **kwargs)
        self.logic = SubscriberLogic(gap_timeout_s=30.0)
        self.messages: list[LatentMessage] = []
        self.events = []
        self.raw: list[tuple[str, bytes]] = []  # every [topic, payload] as it arrived, before any de-duplication

    def drain(self, seconds: float = 0.15, until=None, pump=None) -> None:
        """Read for `seconds` of real time (or until `until()` holds, within 10 s); `pump()` runs between reads
        (e.g. the publisher answering subscriptions while the daemon is idle)."""
        deadline = time.monotonic() + (30.0 if until else seconds)
        while time.monotonic() < deadline:
            if pump:
                pump()
            got = self.sub.receive(0.02)
            now = time.monotonic()
            events = self.logic.tick(now)
            if got is not None:
                self.raw.append(got)
                events += self.logic.accept(*got, now)
            for event in events:
                self.events.append(event)
                if event.kind == "deliver":
                    self.messages.append(event.message)
                elif event.kind == "resend":
                    self.sub.subscribe(event.detail)
                elif event.kind == "cancel":
                    self.sub.unsubscribe(event.detail)
            if until and until():
                return

    def reconnect(self, endpoint: str) -> None:
        """A new socket with the same subscriptions, re-send requests in force included; the logic's state stays."""
        topics = list(self.topics) + [t.requested for t in self.logic.topics.values() if t.requested]
        self.sub.close()
        self.sub = Subscriber(endpoint, topics, **self.subscriber_kwargs)

    def kinds(self, kind: str) -> list:
        return [e for e in self.events if e.kind == kind]

    def close(self) -> None:
        self.sub.close()


class Harness:
    """One or more simulated streams, a daemon stepped by hand on the simulator's clock, and a Recorder."""

    def __init__(self, tmp_path: Path, model: Path, *, symbols=("XAUUSD",), warmup_bars: int = 100,
                 device: str = "numpy", state_dir: str = "state", publisher: dict | None = None, bars=None):
        self.bars = sample_bars() if bars is None else bars
        self.clock = ManualClock(float(self.bars["time"][START]) + 1)
        self.sim = Mt5Simulator(clock=self.clock)
        for symbol in symbols:
            self.sim.add_bars(symbol, "H1", self.bars)
        self.config = RunConfig(
            streams=tuple(StreamConfig(symbol=s, timeframe="H1", model=str(model)) for s in symbols),
            publisher=PublisherConfig(**{"endpoint": "tcp://127.0.0.1:*", "heartbeat_interval_s": 600,
                                         **(publisher or {})}),
            daemon=DaemonConfig(state_dir=str(tmp_path / state_dir), warmup_bars=warmup_bars, poll_interval_s=60,
                                device=device, backoff_initial_s=60, backoff_max_s=1800),
            base_dir=tmp_path)
        self.symbols = symbols
        self.daemon = None
        self.recorder = None

    def start_daemon(self, reconnect: bool = False, **kwargs) -> Daemon:
        """A daemon on the harness's state; `reconnect`: the recorder reconnects to it first, like a subscriber
        whose publisher was killed and restarted (in one process a SUB's own reconnect to a re-bound XPUB is not
        seen by the new socket's poll until it is used, so the test does what the reconnect would)."""
        sources = {f"{s}/H1": Mt5Source.from_module(self.sim, s, "H1") for s in self.symbols}
        self.daemon = Daemon(self.config, sources=sources, clock=self.clock, sleep=lambda s: None, **kwargs)
        if self.recorder is None:
            self.recorder = Recorder(self.daemon.publisher.endpoint)
        elif reconnect:
            self.recorder.reconnect(self.daemon.publisher.endpoint)
        time.sleep(0.1)  # let the subscriber's connection settle before the first messages
        if reconnect:
            deadline = time.monotonic() + 5
            while not self.daemon.publisher.serve(0.05) and time.monotonic() < deadline:
                pass  # the restarted daemon has the subscriptions before it sends anything
        self.daemon.start()
        self.recorder.drain()
        return self.daemon

    def hours(self, n: int, drain: float = 0.05) -> None:
        for _ in range(n):
            self.clock.advance(HOUR)
            self.daemon.cycle()
            self.recorder.drain(drain)

    def closed_times(self) -> np.ndarray:
        """Open times of the bars closed at the clock's time (the forming bar excluded)."""
        k = int(np.searchsorted(self.bars["time"], int(self.clock()), side="right"))
        return self.bars["time"][: k - 1]

    def close(self) -> None:
        if self.daemon is not None:
            self.daemon.close()
        if self.recorder is not None:
            self.recorder.close()

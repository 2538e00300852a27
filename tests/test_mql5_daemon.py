"""Subscriber.mqh itself (compiled against the C++ MQL5 runtime) against the real daemon: two streams from the MT5
simulator, every bar, a reconnect, heartbeats; what the EA's include sees must be what the reference subscriber
delivers, value for value."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mql5check import native
from mql5twin import protocol as P
from tests.daemon_support import HOUR, Harness, train_tiny

pytestmark = pytest.mark.skipif(not native.available(), reason="g++ is not installed")
H1 = 16385
SYMBOLS = ("XAUUSD", "EURUSD")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("model") / "tiny.npz")


def _poll_until(sub, daemon, done, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sub.Poll()
        daemon.publisher.serve(0.0)
        if done():
            return True
        time.sleep(0.005)
    return False


def test_the_compiled_include_receives_every_bar_of_the_real_daemon(tmp_path, model):
    h = Harness(tmp_path, model, symbols=SYMBOLS, publisher={"heartbeat_interval_s": 0.2})
    bridge = native.Bridge()
    try:
        daemon = h.start_daemon()
        port = int(daemon.publisher.endpoint.rsplit(":", 1)[1])
        sub = native.NativeSubscriber(bridge)
        sub.Configure("127.0.0.1", port)
        sub.SetBackoff(20, 200)
        for symbol in SYMBOLS:
            sub.Subscribe(P.Mt5bLatentTopic(symbol, H1))
        sub.Start()
        # the late-joiner cache gives each stream's newest bar at once
        assert _poll_until(sub, daemon, lambda: {s for s, _, _ in sub.seen} == set(SYMBOLS))
        for hour in range(12):
            h.clock.advance(HOUR)
            daemon.cycle()
            if hour == 5:
                sub.Disconnect("test: the connection drops")  # reconnects; the cache re-sends, not a gap
            h.recorder.drain(0.02)
            want = {s: [m.stream_sequence for m in h.recorder.messages if m.symbol == s] for s in SYMBOLS}
            assert _poll_until(sub, daemon, lambda want=want: all(
                [q for s2, _, q in sub.seen if s2 == s][-1:] == want[s][-1:] for s in SYMBOLS))
        daemon._heartbeat()
        assert _poll_until(sub, daemon, lambda: sub.PublisherStatus("XAUUSD", H1) is not None)
        for symbol in SYMBOLS:
            got = [q for s, _, q in sub.seen if s == symbol]
            delivered = [m.stream_sequence for m in h.recorder.messages if m.symbol == symbol]
            assert got == delivered == list(range(1, len(got) + 1)) and len(got) >= 12, (symbol, got, delivered)
            assert sub.Gaps(symbol, H1) == 0
            latest = P.Mt5bLatent()
            assert sub.Latest(symbol, H1, latest)
            reference = [m for m in h.recorder.messages if m.symbol == symbol][-1]
            assert (latest.stream_sequence, latest.bar_time, latest.flags) == \
                (reference.stream_sequence, reference.bar_time, reference.flags)
            assert np.array_equal(np.float32(latest.latent), np.float32(reference.latent))
            assert np.float32(latest.recon_error) == np.float32(reference.recon_error)
            status = sub.PublisherStatus(symbol, H1)
            assert status & P.MT5B_STATUS_CONNECTED and status & P.MT5B_STATUS_WARM
        sub.Stop()
    finally:
        bridge.close()
        h.close()

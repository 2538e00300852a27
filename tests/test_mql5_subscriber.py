"""The MQL5 subscriber against a libzmq XPUB with a last-value cache, as the daemon publishes: latest values, gaps,
cache re-sends that are not gaps, publisher restarts, staleness from the heartbeat interval, malformed and unknown
messages, bounded work per poll. Each scenario runs on both: the twin (tests/mql5twin/subscriber.py, the readable
specification) and Subscriber.mqh itself, compiled against the C++ MQL5 runtime (tests/mql5check/native.py;
skipped without g++)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mt5bridge import wire
from mql5check import native
from mql5twin import mql5
from mql5twin import protocol as P
from mql5twin.peers import LvcPublisher, poll_until
from mql5twin.subscriber import CMt5BridgeSubscriber

H1 = 16385
T0 = 1_700_000_000 - 1_700_000_000 % 3600
VECTORS = Path(__file__).parent / "data" / "wire"


class Clock:
    """The terminal's GetTickCount64, with a hand to move it forward (staleness without sleeping)."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture(autouse=True)
def clock():
    mql5.reset()
    mql5.clock = Clock()
    yield mql5.clock
    mql5.reset()


class Recorder(CMt5BridgeSubscriber):
    """An EA's subclass: OnLatent sees every new message."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[str, int, int]] = []
        self.events: list[str] = []

    def OnLatent(self, msg):
        self.seen.append((msg.symbol, msg.timeframe, msg.stream_sequence))

    def OnConnectionEvent(self, text):
        self.events.append(text)


def start(port: int, *prefixes: str, impl: str = "twin", request=None):
    """A Recorder (twin), or Subscriber.mqh in its own process with the same interface and the same recording."""
    if impl == "twin":
        sub = Recorder()
    else:
        bridge = native.Bridge()
        request.node.processes.append(bridge)
        sub = native.NativeSubscriber(bridge)
    sub.Configure("127.0.0.1", port)
    sub.SetBackoff(20, 200)
    sub.SetTimeouts(100, 2000, 3000, 10000)  # a refused connect takes the connect timeout (Windows)
    for p in prefixes:
        sub.Subscribe(p)
    sub.Start()
    return sub


def run(sub, pub: LvcPublisher, done, **kw) -> None:
    assert poll_until(lambda: (sub.Poll(), pub.serve()), done, **kw)


def stream(sub, symbol: str = "EURUSD", tf: int = H1):
    from mql5twin.subscriber import Mt5bStreamState

    out = Mt5bStreamState()
    assert sub.Stream(symbol, tf, out)
    return out


def topics(sub) -> list[str]:
    return sub.m_zmtp.m_topics if isinstance(sub, Recorder) else sub.topics()


def drop(sub, reason: str) -> None:
    """The connection drops (as a test provokes it: the subscriber's ZMTP layer disconnects)."""
    sub.m_zmtp.Disconnect(reason) if isinstance(sub, Recorder) else sub.Disconnect(reason)


def input_buffer(sub) -> int:
    return len(sub.m_zmtp.m_in) if isinstance(sub, Recorder) else sub.in_size()


def advance(sub, clock: Clock, seconds: float) -> None:
    """Moves the terminal's clock forward (the twin's, or the runtime's in the subscriber's process)."""
    if isinstance(sub, Recorder):
        clock.offset += seconds
    else:
        sub.bridge.call("clock", int(seconds * 1000))


def subscribed(pub: LvcPublisher, n: int):
    return lambda: len(pub.subscriptions) >= n


def test_latest_gaps_and_cache_resends(ctx, impl, request):
    pub = LvcPublisher(ctx)
    sub = start(pub.port, P.Mt5bLatentTopic("EURUSD", H1), impl=impl, request=request)
    assert topics(sub) == ["mt5bridge/latent/EURUSD/H1", "mt5bridge/heartbeat"]  # heartbeats added
    run(sub, pub, subscribed(pub, 2))
    for k in (1, 2, 3):
        pub.latent("EURUSD", "H1", H1, k, T0 + 3600 * k)
    pub.latent("GBPUSD", "H1", H1, 1, T0)  # filtered out by the publisher
    run(sub, pub, lambda: len(sub.seen) == 3)
    latest = P.Mt5bLatent()
    assert sub.Latest("EURUSD", H1, latest) and latest.stream_sequence == 3 and latest.bar_time == T0 + 3 * 3600
    assert latest.latent == [0.0, 1.0, 2.0, 3.0] and latest.recon_error == 0.25 and latest.anomaly_pct == 50.0
    assert sub.Gaps("EURUSD", H1) == 0 and not sub.Latest("GBPUSD", H1, latest)

    drop(sub, "test: the connection drops")  # reconnect: the cache re-sends bar 3
    run(sub, pub, lambda: stream(sub).resends == 1)
    assert sub.Connects() == 2 and sub.Gaps("EURUSD", H1) == 0 and len(sub.seen) == 3

    pub.latent("EURUSD", "H1", H1, 4, T0 + 4 * 3600)
    pub.latent("EURUSD", "H1", H1, 6, T0 + 6 * 3600)  # bar 5 lost
    run(sub, pub, lambda: len(sub.seen) == 5)
    s = stream(sub)
    assert (s.missed, s.gap_events, s.received, s.resends) == (1, 1, 5, 1)
    assert sub.Gaps("EURUSD", H1) == 1
    assert [q for _, _, q in sub.seen] == [1, 2, 3, 4, 6]

    # a late joiner gets the cached bar at once, no gap
    late = start(pub.port, "mt5bridge/latent/EURUSD/", impl=impl, request=request)
    run(late, pub, lambda: len(late.seen) == 1)
    assert late.seen == [("EURUSD", H1, 6)] and late.Gaps("EURUSD", H1) == 0
    late.Stop()
    sub.Stop()
    pub.close()


@pytest.mark.parametrize("keeps_state", [True, False])
def test_publisher_restart(ctx, impl, request, keeps_state):
    """A restarted daemon either continues its sequences (state kept) or starts over at 1 with newer bars: the
    second is taken as a new baseline, not ignored as re-sends forever and not counted as a gap."""
    pub = LvcPublisher(ctx)
    sub = start(pub.port, "mt5bridge/", impl=impl, request=request)
    sub.SetTimeouts(100, 2000, 50, 400)
    run(sub, pub, subscribed(pub, 1))
    for k in (10, 11):
        pub.latent("EURUSD", "H1", H1, k, T0 + 3600 * k)
    run(sub, pub, lambda: len(sub.seen) == 2)
    port = pub.port
    pub.close()
    run(sub, pub, lambda: not sub.IsConnected())
    pub = LvcPublisher(ctx, port=port)
    run(sub, pub, subscribed(pub, 1))
    first = 12 if keeps_state else 1
    pub.latent("EURUSD", "H1", H1, first, T0 + 3600 * 12)
    pub.latent("EURUSD", "H1", H1, first + 1, T0 + 3600 * 13)
    run(sub, pub, lambda: len(sub.seen) == 4)
    s = stream(sub)
    assert s.latest.stream_sequence == first + 1 and s.missed == 0
    assert s.restarts == (0 if keeps_state else 1)
    assert any("started over" in e for e in sub.events) != keeps_state
    pub.close()


def test_heartbeats_reveal_a_lost_tail_and_a_restart_but_a_cached_old_one_is_passed_over(ctx, impl, request):
    pub = LvcPublisher(ctx)
    sub = start(pub.port, "mt5bridge/", impl=impl, request=request)
    run(sub, pub, subscribed(pub, 1))

    def beat(last: int) -> None:
        pub.heartbeat(5000, (wire.StreamStatus("EURUSD", H1, wire.STATUS_CONNECTED, T0, last, 1),))
        n = sub.Heartbeats()
        run(sub, pub, lambda: sub.Heartbeats() == n + 1)

    for k in (1, 2):
        pub.latent("EURUSD", "H1", H1, k, T0 + 3600 * k)
    run(sub, pub, lambda: len(sub.seen) == 2)
    beat(4)  # bars 3 and 4 were sent before this heartbeat and never came: a gap no later message would show
    assert (stream(sub).missed, stream(sub).gap_events) == (2, 1)
    pub.latent("EURUSD", "H1", H1, 5, T0 + 3600 * 5)
    run(sub, pub, lambda: len(sub.seen) == 3)
    assert (stream(sub).missed, stream(sub).gap_events) == (2, 1)  # not counted twice

    drop(sub, "test: the connection drops")  # the cache re-sends bar 5 and the heartbeat saying 4,
    run(sub, pub, lambda: sub.Heartbeats() == 2 and stream(sub).resends == 1)  # which is older than bar 5
    assert not stream(sub).rebase and stream(sub).restarts == 0

    beat(1)  # a newer heartbeat behind us: the daemon lost its state
    assert stream(sub).rebase
    pub.latent("EURUSD", "H1", H1, 1, T0 + 3600 * 5)  # its first bar again: the same bar, taken as the baseline
    run(sub, pub, lambda: len(sub.seen) == 4)
    s = stream(sub)
    assert (s.restarts, s.missed, s.latest.stream_sequence, s.rebase) == (1, 2, 1, False)
    pub.close()


def test_staleness_follows_the_heartbeat(ctx, clock, impl, request):
    pub = LvcPublisher(ctx)
    sub = start(pub.port, "mt5bridge/", impl=impl, request=request)
    run(sub, pub, subscribed(pub, 1))
    assert not sub.IsFresh("EURUSD", H1) and sub.SilenceMs() == -1
    pub.latent("EURUSD", "H1", H1, 1, T0)
    run(sub, pub, lambda: len(sub.seen) == 1)
    assert sub.IsFresh("EURUSD", H1) and sub.IntervalMs() == 5000  # no heartbeat yet: the default interval

    connected = wire.StreamStatus("EURUSD", H1, wire.STATUS_CONNECTED | wire.STATUS_WARM, T0, 1, 1)
    pub.heartbeat(200, (connected,))
    run(sub, pub, lambda: sub.Heartbeats() == 1)
    assert sub.IntervalMs() == 200 and sub.IsFresh("EURUSD", H1) and sub.PublisherStatus("EURUSD", H1) == 3

    advance(sub, clock, 0.61)  # 3 intervals and a bit of silence
    assert not sub.PublisherAlive() and not sub.IsFresh("EURUSD", H1)
    pub.heartbeat(200, (connected,))
    run(sub, pub, lambda: sub.Heartbeats() == 2)
    assert sub.IsFresh("EURUSD", H1) and sub.AgeMs("EURUSD", H1) >= 610

    broken = wire.StreamStatus("EURUSD", H1, wire.STATUS_ERROR, T0, 1, 1)
    pub.heartbeat(200, (broken,))  # the daemon's terminal stopped answering
    run(sub, pub, lambda: sub.Heartbeats() == 3)
    assert sub.PublisherAlive() and not sub.IsFresh("EURUSD", H1)
    pub.heartbeat(200, ())  # the daemon no longer serves the stream
    run(sub, pub, lambda: sub.Heartbeats() == 4)
    assert not sub.IsFresh("EURUSD", H1)
    pub.close()


def test_malformed_and_unknown_messages_are_counted_and_skipped(ctx, impl, request):
    pub = LvcPublisher(ctx)
    sub = start(pub.port, "mt5bridge/", impl=impl, request=request)
    run(sub, pub, subscribed(pub, 1))
    for name in ("truncated_latent", "bad_magic", "bad_version", "truncated_latent"):
        pub.sock.send_multipart([b"mt5bridge/latent/EURUSD/H1", (VECTORS / f"{name}.bin").read_bytes()])
    pub.sock.send_multipart([b"mt5bridge/latent/EURUSD/H1", b"a", b"b"])  # three parts
    pub.sock.send_multipart([b"mt5bridge/future", (VECTORS / "unknown_kind.bin").read_bytes()])
    pub.sock.send_multipart([b"mt5bridge/latent/EURUSD/H1", (VECTORS / "latent_eurusd_h1.bin").read_bytes()])
    run(sub, pub, lambda: len(sub.seen) == 1)
    assert sub.Malformed() == 5 and sub.Skipped() == 1 and sub.IsConnected()
    damage = [e for e in sub.events if e.startswith("malformed")]
    # one line per message here, as the same damage never comes twice in a row (it would be logged once)
    assert len(damage) == 5 and "does not hold 25 floats" in damage[0] and "3 parts" in damage[-1]
    pub.close()


def test_poll_does_bounded_work_and_hooks_see_every_bar_in_order(ctx, impl, request):
    pub = LvcPublisher(ctx)
    sub = start(pub.port, "mt5bridge/", impl=impl, request=request)
    sub.SetLimits(4096, 1 << 20, 8)  # 4 KiB read and 8 messages per Poll() at most
    run(sub, pub, subscribed(pub, 1))
    for k in range(1, 101):
        pub.latent("EURUSD", "H1", H1, k, T0 + 3600 * k, flags=wire.FLAG_CATCHUP | wire.FLAG_WARM, z=25)
    per_poll = []
    assert poll_until(lambda: (per_poll.append(sub.Poll()), pub.serve()), lambda: len(sub.seen) == 100)
    assert [q for _, _, q in sub.seen] == list(range(1, 101))  # every bar, in order: catch-up included
    assert max(per_poll) <= 8 and sum(per_poll) == 100 and sub.Gaps("EURUSD", H1) == 0
    assert input_buffer(sub) <= 2 * 4096  # consumed bytes are dropped: the input buffer stays bounded
    sub.Stop()
    pub.close()

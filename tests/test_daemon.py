"""The live daemon with the MT5 simulator, through real sockets on 127.0.0.1, on a manual clock."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from mt5bridge import wire
from mt5bridge.modelfile import load_model
from mt5bridge.training.encode import encode_series
from mt5bridge.training.series import Series
from tests.daemon_support import HOUR, START, Harness, Recorder, train_tiny


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("model") / "tiny.npz")


@pytest.fixture
def harness(tmp_path, model):
    h = Harness(tmp_path, model)
    yield h
    h.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_complete(messages, expected_times):
    """Every expected bar exactly once, in order, with consecutive stream sequence numbers."""
    times = [m.bar_time for m in messages]
    assert times == [int(t) for t in expected_times]
    seqs = [m.stream_sequence for m in messages]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_every_closed_bar_is_published_once_in_order(harness):
    daemon = harness.start_daemon()
    first = harness.recorder.messages[0]
    assert first.bar_time == int(harness.bars["time"][START - 1])  # the newest bar at start: late joiners have one
    assert first.flags & wire.FLAG_WARM and first.stream_sequence == 1
    harness.hours(30)
    assert_complete(harness.recorder.messages, harness.closed_times()[START - 1:])
    assert daemon.published == len(harness.recorder.messages) > 20 and len(harness.recorder.messages[-1].latent) == 8
    assert not harness.recorder.kinds("violation") and not harness.recorder.kinds("gap")


def test_late_subscriber_gets_the_last_values_at_once(harness):
    harness.start_daemon()
    harness.hours(5)
    late = Recorder(harness.daemon.publisher.endpoint)
    try:
        late.drain(until=lambda: late.messages and late.kinds("heartbeat"),  # no new bar, no clock move
                   pump=lambda: harness.daemon.publisher.serve(0.0))
        assert late.messages[-1].stream_sequence == harness.recorder.messages[-1].stream_sequence
        assert late.kinds("heartbeat")[-1].message.streams[0].last_stream_sequence == 6
    finally:
        late.close()


def test_terminal_disconnect_is_caught_up_in_order(harness):
    daemon = harness.start_daemon()
    harness.hours(3)
    now = harness.clock()
    harness.sim.schedule_disconnect(now + 10, now + 6 * HOUR)
    beats_before = len(harness.recorder.kinds("heartbeat"))
    harness.hours(12)
    assert_complete(harness.recorder.messages, harness.closed_times()[START - 1:])
    caught = [m for m in harness.recorder.messages if m.flags & wire.FLAG_CATCHUP]
    assert caught, "bars missed during the outage come late, flagged CATCHUP"
    statuses = [e.message.streams[0].status for e in harness.recorder.kinds("heartbeat")[beats_before:]]
    assert any(not s & wire.STATUS_CONNECTED and s & wire.STATUS_ERROR for s in statuses)
    assert statuses[-1] & wire.STATUS_CONNECTED
    assert daemon.streams[0].backoff == 0.0


def test_stalled_subscriber_never_slows_processing(tmp_path, model):
    h = Harness(tmp_path, model, publisher={"sndhwm": 4})
    try:
        daemon = h.start_daemon()
        import zmq  # the test plays a subscriber that never reads

        ctx = zmq.Context()
        stalled = ctx.socket(zmq.SUB)
        stalled.setsockopt(zmq.RCVHWM, 1)
        stalled.setsockopt(zmq.RCVBUF, 4096)
        stalled.setsockopt(zmq.SUBSCRIBE, b"")
        stalled.connect(daemon.publisher.endpoint)
        time.sleep(0.2)
        h.clock.advance(400 * HOUR)  # a long outage's catch-up: 400 bars in one cycle
        daemon.cycle()
        assert daemon.published == len(h.closed_times()) - (START - 1) > 250  # every bar, none waited for
        assert daemon.publisher.dropped > 0, "messages the stalled subscriber could not take are counted"
        stalled.close(0)
        ctx.term()
    finally:
        h.close()


def test_out_of_order_and_malformed_bars_are_skipped(harness):
    daemon = harness.start_daemon()
    harness.hours(2)
    source = daemon.streams[0].source
    good = source.closed_bars_after(daemon.streams[0].last_bar_time)  # nothing new yet
    assert len(good) == 0
    last = harness.bars[START + 1: START + 2].copy()  # already published: out of order
    bad = harness.bars[START + 2: START + 3].copy()
    bad["high"] = bad["low"] - 1.0  # high below low
    nxt = harness.bars[START + 3: START + 5]
    original = source.closed_bars_after
    calls = iter([np.concatenate([last, bad, nxt])])
    source.closed_bars_after = lambda t: next(calls, original(t))
    harness.clock.advance(3 * HOUR)
    daemon.cycle()
    harness.recorder.drain()
    times = [m.bar_time for m in harness.recorder.messages]
    assert times[-2:] == [int(t) for t in nxt["time"]] and times.count(int(last["time"][0])) == 1
    assert int(bad["time"][0]) not in times  # the malformed bar never reaches the model or the wire


def test_restart_resumes_without_republishing_or_skipping(tmp_path, model):
    port = free_port()
    h = Harness(tmp_path, model, publisher={})
    h.config = h.config.__class__(**{**h.config.__dict__, "publisher": h.config.publisher.__class__(
        **{**h.config.publisher.__dict__, "endpoint": f"tcp://127.0.0.1:{port}"})})
    try:
        h.start_daemon()
        h.hours(4)
        h.daemon.close()
        h.clock.advance(3 * HOUR)  # the daemon was down for three bars
        h.start_daemon()  # the same state folder: restore, then catch up
        h.hours(2)
        h.recorder.drain(0.3)
        assert_complete(h.recorder.messages, h.closed_times()[START - 1:])
        assert h.daemon.sequence == h.recorder.messages[-1].sequence
        assert not h.recorder.kinds("duplicate") or all(e.message is not None for e in h.recorder.kinds("duplicate"))
    finally:
        h.close()


def test_changed_model_file_rewarms_and_keeps_counting(tmp_path, model):
    import shutil

    own = shutil.copy(model, tmp_path / "own.npz")
    h = Harness(tmp_path, own)
    try:
        h.start_daemon()
        h.hours(2)
        last = h.recorder.messages[-1]
        h.daemon.close()
        train_tiny(tmp_path / "own.npz", seed=7)  # other weights, same path
        h.recorder.close()
        h.recorder = None
        h.start_daemon()
        first = h.recorder.messages[0]
        assert first.stream_sequence == last.stream_sequence + 1 and first.bar_time == last.bar_time
        assert first.latent != last.latent  # the new model's numbers for the same bar
    finally:
        h.close()


def test_daemon_latents_equal_encode_over_the_same_history(tmp_path, model, cl_device):
    h = Harness(tmp_path, model, device=cl_device.index, symbols=("XAUUSD", "EURUSD"))
    try:
        h.start_daemon()
        h.hours(12)
        messages = [m for m in h.recorder.messages if m.symbol == "XAUUSD"]
        loaded = load_model(model)
        from mt5bridge.features import get_feature_set

        fs = get_feature_set(loaded.feature_set)
        skip = fs.warmup  # the documented feature warm-up (500 bars), not the daemon's own idea of it
        first = START - (skip + h.config.daemon.warmup_bars)  # the first bar the daemon should have fetched
        bars = h.bars[first: START + 12]
        features = fs.compute(bars)
        series = Series("same", bars["time"].astype(np.int64)[skip:], features[skip:])
        table = encode_series(loaded, series, device=cl_device.index).to_pandas().set_index("time")
        for m in messages:
            row = table.loc[m.bar_time]
            assert np.array_equal(np.array(m.latent, np.float32), row[[f"z{k}" for k in range(8)]].to_numpy())
            assert np.float32(m.recon_error) == np.float32(row["recon_error"])
    finally:
        h.close()


def test_curve_lets_known_keys_in_and_keeps_unknown_ones_out(tmp_path, model):
    from mt5bridge.zmq_io import write_keypair

    keys = tmp_path / "keys"
    clients = tmp_path / "clients"
    _, server_secret = write_keypair(keys, "daemon")
    known_public, known_secret = write_keypair(keys, "known")
    _, stranger_secret = write_keypair(tmp_path / "other", "stranger")
    clients.mkdir()
    (clients / "known.key").write_bytes(known_public.read_bytes())
    h = Harness(tmp_path, model, publisher={"curve_secret_file": str(server_secret),
                                            "curve_clients_dir": str(clients)})
    try:
        daemon = h.start_daemon.__func__  # the harness' own recorder has no key: build the daemon by hand
        from mt5bridge.daemon.loop import Daemon
        from mt5bridge.data.mt5 import Mt5Source

        daemon = Daemon(h.config, sources={"XAUUSD/H1": Mt5Source.from_module(h.sim, "XAUUSD", "H1")},
                        clock=h.clock, sleep=lambda s: None)
        h.daemon = daemon
        server_public = keys / "daemon.key"
        known = Recorder(daemon.publisher.endpoint, curve_client_file=known_secret,
                         curve_server_public_file=server_public)
        stranger = Recorder(daemon.publisher.endpoint, curve_client_file=stranger_secret,
                            curve_server_public_file=server_public)
        time.sleep(0.3)
        daemon.start()
        for _ in range(3):
            h.clock.advance(HOUR)
            daemon.cycle()
        known.drain(until=lambda: len(known.messages) >= 4, pump=lambda: daemon.publisher.serve(0.0))
        stranger.drain(0.5, pump=lambda: daemon.publisher.serve(0.0))
        assert len(known.messages) == 4 and stranger.messages == [] and not stranger.kinds("heartbeat")
        known.close()
        stranger.close()
    finally:
        h.close()


def test_public_endpoint_needs_curve_or_an_explicit_insecure_bind(tmp_path, model, caplog):
    from mt5bridge.errors import ConfigError
    from mt5bridge.zmq_io import Publisher, is_loopback

    assert is_loopback("tcp://127.0.0.1:5556") and is_loopback("tcp://localhost:1") and is_loopback("tcp://[::1]:9")
    assert not is_loopback("tcp://0.0.0.0:5556") and not is_loopback("tcp://*:5556")
    assert is_loopback("ipc:///tmp/mt5bridge.sock") and is_loopback("inproc://test")
    # Transports that reach other machines are not local, whatever their address says (tipc:// is built into the
    # libzmq of pyzmq's wheels on Linux; the others where libzmq was built with them); a malformed tcp:// neither.
    for endpoint in ("tipc://{15559,0,0}", "vmci://1:5556", "pgm://eth0;239.192.1.1:5555", "ws://127.0.0.1:80",
                     "tcp://127.0.0.1", "udp://127.0.0.1:5556"):
        assert not is_loopback(endpoint), endpoint
    with pytest.raises(ConfigError, match="not a loopback address"):
        Publisher("tcp://0.0.0.0:0")
    with pytest.raises(ConfigError, match="not a loopback address"):
        Publisher("tipc://{15559,0,0}")
    publisher = Publisher("tcp://0.0.0.0:0", insecure_bind=True)
    publisher.close()
    assert "INSECURE" in caplog.text


def test_max_bars_stops_at_exactly_that_many(tmp_path, model):
    """A catch-up of many bars in one cycle must not overshoot daemon.max_bars (it published 13 for 5)."""
    from dataclasses import replace

    h = Harness(tmp_path, model)
    h.config = replace(h.config, daemon=replace(h.config.daemon, max_bars=5))
    try:
        daemon = h.start_daemon()  # the warm-up publishes the newest bar: 1
        h.clock.advance(20 * HOUR)  # 20 bars close at once
        daemon.cycle()
        assert daemon.published == 5 and daemon.stopped
        h.recorder.drain(0.3)
        assert len(h.recorder.messages) == 5
    finally:
        h.close()

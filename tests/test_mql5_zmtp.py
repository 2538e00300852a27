"""The MQL5 ZMTP subscriber's twin (tests/mql5twin/zmtp.py) against real libzmq publishers and misbehaving
peers: handshake, prefix filtering, multipart and long frames through partial reads, PING/PONG, dead peers,
publisher restarts, garbage. The poll call must never raise: an exception here is a stopped EA there."""

from __future__ import annotations

import os
import socket
import time

import pytest
import zmq
from hypothesis import given, settings, strategies as st

from mql5twin import mql5
from mql5twin import zmtp as Z
from mql5twin.peers import RawServer, bind, command, frame, greeting, poll_until, read_exactly, ready


@pytest.fixture(autouse=True)
def terminal():
    mql5.reset()
    yield
    mql5.reset()


class Client:
    """The twin as an EA's OnTimer drives it: Pump(), then take what messages are complete."""

    def __init__(self, port: int, *prefixes: str, minor: int = 1, budget: int = 65536, max_frame: int = 1 << 20):
        self.z = Z.CZmtpSubscriber()
        self.z.Configure("127.0.0.1", port)
        self.z.SetZmtpMinor(minor)
        self.z.SetTimeouts(1000, 2000, 3000, 10000)
        self.z.SetBackoff(20, 200)
        self.z.SetLimits(budget, max_frame)
        for p in prefixes:
            self.z.Subscribe(p)
        self.messages: list[list[bytes]] = []
        self.events: list[str] = []
        self.max_read = 0
        self.z.Start()

    def step(self) -> None:
        self.max_read = max(self.max_read, self.z.Pump())
        msg = Z.ZmtpMessage()
        while self.z.NextMessage(msg):
            self.messages.append([bytes(msg.data[msg.start[i]:msg.start[i] + msg.size[i]]) for i in range(msg.parts)])
        text = self.z.NextEvent()
        while text is not None:
            self.events.append(text)
            text = self.z.NextEvent()

    def topics(self) -> list[bytes]:
        return [m[0] for m in self.messages]


def wait_subscribed(client: Client, pub: zmq.Socket, marker: bytes = b"mt5bridge/heartbeat") -> None:
    """PUB drops what it sends before the subscription arrives: send markers until one gets through."""
    assert poll_until(lambda: (client.step(), pub.send_multipart([marker, b"m"])), lambda: marker in client.topics())
    pub.send_multipart([b"mt5bridge/end", b""])
    assert poll_until(client.step, lambda: b"mt5bridge/end" in client.topics())
    client.messages.clear()


@pytest.mark.parametrize("minor", [1, 0])
def test_handshake_and_prefix_filtering_with_libzmq(ctx, minor):
    pub, port = bind(zmq.PUB, ctx)
    c = Client(port, "mt5bridge/latent/EURUSD/", "mt5bridge/heartbeat", "mt5bridge/end", minor=minor)
    assert poll_until(c.step, c.z.IsReady)
    assert c.z.PeerMinor() == minor  # libzmq 4.3 offers 3.1; we speak the lower of the two
    assert c.z.Connects() == 1 and "connected to 127.0.0.1" in c.events[0]
    wait_subscribed(c, pub)
    for topic in [b"mt5bridge/latent/EURUSD/H1", b"mt5bridge/latent/GBPUSD/H1", b"mt5bridge/latent/EURUSD/M5",
                  b"mt5bridge/latentX", b"mt5bridge/end"]:
        pub.send_multipart([topic, b"payload"])
    assert poll_until(c.step, lambda: b"mt5bridge/end" in c.topics())
    assert c.topics() == [b"mt5bridge/latent/EURUSD/H1", b"mt5bridge/latent/EURUSD/M5", b"mt5bridge/end"]
    c.z.Stop()
    assert mql5.open_handles() == 0


@pytest.mark.parametrize("budget", [7, 1000, 65536])
def test_multipart_and_long_frames_through_partial_reads(ctx, budget):
    pub, port = bind(zmq.PUB, ctx)
    c = Client(port, "mt5bridge/", budget=budget)
    wait_subscribed(c, pub)
    sent = [
        [b"mt5bridge/a", bytes(range(256)) * 2],  # 512 bytes: a long frame
        [b"mt5bridge/b", b""],  # an empty part
        [b"mt5bridge/c", b"x" * 255, b"y" * 256, os.urandom(70_000)],  # 4 parts across the short/long edge
        [b"mt5bridge/d"],  # one part
        [b"mt5bridge/end", b"."],
    ]
    for parts in sent:
        pub.send_multipart(parts)
    assert poll_until(c.step, lambda: b"mt5bridge/end" in c.topics(), pause=0)  # 7 bytes a call: many calls
    assert c.messages == sent
    assert c.max_read <= budget  # bounded work per Pump()


def test_ping_answered_with_pong_so_a_heartbeating_publisher_keeps_us(ctx):
    pub, port = bind(zmq.PUB, ctx, HEARTBEAT_IVL=50, HEARTBEAT_TIMEOUT=1000)
    c = Client(port, "mt5bridge/")
    wait_subscribed(c, pub)
    assert poll_until(c.step, lambda: c.z.PongsOut() >= 40)  # ~2 s of 50 ms pings: twice its 1 s timeout
    assert c.z.Connects() == 1 and c.z.IsReady()
    pub.send_multipart([b"mt5bridge/after", b"1"])
    assert poll_until(c.step, lambda: b"mt5bridge/after" in c.topics())
    assert c.z.Connects() == 1


def test_without_pongs_the_same_publisher_drops_us(ctx):
    """The control for the test above: a twin that does not answer PING is dropped and reconnects."""

    class Mute(Z.CZmtpSubscriber):
        def SendPong(self, at, size):
            return True

    pub, port = bind(zmq.PUB, ctx, HEARTBEAT_IVL=50, HEARTBEAT_TIMEOUT=1000)
    c = Client(port, "mt5bridge/")
    c.z = Mute()
    c.z.Configure("127.0.0.1", port)
    c.z.SetBackoff(20, 200)
    c.z.Subscribe("mt5bridge/")
    c.z.Start()
    assert poll_until(c.step, lambda: c.z.Connects() >= 2)
    assert any("connection closed by the peer" in e for e in c.events)


def test_probe_pings_keep_a_quiet_connection_and_libzmq_answers_them(ctx):
    pub, port = bind(zmq.PUB, ctx)  # no heartbeats from the publisher, and nothing published
    c = Client(port, "mt5bridge/")
    c.z.SetTimeouts(1000, 2000, 50, 500)  # probe after 50 ms idle; dead after 500 ms
    assert poll_until(c.step, lambda: c.z.PongsIn() >= 10)
    assert c.z.Connects() == 1 and c.z.IsReady() and c.z.PingsOut() >= 10


@pytest.mark.parametrize("eof_visible", [True, False])
def test_publisher_restart_reconnects_and_resumes(ctx, eof_visible):
    """Both ways a terminal may report a closed peer: SocketIsConnected going false, or not at all (then the
    unanswered probe and the silence deadline find it)."""
    mql5.EOF_VISIBLE = eof_visible
    pub, port = bind(zmq.PUB, ctx)
    c = Client(port, "mt5bridge/")
    c.z.SetTimeouts(1000, 2000, 50, 400)
    wait_subscribed(c, pub)
    pub.close(0)
    assert poll_until(c.step, lambda: not c.z.IsReady())
    pub, _ = bind(zmq.PUB, ctx, port=port)
    assert poll_until(c.step, lambda: c.z.Connects() == 2)
    wait_subscribed(c, pub)  # subscriptions were sent again
    pub.send_multipart([b"mt5bridge/again", b"2"])
    assert poll_until(c.step, lambda: b"mt5bridge/again" in c.topics())
    pub.close(0)


def test_connection_refused_backs_off_and_logs_once(ctx):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = Client(port, "mt5bridge/")
    c.z.SetBackoff(10, 80)
    waits = []
    for _ in range(6):
        assert poll_until(c.step, lambda n=len(waits): c.z.Attempts() > n)
        waits.append(c.z.m_backoff_ms)
    assert waits == [20, 40, 80, 80, 80, 80]  # doubles up to the max
    assert len([e for e in c.events if "cannot connect" in e]) == 1  # the same failure is logged once
    assert c.z.State() == Z.ZMTP_WAITING and mql5.open_handles() == 0


def _handshake_then(tail: bytes, minor: int = 1, socket_type: bytes = b"PUB"):
    def behave(conn: socket.socket) -> None:
        read_exactly(conn, 64)
        conn.sendall(greeting(minor))
        conn.sendall(ready(socket_type) + tail)
        time.sleep(0.5)
    return behave


def _send(data: bytes):
    def behave(conn: socket.socket) -> None:
        conn.sendall(data)
        time.sleep(0.5)
    return behave


GARBAGE = {
    "http": _send(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
    "random": _send(os.urandom(300)),
    "zmtp2": _send(b"\xff" + bytes(8) + b"\x7f\x01\x05"),
    "plain_mechanism": _send(greeting(1, b"PLAIN")),
    "closes_at_once": lambda conn: None,
    "silent": lambda conn: time.sleep(1.5),  # never greets: the handshake deadline
    "req_socket": _handshake_then(b"", socket_type=b"REQ"),
    "error_command": lambda conn: (read_exactly(conn, 64), conn.sendall(greeting() + command(b"ERROR", b"\x03bye")),
                                   time.sleep(0.5)),
    "message_instead_of_ready": lambda conn: (read_exactly(conn, 64), conn.sendall(greeting() + frame(0, b"hi")),
                                              time.sleep(0.5)),
    "bad_flags": _handshake_then(b"\xf0\x01x"),
    "command_with_more": _handshake_then(b"\x05\x01x"),
    "huge_frame": _handshake_then(b"\x02" + (1 << 62).to_bytes(8, "big")),
    "over_limit_frame": _handshake_then(b"\x02" + (2_000_000).to_bytes(8, "big")),
    "too_many_parts": _handshake_then(frame(1, b"p") * 17),
    "empty_command": _handshake_then(b"\x04\x00"),
    "bad_command_name": _handshake_then(b"\x04\x02\x09P"),
    "peer_error_later": _handshake_then(command(b"ERROR", b"\x00")),
}


AFTER_HANDSHAKE = {"bad_flags", "command_with_more", "huge_frame", "over_limit_frame", "too_many_parts",
                   "empty_command", "bad_command_name", "peer_error_later"}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_from_the_peer_disconnects_and_retries(name):
    server = RawServer(GARBAGE[name])
    try:
        c = Client(server.port, "mt5bridge/", max_frame=1 << 20)
        c.z.SetTimeouts(1000, 300, 3000, 10000)
        assert poll_until(c.step, lambda: c.z.Attempts() >= 3)  # no exception came out of the poll call
        assert c.messages == [] and c.events
        assert (c.z.Connects() > 0) == (name in AFTER_HANDSHAKE)
    finally:
        c.z.Stop()
        server.close()
    assert mql5.open_handles() == 0


def test_a_peer_that_stops_answering_is_found_dead():
    """Handshake done, then silence: the probe PING stays unanswered and the silence deadline reconnects."""

    def behave(conn: socket.socket) -> None:
        read_exactly(conn, 64)
        conn.sendall(greeting() + ready())
        time.sleep(1.5)

    server = RawServer(behave)
    try:
        c = Client(server.port, "mt5bridge/")
        c.z.SetTimeouts(1000, 1000, 50, 300)
        mql5.EOF_VISIBLE = False
        assert poll_until(c.step, lambda: c.z.Connects() >= 2)
        assert any("peer silent for" in e for e in c.events) and c.z.PingsOut() >= 1
    finally:
        c.z.Stop()
        server.close()


# --- the frame parser offline: the bytes go straight into the input buffer


def _ready_twin(max_frame: int = 1 << 20) -> Z.CZmtpSubscriber:
    z = Z.CZmtpSubscriber()
    z.SetLimits(64, max_frame)
    z.m_state = Z.ZMTP_READY  # as after a handshake; m_socket stays INVALID_HANDLE, so nothing is sent
    z.m_peer_minor = 1
    return z


def _feed(z: Z.CZmtpSubscriber, data: bytes, cuts: list[int]) -> list[list[bytes]]:
    """Appends data in pieces (partial reads) and takes every complete message after each piece."""
    out, msg, last = [], Z.ZmtpMessage(), 0
    for cut in sorted(set(cuts)) + [len(data)]:
        piece = mql5.uchar_array(data[last:cut])
        last = max(last, cut)
        z.Append(piece, len(piece))
        while z.NextMessage(msg):
            out.append([bytes(msg.data[msg.start[i]:msg.start[i] + msg.size[i]]) for i in range(msg.parts)])
    return out


parts = st.lists(st.binary(max_size=600), min_size=1, max_size=4)


@settings(max_examples=120, deadline=None)
@given(messages=st.lists(parts, min_size=1, max_size=6), pings=st.lists(st.binary(max_size=16), max_size=3),
       data=st.data())
def test_any_split_of_any_frames_gives_the_same_messages(messages, pings, data):
    wire = b""
    for m in messages:
        for ctx in pings[:1]:
            wire += command(b"PING", b"\x00\x00" + ctx)  # commands between messages are handled, not delivered
        wire += b"".join(frame(1 if i < len(m) - 1 else 0, p) for i, p in enumerate(m))
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=20))
    z = _ready_twin()
    assert _feed(z, wire, cuts) == messages
    assert z.IsReady() and z.m_pongs_out == len(messages) * min(1, len(pings))


def test_ping_gets_a_pong_with_its_context_and_other_commands_are_ignored():
    z = _ready_twin()
    data = (command(b"PING", b"\x00\x0aabc") + command(b"PING", b"\x00\x00" + bytes(range(20)))
            + command(b"PING") + command(b"FUTURE", b"x") + command(b"PONG", b"abc") + frame(0, b"m"))
    assert _feed(z, data, []) == [[b"m"]]
    pongs = command(b"PONG", b"abc") + command(b"PONG", bytes(range(16))) + command(b"PONG")
    assert bytes(z.m_out[:z.m_out_len]) == pongs  # unsent here (no socket): what Flush would send
    assert (z.PingsIn(), z.PongsOut(), z.PongsIn()) == (3, 3, 1) and z.IsReady()


def test_what_we_send_is_the_zmtp_we_mean():
    z = Z.CZmtpSubscriber()
    z.QueueGreeting()
    z.m_peer_minor = 1
    z.QueueReady()
    z.QueueSubscription("mt5bridge/")
    z.m_peer_minor = 0
    z.QueueSubscription("mt5bridge/")
    z.QueueFrame(0, mql5.uchar_array(b"x" * 300), 300)
    assert bytes(z.m_out[:z.m_out_len]) == (greeting(1) + ready(b"SUB") + command(b"SUBSCRIBE", b"mt5bridge/")
                                            + frame(0, b"\x01mt5bridge/") + frame(0, b"x" * 300))


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=400), data=st.data())
def test_any_bytes_never_raise(junk, data):
    z = _ready_twin(max_frame=300)
    cuts = data.draw(st.lists(st.integers(0, len(junk)), max_size=8))
    for m in _feed(z, junk, cuts):
        assert 1 <= len(m) <= Z.ZMTP_MAX_PARTS and sum(map(len, m)) <= 300
    assert z.State() in (Z.ZMTP_READY, Z.ZMTP_WAITING)

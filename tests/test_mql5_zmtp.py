"""The MQL5 ZMTP subscriber against real libzmq publishers and misbehaving peers: handshake, prefix filtering,
multipart and long frames through partial reads, PING/PONG, dead peers, publisher restarts, garbage, a daemon
that is down. Each scenario runs on both: the twin (tests/mql5twin/zmtp.py, the readable specification) and
Zmtp.mqh itself, compiled against the C++ MQL5 runtime (tests/mql5check/native.py; skipped without g++). The poll
call must never raise (twin) nor stop the program (MQL5): either is a stopped EA in a terminal."""

from __future__ import annotations

import os
import socket
import time

import pytest
import zmq
from hypothesis import given, settings, strategies as st

from mql5check import native
from mql5twin import mql5
from mql5twin import zmtp as Z
from mql5twin.peers import RawServer, bind, command, frame, greeting, poll_until, read_exactly, ready

IMPLS = native.implementations()


@pytest.fixture(autouse=True)
def terminal():
    mql5.reset()
    yield
    mql5.reset()


class Client:
    """The subscriber as an EA's OnTimer drives it: Pump(), then take what messages are complete. `impl` is the
    twin or the compiled Zmtp.mqh (its own process; env sets the runtime's, e.g. MQL5_EOF_VISIBLE)."""

    def __init__(self, port: int, *prefixes: str, minor: int = 1, budget: int = 65536, max_frame: int = 1 << 20,
                 impl: str = "twin", request=None, env: dict[str, str] | None = None):
        self.impl = impl
        if impl == "twin":
            self.z = Z.CZmtpSubscriber()
        else:
            self.bridge = native.Bridge(env=env)
            if request is not None:
                request.node.processes.append(self.bridge)
            self.z = native.NativeZmtp(self.bridge)
        self.z.Configure("127.0.0.1", port)
        self.z.SetZmtpMinor(minor)
        self.z.SetTimeouts(100, 2000, 3000, 10000)  # a refused connect takes the connect timeout (Windows)
        self.z.SetBackoff(20, 200)
        self.z.SetLimits(budget, max_frame)
        for p in prefixes:
            self.z.Subscribe(p)
        self.messages: list[list[bytes]] = []
        self.events: list[str] = []
        self.max_read = 0
        self.blocked: list[float] = []  # seconds each Pump() held the caller's thread
        self.z.Start()

    def step(self) -> None:
        if self.impl != "twin":
            r = self.z.step()
            self.max_read = max(self.max_read, r["got"])
            self.blocked.append(r["blocked_us"] / 1e6)
            self.messages += [[bytes.fromhex(p) for p in m] for m in r["messages"]]
            self.events += r["events"]
            return
        began = mql5.clock()
        self.max_read = max(self.max_read, self.z.Pump())
        self.blocked.append(mql5.clock() - began)
        msg = Z.ZmtpMessage()
        while self.z.NextMessage(msg):
            self.messages.append([bytes(msg.data[msg.start[i]:msg.start[i] + msg.size[i]]) for i in range(msg.parts)])
        text = self.z.NextEvent()
        while text is not None:
            self.events.append(text)
            text = self.z.NextEvent()

    def topics(self) -> list[bytes]:
        return [m[0] for m in self.messages]

    def open_handles(self) -> int:
        return mql5.open_handles() if self.impl == "twin" else self.bridge.call("sockets")


def client(impl: str, request, port: int, *prefixes: str, **kw) -> Client:
    return Client(port, *prefixes, impl=impl, request=request, **kw)


def wait_subscribed(client: Client, pub: zmq.Socket, marker: bytes = b"mt5bridge/heartbeat") -> None:
    """PUB drops what it sends before the subscription arrives: send markers until one gets through."""
    assert poll_until(lambda: (client.step(), pub.send_multipart([marker, b"m"])), lambda: marker in client.topics())
    pub.send_multipart([b"mt5bridge/end", b""])
    assert poll_until(client.step, lambda: b"mt5bridge/end" in client.topics())
    client.messages.clear()


@pytest.mark.parametrize("minor", [1, 0])
def test_handshake_and_prefix_filtering_with_libzmq(ctx, impl, request, minor):
    pub, port = bind(zmq.PUB, ctx)
    c = client(impl, request, port, "mt5bridge/latent/EURUSD/", "mt5bridge/heartbeat", "mt5bridge/end", minor=minor)
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
    assert c.open_handles() == 0


@pytest.mark.parametrize("budget", [7, 1000, 65536])
def test_multipart_and_long_frames_through_partial_reads(ctx, impl, request, budget):
    pub, port = bind(zmq.PUB, ctx)
    c = client(impl, request, port, "mt5bridge/", budget=budget)
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


def test_ping_answered_with_pong_so_a_heartbeating_publisher_keeps_us(ctx, impl, request):
    pub, port = bind(zmq.PUB, ctx, HEARTBEAT_IVL=50, HEARTBEAT_TIMEOUT=1000)
    c = client(impl, request, port, "mt5bridge/")
    wait_subscribed(c, pub)
    assert poll_until(c.step, lambda: c.z.PongsOut() >= 40)  # ~2 s of 50 ms pings: twice its 1 s timeout
    assert c.z.Connects() == 1 and c.z.IsReady()
    pub.send_multipart([b"mt5bridge/after", b"1"])
    assert poll_until(c.step, lambda: b"mt5bridge/after" in c.topics())
    assert c.z.Connects() == 1


def test_without_pongs_the_same_publisher_drops_us(ctx):
    """The control for the test above (on the twin: it is the publisher's behaviour that is tested): a twin that
    does not answer PING is dropped and reconnects."""

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
    assert any("closed by the peer" in e for e in c.events)


def test_probe_pings_keep_a_quiet_connection_and_libzmq_answers_them(ctx, impl, request):
    pub, port = bind(zmq.PUB, ctx)  # no heartbeats from the publisher, and nothing published
    c = client(impl, request, port, "mt5bridge/")
    c.z.SetTimeouts(100, 2000, 50, 500)  # probe after 50 ms idle; dead after 500 ms
    assert poll_until(c.step, lambda: c.z.PongsIn() >= 10)
    assert c.z.Connects() == 1 and c.z.IsReady() and c.z.PingsOut() >= 10


@pytest.mark.parametrize("eof_visible", [True, False])
def test_publisher_restart_reconnects_and_resumes(ctx, impl, request, eof_visible):
    """Both ways a terminal may report a closed peer: SocketIsConnected going false, or not at all (then the read
    error, or the unanswered probe and the silence deadline, find it)."""
    mql5.EOF_VISIBLE = eof_visible
    pub, port = bind(zmq.PUB, ctx)
    c = client(impl, request, port, "mt5bridge/", env={"MQL5_EOF_VISIBLE": str(int(eof_visible))})
    c.z.SetTimeouts(100, 2000, 50, 400)
    wait_subscribed(c, pub)
    pub.close(0)
    assert poll_until(c.step, lambda: not c.z.IsReady())
    pub, _ = bind(zmq.PUB, ctx, port=port)
    assert poll_until(c.step, lambda: c.z.Connects() == 2)
    wait_subscribed(c, pub)  # subscriptions were sent again
    pub.send_multipart([b"mt5bridge/again", b"2"])
    assert poll_until(c.step, lambda: b"mt5bridge/again" in c.topics())
    pub.close(0)


def _free_port() -> int:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_backs_off_and_logs_once(impl, request):
    c = client(impl, request, _free_port(), "mt5bridge/")
    c.z.SetBackoff(10, 80)
    waits = []
    for _ in range(6):
        assert poll_until(c.step, lambda n=len(waits): c.z.Attempts() > n)
        waits.append(c.z.m_backoff_ms)
    assert waits == [20, 40, 80, 80, 80, 80]  # doubles up to the max
    assert len([e for e in c.events if "cannot connect" in e]) == 1  # the same failure is logged once
    assert c.z.State() == Z.ZMTP_WAITING and c.open_handles() == 0


def test_while_the_daemon_is_down_the_eas_thread_is_blocked_briefly_and_rarely(impl, request):
    """A refused connection takes the connect timeout on Windows (it retries the SYN, even on loopback), and
    SocketConnect blocks the EA's thread meanwhile: a minute of a daemon being down, with the defaults and the EA's
    100 ms timer, must freeze no single OnTimer for long and the thread for a small share of the minute. Virtual
    time: the refused connect's wait moves the clock instead of sleeping (mql5.VirtualClock, MQL5_VIRTUAL_WAITS)."""
    port = _free_port()
    if impl == "twin":
        clock = mql5.VirtualClock(virtual_waits=True)
        mql5.clock, mql5.sleep = clock, clock.sleep
        z = Z.CZmtpSubscriber()
    else:
        bridge = native.Bridge(env={"MQL5_VIRTUAL_WAITS": "1"})
        request.node.processes.append(bridge)
        z = native.NativeZmtp(bridge)
    z.Configure("127.0.0.1", port)  # nothing else set: the defaults are what is measured
    z.Subscribe("mt5bridge/")
    z.Start()
    blocked, attempts_at, elapsed = [], [], 0.0
    while elapsed < 60.0:
        before = z.Attempts()
        if impl == "twin":
            began = mql5.clock()
            z.Pump()
            took = mql5.clock() - began
            clock.advance(0.1)
        else:
            took = z.step()["blocked_us"] / 1e6
            bridge.call("clock", 100)
        if z.Attempts() > before:
            attempts_at.append(elapsed)
        blocked.append(took)
        elapsed += took + 0.1
    gaps = [b - a for a, b in zip(attempts_at, attempts_at[1:])]
    assert max(blocked) <= 0.3, f"one OnTimer blocked {max(blocked):.2f} s"  # the 250 ms connect timeout
    assert sum(blocked) <= 0.08 * elapsed, f"blocked {sum(blocked):.1f} s of {elapsed:.0f} s"
    assert all(b >= a - 0.11 for a, b in zip(gaps, gaps[1:])) and max(gaps) <= 5.5  # the backoff grows to 5 s
    assert len(attempts_at) >= 10  # and it keeps trying: a daemon that comes back is found within ~5 s


@pytest.mark.parametrize("timeout_error", [0, 5273])
def test_a_speculative_readable_byte_is_not_an_error(impl, request, timeout_error):
    """SocketIsReadable reports 1 byte on an empty socket (MQL5 book); the read then times out with -1 and no error
    code (documented), or, on a terminal that would set one (undocumented: 5273 tried), with the connection still
    standing. A peer that greets late and then stays quiet must cost no reconnect."""
    mql5.TIMEOUT_ERROR = timeout_error

    def behave(conn: socket.socket) -> None:
        read_exactly(conn, 64)
        time.sleep(0.3)  # many polls find nothing buffered: each read after the speculative byte times out
        conn.sendall(greeting())
        time.sleep(0.3)
        conn.sendall(ready())
        time.sleep(0.3)
        conn.sendall(frame(0, b"mt5bridge/x"))  # no subscription needed: a raw peer sends what it likes
        time.sleep(1.0)

    server = RawServer(behave)
    try:
        c = client(impl, request, server.port, "mt5bridge/", env={"MQL5_TIMEOUT_ERROR": str(timeout_error)})
        assert poll_until(c.step, lambda: c.messages == [[b"mt5bridge/x"]], timeout=5)
        assert c.z.Attempts() == 1 and c.z.Connects() == 1, c.events
        assert max(c.blocked) < 0.2  # the read's wait is short (ZMTP_READ_WAIT_MS), far from a stall
    finally:
        c.z.Stop()
        server.close()


def test_a_closed_peer_is_found_by_the_read_when_SocketIsConnected_misses_it(impl, request):
    """A terminal whose SocketIsConnected does not notice the close: the read after the (speculative) readable
    byte gets ERR_NETSOCKET_IO_ERROR, which is the closed peer, long before the silence deadline."""
    mql5.EOF_VISIBLE = False

    def behave(conn: socket.socket) -> None:
        read_exactly(conn, 64)
        conn.sendall(greeting() + ready())
        time.sleep(0.2)

    server = RawServer(behave)
    try:
        c = client(impl, request, server.port, "mt5bridge/", env={"MQL5_EOF_VISIBLE": "0"})
        c.z.SetTimeouts(100, 2000, 30000, 60000)  # no probe, no silence deadline within the test
        assert poll_until(c.step, lambda: c.z.Connects() >= 1 and not c.z.IsReady(), timeout=3)
        assert any("connection closed by the peer or lost (read error 5273)" in e for e in c.events), c.events
    finally:
        c.z.Stop()
        server.close()


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
def test_garbage_from_the_peer_disconnects_and_retries(impl, request, name):
    server = RawServer(GARBAGE[name])
    try:
        c = client(impl, request, server.port, "mt5bridge/", max_frame=1 << 20)
        c.z.SetTimeouts(100, 300, 3000, 10000)
        assert poll_until(c.step, lambda: c.z.Attempts() >= 3)  # no exception came out of the poll call
        assert c.messages == [] and c.events
        assert (c.z.Connects() > 0) == (name in AFTER_HANDSHAKE)
    finally:
        c.z.Stop()
        server.close()
    assert c.open_handles() == 0


def test_a_peer_that_stops_answering_is_found_dead(impl, request):
    """Handshake done, then silence: the probe PING stays unanswered and the silence deadline reconnects."""

    def behave(conn: socket.socket) -> None:
        read_exactly(conn, 64)
        conn.sendall(greeting() + ready())
        time.sleep(1.5)

    server = RawServer(behave)
    try:
        mql5.EOF_VISIBLE = False
        c = client(impl, request, server.port, "mt5bridge/", env={"MQL5_EOF_VISIBLE": "0"})
        c.z.SetTimeouts(100, 1000, 50, 300)
        assert poll_until(c.step, lambda: c.z.Connects() >= 2)
        assert any("peer silent for" in e for e in c.events) and c.z.PingsOut() >= 1
    finally:
        c.z.Stop()
        server.close()


# --- the frame parser offline: the bytes go straight into the input buffer


class Offline:
    """A subscriber as after a handshake with a ZMTP 3.1 peer, with no socket (nothing is sent): the twin, or
    Zmtp.mqh in a compiled program shared by the offline tests (the object is renewed for each use)."""

    def __init__(self, impl: str, max_frame: int = 1 << 20, bridge: native.Bridge | None = None):
        self.impl = impl
        if impl == "twin":
            self.z = Z.CZmtpSubscriber()
            self.z.SetLimits(64, max_frame)
            self.z.m_state = Z.ZMTP_READY
            self.z.m_peer_minor = 1
        else:
            self.z = native.NativeZmtp(bridge or _offline_bridge())
            self.z.SetLimits(64, max_frame)
            self.z.set(native.Word("m_state"), Z.ZMTP_READY)
            self.z.set(native.Word("m_peer_minor"), 1)

    def feed(self, data: bytes, cuts: list[int]) -> list[list[bytes]]:
        """Appends data in pieces (partial reads) and takes every complete message after each piece."""
        out, last = [], 0
        for cut in sorted(set(cuts)) + [len(data)]:
            piece = data[last:cut]
            last = max(last, cut)
            if self.impl == "twin":
                self.z.Append(mql5.uchar_array(piece), len(piece))
                msg = Z.ZmtpMessage()
                while self.z.NextMessage(msg):
                    out.append([bytes(msg.data[msg.start[i]:msg.start[i] + msg.size[i]]) for i in range(msg.parts)])
            else:
                self.z.Append(piece)
                out += [[bytes.fromhex(p) for p in m] for m in self.z.drain()]
        return out

    def out(self) -> bytes:
        """What Flush would send (unsent here: no socket)."""
        return bytes(self.z.m_out[:self.z.m_out_len]) if self.impl == "twin" else bytes.fromhex(self.z.m_out)

    def pongs_out(self) -> int:
        return self.z.m_pongs_out


_offline: list[native.Bridge] = []


def _offline_bridge() -> native.Bridge:
    if not _offline:
        import atexit

        _offline.append(native.Bridge())
        atexit.register(_offline[0].close)
    return _offline[0]


parts = st.lists(st.binary(max_size=600), min_size=1, max_size=4)


def frames(messages: list[list[bytes]], pings: list[bytes]) -> bytes:
    wire = b""
    for m in messages:
        for ctx in pings[:1]:
            wire += command(b"PING", b"\x00\x00" + ctx)  # commands between messages are handled, not delivered
        wire += b"".join(frame(1 if i < len(m) - 1 else 0, p) for i, p in enumerate(m))
    return wire


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=120, deadline=None)
@given(messages=st.lists(parts, min_size=1, max_size=6), pings=st.lists(st.binary(max_size=16), max_size=3),
       data=st.data())
def test_any_split_of_any_frames_gives_the_same_messages(impl, messages, pings, data):
    wire = frames(messages, pings)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=20))
    z = Offline(impl)
    assert z.feed(wire, cuts) == messages
    assert z.z.IsReady() and z.pongs_out() == len(messages) * min(1, len(pings))


PING_PONG_IN = (command(b"PING", b"\x00\x0aabc") + command(b"PING", b"\x00\x00" + bytes(range(20)))
                + command(b"PING") + command(b"FUTURE", b"x") + command(b"PONG", b"abc") + frame(0, b"m"))
PING_PONG_OUT = command(b"PONG", b"abc") + command(b"PONG", bytes(range(16))) + command(b"PONG")


@pytest.mark.parametrize("impl", IMPLS)
def test_ping_gets_a_pong_with_its_context_and_other_commands_are_ignored(impl):
    z = Offline(impl)
    assert z.feed(PING_PONG_IN, []) == [[b"m"]]
    assert z.out() == PING_PONG_OUT
    assert (z.z.PingsIn(), z.z.PongsOut(), z.z.PongsIn()) == (3, 3, 1) and z.z.IsReady()


WHAT_WE_SEND = (greeting(1) + ready(b"SUB") + command(b"SUBSCRIBE", b"mt5bridge/") + frame(0, b"\x01mt5bridge/")
                + frame(0, b"x" * 300) + frame(0, bytes(range(256)) * 300))


def what_we_send(z: Offline) -> bytes:
    if z.impl == "twin":
        z.z.m_peer_minor = -1
        z.z.QueueGreeting()
        z.z.m_peer_minor = 1
        z.z.QueueReady()
        z.z.QueueSubscription("mt5bridge/")
        z.z.m_peer_minor = 0
        z.z.QueueSubscription("mt5bridge/")
        for body in (b"x" * 300, bytes(range(256)) * 300):
            z.z.QueueFrame(0, mql5.uchar_array(body), len(body))
    else:
        z.z.QueueGreeting()
        z.z.QueueReady()
        z.z.QueueSubscription("mt5bridge/")
        z.z.set(native.Word("m_peer_minor"), 0)
        z.z.QueueSubscription("mt5bridge/")
        for body in (b"x" * 300, bytes(range(256)) * 300):
            z.z.QueueFrame(0, body)
    return z.out()


def handshake_offline(impl: str, bridge: native.Bridge | None = None) -> tuple[int, int, list[str], bytes]:
    """The peer's greeting and READY (its Socket-Type and a property after it) read from the input buffer: the
    state, the negotiated minor version, the events and what we queue in answer (READY, then the subscription)."""
    z = Offline(impl, bridge=bridge)
    data = greeting(1) + command(b"READY", b"\x0bSocket-Type" + (3).to_bytes(4, "big") + b"PUB"
                                 + b"\x08Identity" + (300).to_bytes(4, "big") + b"i" * 300)
    if impl == "twin":
        z.z.m_state = Z.ZMTP_GREETING
        z.z.Append(mql5.uchar_array(data), len(data))
    else:
        z.z.set(native.Word("m_state"), Z.ZMTP_GREETING)
        z.z.Append(data)
    z.z.Subscribe("mt5bridge/")  # before READY: sent after the peer's READY
    z.z.ReadGreeting()
    z.z.ReadReady()
    events = []
    text = z.z.NextEvent()
    while text is not None:
        events.append(text)
        text = z.z.NextEvent()
    return z.z.State(), z.z.PeerMinor(), events, z.out()


@pytest.mark.parametrize("impl", IMPLS)
def test_the_peers_greeting_and_ready_are_read(impl):
    state, minor, events, out = handshake_offline(impl)
    assert (state, minor) == (Z.ZMTP_READY, 1), events
    assert events == ["connected to 127.0.0.1:5556 (PUB, ZMTP 3.1)"]
    assert out == ready(b"SUB") + command(b"SUBSCRIBE", b"mt5bridge/")


@pytest.mark.parametrize("impl", IMPLS)
def test_what_we_send_is_the_zmtp_we_mean(impl):
    assert what_we_send(Offline(impl)) == WHAT_WE_SEND


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=400), data=st.data())
def test_any_bytes_never_raise(impl, junk, data):
    z = Offline(impl, max_frame=300)
    cuts = data.draw(st.lists(st.integers(0, len(junk)), max_size=8))
    for m in z.feed(junk, cuts):
        assert 1 <= len(m) <= Z.ZMTP_MAX_PARTS and sum(map(len, m)) <= 300
    assert z.z.State() in (Z.ZMTP_READY, Z.ZMTP_WAITING)

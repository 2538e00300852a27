"""Peers for the twin's tests (not a twin): libzmq publishers, a last-value-cache XPUB, raw TCP servers that
misbehave, and a poll loop with a generous deadline."""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Callable

import zmq

from mt5bridge import wire


def poll_until(step: Callable[[], object], done: Callable[[], bool], timeout: float = 10.0,
               pause: float = 0.002) -> bool:
    """Calls step() (an OnTimer) until done() or the deadline; the deadline only stops a hung test."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        step()
        if done():
            return True
        time.sleep(pause)
    return False


def bind(kind: int, ctx: zmq.Context, port: int | None = None, **options) -> tuple[zmq.Socket, int]:
    sock = ctx.socket(kind)
    sock.linger = 0
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name), value)
    if port is None:
        port = sock.bind_to_random_port("tcp://127.0.0.1")
    else:
        sock.bind(f"tcp://127.0.0.1:{port}")
    return sock, port


class LvcPublisher:
    """What the daemon does on the wire: an XPUB that re-sends the last message of every matching topic when a
    subscription arrives (docs/PROTOCOL.md, late joiners). serve() is called from the test's poll loop."""

    def __init__(self, ctx: zmq.Context, port: int | None = None, **options):
        self.sock, self.port = bind(zmq.XPUB, ctx, port, XPUB_VERBOSE=1, **options)
        self.cache: dict[bytes, bytes] = {}
        self.subscriptions: list[bytes] = []
        self.sequence = 0
        self.clock_ms = 1_700_000_000_000  # publish_time_ms: one ms later for every message, as a clock would

    def serve(self) -> None:
        while not self.sock.closed:
            try:
                event = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if event[:1] == b"\x01":
                prefix = event[1:]
                self.subscriptions.append(prefix)
                for topic, payload in list(self.cache.items()):
                    if topic.startswith(prefix):
                        self.sock.send_multipart([topic, payload])

    def send(self, topic: str, payload: bytes) -> None:
        self.cache[topic.encode()] = payload
        self.sock.send_multipart([topic.encode(), payload])

    def latent(self, symbol: str, tf_name: str, tf: int, stream_sequence: int, bar_time: int,
               flags: int = wire.FLAG_WARM, z: int = 4) -> wire.LatentMessage:
        self.sequence += 1
        self.clock_ms += 1
        msg = wire.LatentMessage(self.sequence, self.clock_ms, symbol, tf, flags, bar_time,
                                 stream_sequence, 0.25, 50.0, tuple(float(k) for k in range(z)))
        self.send(wire.latent_topic(symbol, tf_name), wire.encode(msg))
        return msg

    def heartbeat(self, interval_ms: int, streams: tuple[wire.StreamStatus, ...] = ()) -> None:
        self.clock_ms += 1
        beat = wire.HeartbeatMessage(self.sequence, self.clock_ms, interval_ms, streams)
        self.send(wire.HEARTBEAT_TOPIC, wire.encode(beat))

    def close(self) -> None:
        self.sock.close(0)


def greeting(minor: int = 1, mechanism: bytes = b"NULL") -> bytes:
    return b"\xff" + bytes(8) + b"\x7f" + bytes([3, minor]) + mechanism.ljust(20, b"\0") + bytes(32)


def frame(flags: int, body: bytes) -> bytes:
    if len(body) > 255:
        return bytes([flags | 0x02]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def command(name: bytes, data: bytes = b"") -> bytes:
    return frame(0x04, bytes([len(name)]) + name + data)


def ready(socket_type: bytes = b"PUB") -> bytes:
    return command(b"READY", b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type)


class RawServer:
    """A TCP server on a random loopback port; each connection runs behave(conn) in its own thread."""

    def __init__(self, behave: Callable[[socket.socket], None]):
        self.behave = behave
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(2.0)
            self.behave(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.listener.close()


def read_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data

"""ZeroMQ sockets: the daemon's XPUB publisher and the reference SUB subscriber. The only module importing zmq.

The publisher keeps, per topic, the recent messages (a last-value cache plus a short history) so that
- a subscription re-sends the last message of every matching topic at once (late joiners, zguide's lvcache);
- a subscription to `mt5bridge/resend/<SYMBOL>/<TF>/<N>` re-sends that stream's cached messages with
  stream_sequence >= N (gap recovery after a restart; docs/PROTOCOL.md).
Sends never block: a subscriber at its high-water mark loses the message (it sees a gap).

Counting what subscribers miss: libzmq reports a full subscriber once — the send that finds its pipe full fails
(with XPUB_NODROP) — and then takes that pipe out of the distribution until the subscriber reads again, so later
sends succeed and its losses are invisible here (measured: 17 failed sends for 4,830 messages lost; libzmq's
dist.cpp). XPUB offers no per-subscriber counters, and socket monitoring reports connections, not drops. So the
numbers come from the subscribers themselves: a subscriber that notices a gap asks for a re-send of it (a
subscription, the only message a SUB sends), and that request says which stream_sequences it lacks. `on_missed` is
called with them (each sequence counted once per topic: messages missed by at least one subscriber); a subscriber
that never asks (frozen for good, or one that does not re-send) stays uncounted, and `hwm_events` at least says
that someone was full.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from .errors import ConfigError
from .wire import TOPIC_PREFIX

log = logging.getLogger("mt5bridge.zmq")

RESEND_PREFIX = f"{TOPIC_PREFIX}resend/"
# mt5bridge/resend/<SYMBOL>/<TF>/<N>: re-send from N; .../<N>-<M>: N..M-1 are missing (M: the first one held).
_RESEND = re.compile(rf"^{re.escape(RESEND_PREFIX)}(.+)/([A-Z0-9]+)/(\d+)(?:-(\d+))?$")
HWM_LOG_EVERY_S = 60.0  # a subscriber stuck at its high-water mark is logged at most this often


def is_loopback(endpoint: str) -> bool:
    """True for tcp://127.x.x.x, tcp://[::1], tcp://localhost and ipc/inproc endpoints (this machine only); every
    other transport (tipc://, vmci://, pgm://, ws://, a malformed tcp://...) may reach other machines: False."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    match = re.match(r"^tcp://(\[?[^\]]*\]?|[^:]*):(\d+|\*)$", endpoint)
    if not match:
        return False
    host = match[1].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*" or an interface name: all interfaces
        return False


def load_key_file(path: Path, what: str) -> tuple[bytes, bytes | None]:
    """(public, secret or None) from a ZeroMQ certificate file; a missing or foreign file is a ConfigError."""
    try:
        return zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:  # pyzmq: OSError if absent, ValueError if no public key in it
        raise ConfigError(f"{what} {path}: not a readable ZeroMQ key file ({exc})") from None


@dataclass(frozen=True)
class CurveServerKeys:
    secret_file: Path  # the daemon's key pair, as written by `mt5bridge keys`
    clients_dir: Path  # public keys (*.key) of the subscribers allowed in


def write_keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """Writes <name>.key (public) and <name>.key_secret (keep private) in ZeroMQ's certificate format.

    pyzmq writes both with the process's umask (0644 by default); the secret one is narrowed to 0600, its owner
    alone. On Windows chmod only toggles read-only: there the folder's ACL decides who reads it (docs/DAEMON.md).
    """
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(folder), name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


class Publisher:
    """XPUB bound at `endpoint`; call `publish` per message and `serve` while idle to answer subscriptions."""

    def __init__(self, endpoint: str, *, sndhwm: int = 10_000, zmq_heartbeat_ms: int = 10_000, history: int = 256,
                 curve: CurveServerKeys | None = None, insecure_bind: bool = False):
        if not is_loopback(endpoint) and curve is None and not insecure_bind:
            raise ConfigError(f"publisher.endpoint {endpoint!r} is not a loopback address: configure CurveZMQ "
                              "(publisher.curve_secret_file and publisher.curve_clients_dir, see `mt5bridge keys`) "
                              "or pass --insecure-bind explicitly")
        if not is_loopback(endpoint) and curve is None:
            log.warning("INSECURE: publishing unencrypted and unauthenticated on %s (--insecure-bind)", endpoint)
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.XPUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SNDHWM, sndhwm)
        self.socket.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscription reaches us, so every joiner gets the cache
        self.socket.setsockopt(zmq.XPUB_NODROP, 1)  # a full subscriber makes send fail: that is how drops are counted
        if zmq_heartbeat_ms > 0:
            self.socket.setsockopt(zmq.HEARTBEAT_IVL, zmq_heartbeat_ms)
            self.socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * zmq_heartbeat_ms)
        self.authenticator = None
        if curve is not None:
            self._setup_curve(curve)
        try:
            self.socket.bind(endpoint)
        except zmq.ZMQError as exc:
            self.close()
            raise ConfigError(f"publisher.endpoint {endpoint!r}: cannot bind ({exc})") from None
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.history = history
        self.cache: dict[str, deque[tuple[int, bytes]]] = {}  # topic -> recent (stream_sequence, payload)
        self.sent = 0
        self.dropped = 0  # high-water-mark events: sends that found a subscriber full (a lower bound, see above)
        self.on_drop: Callable[[], None] | None = None
        self.missed: dict[str, int] = {}  # topic -> messages subscribers reported missing (re-send requests)
        self.on_missed: Callable[[str, int, int, int], None] | None = None  # (topic, count, first, last)
        self._counted_upto: dict[str, int] = {}  # topic -> highest stream_sequence already counted as missed
        self._hwm_logged_at = -HWM_LOG_EVERY_S
        # Heartbeats are not cached: a subscription to them gets a fresh one from this callable (topic, payload),
        # since a cached heartbeat can be older than the latent re-sent with it and would look like a reset.
        self.fresh_heartbeat: Callable[[], tuple[str, bytes]] | None = None

    def _setup_curve(self, keys: CurveServerKeys) -> None:
        public, secret = load_key_file(keys.secret_file, "publisher.curve_secret_file")
        if secret is None:
            raise ConfigError(f"publisher.curve_secret_file {keys.secret_file} holds no secret key")
        if not Path(keys.clients_dir).is_dir():
            raise ConfigError(f"publisher.curve_clients_dir {keys.clients_dir} is not a folder")
        self.authenticator = ThreadAuthenticator(self.context)
        self.authenticator.start()
        self.authenticator.configure_curve(domain="*", location=str(keys.clients_dir))
        self.socket.curve_server = True
        self.socket.curve_publickey = public
        self.socket.curve_secretkey = secret

    # --- sending ------------------------------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, stream_sequence: int = 0, cache: bool = True) -> bool:
        """Send without blocking; False when some subscriber was full and missed it (counted in `dropped`)."""
        if cache:
            ring = self.cache.setdefault(topic, deque(maxlen=self.history))
            ring.append((stream_sequence, payload))
        return self._send(topic.encode(), payload)

    def _send(self, topic: bytes, payload: bytes) -> bool:
        try:
            self.socket.send_multipart([topic, payload], flags=zmq.DONTWAIT)
            self.sent += 1
            return True
        except zmq.Again:
            # Someone is at the high-water mark. Deliver to everyone else (lossy for the full ones) and count it.
            self.socket.setsockopt(zmq.XPUB_NODROP, 0)
            try:
                self.socket.send_multipart([topic, payload], flags=zmq.DONTWAIT)
            except zmq.Again:
                pass
            finally:
                self.socket.setsockopt(zmq.XPUB_NODROP, 1)
            self.dropped += 1
            now = time.monotonic()
            if now - self._hwm_logged_at >= HWM_LOG_EVERY_S:
                self._hwm_logged_at = now
                log.warning("event=subscriber_full hwm_events=%d detail='a subscriber is at its high-water mark and "
                            "misses messages until it reads again; it reports them when it asks for a re-send'",
                            self.dropped)
            if self.on_drop:
                self.on_drop()
            return False

    def restore_cache(self, entries: Iterable[tuple[str, int, bytes]]) -> None:
        """Reload recent messages after a restart (they are re-sent to subscribers that ask, never automatically)."""
        for topic, stream_sequence, payload in entries:
            self.cache.setdefault(topic, deque(maxlen=self.history)).append((stream_sequence, payload))

    # --- subscriptions --------------------------------------------------------------------------------------------
    def serve(self, timeout_s: float = 0.0) -> int:
        """Handle subscriptions that arrive within timeout_s (0: only those already waiting). Returns how many."""
        handled = 0
        timeout_ms = int(max(timeout_s, 0.0) * 1000)
        while self.socket.poll(timeout_ms if handled == 0 else 0, zmq.POLLIN):
            try:
                event = self.socket.recv(zmq.DONTWAIT)
            except zmq.Again:
                break
            handled += 1
            if event[:1] == b"\x01":
                self._on_subscribe(event[1:].decode("utf-8", errors="replace"))
        return handled

    def _on_subscribe(self, prefix: str) -> None:
        match = _RESEND.match(prefix)
        if match:
            topic = f"{TOPIC_PREFIX}latent/{match[1]}/{match[2]}"
            first = int(match[3])
            ring = self.cache.get(topic, ())
            newest = ring[-1][0] if ring else first - 1
            last = int(match[4]) - 1 if match[4] else newest  # N-M: the subscriber holds M on, send N..M-1 only
            self._count_missed(topic, first, last)
            for stream_sequence, payload in ring:
                if first <= stream_sequence <= last:
                    self._send(topic.encode(), payload)
            return
        for topic, ring in self.cache.items():
            if topic.startswith(prefix) and ring:
                self._send(topic.encode(), ring[-1][1])
        if self.fresh_heartbeat is not None:
            topic, payload = self.fresh_heartbeat()
            if topic.startswith(prefix):
                self._send(topic.encode(), payload)

    def _count_missed(self, topic: str, first: int, last: int) -> None:
        """A subscriber lacks stream_sequences first..last: count those not counted for this topic before."""
        start = max(first, self._counted_upto.get(topic, 0) + 1)
        if last < start:
            return
        self._counted_upto[topic] = last
        count = last - start + 1
        self.missed[topic] = self.missed.get(topic, 0) + count
        log.warning("event=subscriber_missed topic=%s count=%d stream_sequences=%d..%d", topic, count, start, last)
        if self.on_missed:
            self.on_missed(topic, count, start, last)

    def close(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()
            self.authenticator = None
        self.socket.close(linger=0)
        self.context.term()


class Subscriber:
    """A SUB socket: connect, subscribe to prefixes, receive [topic, payload] with a timeout."""

    def __init__(self, endpoint: str, topics: Iterable[str] = (TOPIC_PREFIX,), *,
                 curve_client_file: Path | None = None, curve_server_public_file: Path | None = None,
                 rcvhwm: int = 100_000):
        keys = None
        if curve_client_file is not None:  # read the keys first: a bad file then leaves no socket behind
            if curve_server_public_file is None:
                raise ConfigError("CURVE needs the server's public key file too")
            public, secret = load_key_file(curve_client_file, "--curve-client")
            server_public, _ = load_key_file(curve_server_public_file, "--curve-server")
            if secret is None:
                raise ConfigError(f"--curve-client {curve_client_file} holds no secret key: give the "
                                  ".key_secret file of the pair")
            keys = (public, secret, server_public)
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, rcvhwm)
        if keys is not None:
            self.socket.curve_publickey, self.socket.curve_secretkey, self.socket.curve_serverkey = keys
        try:
            self.socket.connect(endpoint)
        except zmq.ZMQError as exc:
            self.close()
            raise ConfigError(f"endpoint {endpoint!r}: {exc} (expected e.g. tcp://127.0.0.1:5556)") from None
        for topic in topics:
            self.subscribe(topic)

    def subscribe(self, topic: str) -> None:
        self.socket.setsockopt(zmq.SUBSCRIBE, topic.encode())

    def unsubscribe(self, topic: str) -> None:
        self.socket.setsockopt(zmq.UNSUBSCRIBE, topic.encode())

    def receive(self, timeout_s: float) -> tuple[str, bytes] | None:
        """The next [topic, payload], or None after timeout_s. Messages with another frame count are skipped."""
        if not self.socket.poll(int(timeout_s * 1000), zmq.POLLIN):
            return None
        frames = self.socket.recv_multipart()
        if len(frames) != 2:
            return ("", b"")  # not ours: the caller counts it as a protocol violation
        return frames[0].decode("utf-8", errors="replace"), frames[1]

    def close(self) -> None:
        self.socket.close(linger=0)
        self.context.term()

"""The reference subscriber's logic, free of sockets: in-order, exactly-once delivery per topic on top of PUB/SUB.

Per topic it delivers messages in stream_sequence order, drops re-sends it already delivered, and on a gap holds
newer messages back and asks the publisher to re-send the missing ones (a subscription to
`mt5bridge/resend/<SYMBOL>/<TF>/<N>`, docs/PROTOCOL.md); a gap not filled within `gap_timeout_s` (30 s: long
enough for a daemon restart) is reported and skipped. Heartbeats reveal gaps no later message would show, and
silence reveals a dead publisher.
`mt5bridge subscribe` drives this with a `zmq_io.Subscriber`; tests drive it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import wire
from .data.timeframes import TIMEFRAMES

STALE_INTERVALS = 3.0  # no message for this many heartbeat intervals: the publisher is gone


@dataclass
class Event:
    kind: str  # deliver | heartbeat | gap | duplicate | violation | stale | fresh | resend | cancel | reset
    topic: str = ""
    message: wire.LatentMessage | wire.HeartbeatMessage | None = None
    detail: str = ""


@dataclass
class _Topic:
    last: int | None = None  # last delivered stream_sequence
    last_global: int = -1  # its publisher-wide sequence
    seen: dict[int, int] = field(default_factory=dict)  # stream_sequence -> sequence, recent deliveries
    pending: dict[int, wire.LatentMessage] = field(default_factory=dict)  # held back behind a gap
    gap_since: float | None = None
    requested: str | None = None  # the resend subscription in force


class SubscriberLogic:
    def __init__(self, gap_timeout_s: float = 30.0, default_interval_s: float = 5.0):
        self.gap_timeout_s = gap_timeout_s
        self.interval_s = default_interval_s
        self.topics: dict[str, _Topic] = {}
        self.last_message_at: float | None = None
        self.stale = False
        self.counts = {"deliver": 0, "duplicate": 0, "gap": 0, "violation": 0, "heartbeat": 0, "reset": 0}

    # --- input ----------------------------------------------------------------------------------------------------
    def accept(self, topic: str, payload: bytes, now: float) -> list[Event]:
        events: list[Event] = []
        self.last_message_at = now
        if self.stale:
            self.stale = False
            events.append(Event("fresh", detail="messages arrive again"))
        if not topic:
            return events + [self._violation("", "a message without exactly two frames")]
        try:
            message = wire.decode(payload)
        except wire.WireError as exc:
            return events + [self._violation(topic, str(exc))]
        if message is None:
            return events  # a kind this version does not know: skipped, as the protocol says
        if isinstance(message, wire.HeartbeatMessage):
            if topic != wire.HEARTBEAT_TOPIC:
                return events + [self._violation(topic, "a heartbeat on a latent topic")]
            return events + self._on_heartbeat(message, now)
        problem = self._topic_problem(topic, message)
        if problem:
            return events + [self._violation(topic, problem)]
        return events + self._on_latent(topic, message, now)

    def tick(self, now: float) -> list[Event]:
        """Time-driven events: gaps given up after the timeout, staleness."""
        events: list[Event] = []
        for topic, state in self.topics.items():
            if state.gap_since is not None and now - state.gap_since > self.gap_timeout_s and state.pending:
                first = min(state.pending)
                self.counts["gap"] += 1
                events.append(Event("gap", topic, detail=f"stream_sequence {state.last + 1}..{first - 1} lost"))
                state.last = first - 1
                events += self._flush(topic, state, now)
        if self.last_message_at is not None and not self.stale and \
                now - self.last_message_at > STALE_INTERVALS * self.interval_s:
            self.stale = True
            events.append(Event("stale", detail=f"no message for {now - self.last_message_at:.1f} s"))
        return events

    # --- latent messages ------------------------------------------------------------------------------------------
    def _on_latent(self, topic: str, message: wire.LatentMessage, now: float) -> list[Event]:
        state = self.topics.setdefault(topic, _Topic())
        seq = message.stream_sequence
        if state.last is None:
            state.last = seq - 1  # the first message of a topic (a late-joiner value) starts the count
        if seq <= state.last:
            if state.seen.get(seq, message.sequence) != message.sequence or \
                    (seq not in state.seen and message.sequence > state.last_global):
                self.counts["reset"] += 1  # the publisher lost its state and counts again from scratch
                self.topics[topic] = state = _Topic(last=seq - 1)
                return [Event("reset", topic, detail="publisher restarted without its state")] + \
                    self._on_latent(topic, message, now)
            self.counts["duplicate"] += 1
            return [Event("duplicate", topic, message)]
        state.pending[seq] = message
        if seq > state.last + 1 and state.gap_since is None:
            state.gap_since = now
        return self._flush(topic, state, now)

    def _flush(self, topic: str, state: _Topic, now: float) -> list[Event]:
        events: list[Event] = []
        while state.last + 1 in state.pending:
            message = state.pending.pop(state.last + 1)
            if message.sequence <= state.last_global:
                events.append(self._violation(topic, f"sequence {message.sequence} not after {state.last_global}"))
            state.last, state.last_global = message.stream_sequence, message.sequence
            state.seen[message.stream_sequence] = message.sequence
            if len(state.seen) > 4096:
                state.seen.pop(next(iter(state.seen)))
            self.counts["deliver"] += 1
            events.append(Event("deliver", topic, message))
        if state.pending:
            if state.gap_since is None:
                state.gap_since = now
            events += self._request(topic, state, state.last + 1)
        else:
            state.gap_since = None
            if state.requested:
                events.append(Event("cancel", topic, detail=state.requested))
                state.requested = None
        return events

    def _request(self, topic: str, state: _Topic, first: int) -> list[Event]:
        """Subscribe to the re-send of first..: with the first message held back as its end (`N-M`: N..M-1 are
        missing), so the publisher can count exactly what was missed; open-ended when a heartbeat revealed it."""
        symbol, tf = topic[len(wire.TOPIC_PREFIX + "latent/"):].rsplit("/", 1)
        end = f"-{min(state.pending)}" if state.pending else ""
        wanted = f"{wire.TOPIC_PREFIX}resend/{symbol}/{tf}/{first}{end}"
        if state.requested == wanted:
            return []
        events = [Event("cancel", topic, detail=state.requested)] if state.requested else []
        state.requested = wanted
        return events + [Event("resend", topic, detail=wanted)]

    # --- heartbeats -----------------------------------------------------------------------------------------------
    def _on_heartbeat(self, message: wire.HeartbeatMessage, now: float) -> list[Event]:
        self.counts["heartbeat"] += 1
        if message.interval_ms > 0:
            self.interval_s = message.interval_ms / 1000.0
        events = [Event("heartbeat", wire.HEARTBEAT_TOPIC, message)]
        names = {tf.code: tf.name for tf in TIMEFRAMES.values()}
        for s in message.streams:
            topic = wire.latent_topic(s.symbol, names.get(s.timeframe, str(s.timeframe)))
            state = self.topics.get(topic)
            if state is not None and message.sequence < state.last_global:
                continue  # older than the newest latent we hold (e.g. re-sent after a reconnect): says nothing new
            if state is not None and state.last is not None and s.last_stream_sequence < state.last:
                self.counts["reset"] += 1  # the publisher counts from scratch: its state was lost
                self.topics[topic] = _Topic()
                events.append(Event("reset", topic, detail="publisher restarted without its state"))
            elif state is not None and state.last is not None and s.last_stream_sequence > state.last:
                if state.gap_since is None:
                    state.gap_since = now
                events += self._request(topic, state, state.last + 1)
        return events

    # --- checks ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _topic_problem(topic: str, message: wire.LatentMessage) -> str:
        tf = next((t.name for t in TIMEFRAMES.values() if t.code == message.timeframe), None)
        if tf is None:
            return f"unknown timeframe code {message.timeframe}"
        if topic != wire.latent_topic(message.symbol, tf):
            return f"payload {message.symbol} {tf} does not match its topic"
        nan_error = message.recon_error != message.recon_error
        if nan_error != bool(message.flags & wire.FLAG_NO_ERROR):
            return "recon_error NaN and the NO_ERROR flag disagree"
        return ""

    def _violation(self, topic: str, detail: str) -> Event:
        self.counts["violation"] += 1
        return Event("violation", topic, detail=detail)

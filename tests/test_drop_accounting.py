"""Honest drop accounting: libzmq reports a full subscriber once and then silently drops everything it cannot take,
so the publisher counts what subscribers report missing in their re-send requests (zmq_io's docstring)."""

from __future__ import annotations

import time

from mt5bridge import wire
from mt5bridge.subscriber import SubscriberLogic
from mt5bridge.zmq_io import Publisher, Subscriber

TOPIC = wire.latent_topic("EURUSD", "H1")


def _message(k: int) -> bytes:
    return wire.encode(wire.LatentMessage(k, 1_700_000_000_000 + k, "EURUSD", 16385, wire.FLAG_WARM,
                                          1_600_000_000 + 3600 * k, k, 0.5, 50.0, (0.0,) * 64))


def _read_wire(subscriber: Subscriber, seconds: float) -> list[tuple[str, bytes]]:
    """Everything that arrives within `seconds`, as it came (no logic, no re-send requests yet)."""
    got, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        item = subscriber.receive(0.01)
        if item is not None:
            got.append(item)
    return got


def _resend_inline(publisher: Publisher, logic: SubscriberLogic, items) -> None:
    """Feed messages to the subscriber's logic; each re-send request it makes reaches the publisher (which counts
    it) and is answered from the publisher's cache straight into the logic, so the re-sends themselves cannot be
    lost at the high-water mark again (that is the subscriber's gap timeout, tested elsewhere)."""
    queue = list(items)
    while queue:
        for event in logic.accept(*queue.pop(0), time.monotonic()):
            if event.kind == "resend":
                publisher._on_subscribe(event.detail)
                first, _, end = event.detail.rsplit("/", 1)[1].partition("-")
                last = int(end) - 1 if end else 10**9
                queue += [(TOPIC, payload) for seq, payload in publisher.cache[TOPIC] if int(first) <= seq <= last]


def test_a_frozen_subscriber_reports_exactly_what_it_missed():
    publisher = Publisher("tcp://127.0.0.1:*", sndhwm=8, history=5000)
    subscriber = Subscriber(publisher.endpoint, [wire.TOPIC_PREFIX], rcvhwm=8)
    logic = SubscriberLogic()
    try:
        deadline = time.monotonic() + 5
        while not publisher.serve(0.05) and time.monotonic() < deadline:
            pass  # the subscription arrives
        for k in range(1, 3001):  # the subscriber is frozen: it reads nothing meanwhile
            publisher.publish(TOPIC, _message(k), k)
        assert 0 < publisher.dropped < 100  # libzmq's own report: a handful, for the thousand or more lost
        originals = _read_wire(subscriber, 0.5)  # it wakes: what made it through (buffers, reactivated pipe)
        received = {wire.decode(payload).stream_sequence for _, payload in originals}
        missed = 3000 - len(received)
        assert missed > 1000
        publisher.publish(TOPIC, _message(3001), 3001)  # the next bar reveals the gap after the last one held
        _resend_inline(publisher, logic, originals + _read_wire(subscriber, 0.3))
        assert logic.topics[TOPIC].last == 3001 and logic.counts["deliver"] == 3001
        assert publisher.missed[TOPIC] == missed  # exactly the stream_sequences that never reached it
        # A second request for a gap already counted (a retry, or another subscriber) adds nothing.
        publisher._on_subscribe(f"{wire.TOPIC_PREFIX}resend/EURUSD/H1/1-3001")
        assert publisher.missed[TOPIC] == missed
    finally:
        subscriber.close()
        publisher.close()


def test_an_open_request_counts_to_the_newest_message():
    publisher = Publisher("tcp://127.0.0.1:*", history=100)
    try:
        for k in range(1, 51):
            publisher.publish(TOPIC, _message(k), k)
        publisher._on_subscribe(f"{wire.TOPIC_PREFIX}resend/EURUSD/H1/41")  # revealed by a heartbeat: 41..50
        assert publisher.missed[TOPIC] == 10
        sent = publisher.sent
        publisher._on_subscribe(f"{wire.TOPIC_PREFIX}resend/EURUSD/H1/45-48")  # inside what was counted
        assert publisher.missed[TOPIC] == 10
        assert publisher.sent - sent == 3  # 45, 46, 47: the subscriber holds 48 on
    finally:
        publisher.close()

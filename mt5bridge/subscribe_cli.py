"""`mt5bridge subscribe`: the reference subscriber on a real socket (the logic lives in subscriber.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

from .demo import format_latent
from .subscriber import SubscriberLogic
from .data.timeframes import timeframe_name
from .wire import HEARTBEAT_TOPIC, STATUS_NAMES, HeartbeatMessage, bit_names, to_json_dict
from .zmq_io import Subscriber

EXIT_VIOLATION = 3


def run_subscriber(endpoint: str, topics: Sequence[str], *, as_json: bool = False, check: bool = False,
                   count: int = 0, timeout: float = 0.0, curve_client: Path | None = None,
                   curve_server: Path | None = None, echo: Callable[[str], None] = print) -> int:
    wanted = list(topics)
    if not any(HEARTBEAT_TOPIC.startswith(t) for t in wanted):
        wanted.append(HEARTBEAT_TOPIC)  # heartbeats reveal gaps and staleness even when filtering topics
    sub = Subscriber(endpoint, wanted, curve_client_file=curve_client, curve_server_public_file=curve_server)
    logic = SubscriberLogic()
    delivered, last_message = 0, time.monotonic()
    try:
        while True:
            got = sub.receive(0.25)
            now = time.monotonic()
            events = logic.tick(now)
            if got is not None:
                last_message = now
                events += logic.accept(*got, now)
            for event in events:
                if event.kind == "resend":
                    sub.subscribe(event.detail)
                elif event.kind == "cancel":
                    sub.unsubscribe(event.detail)
                elif event.kind == "deliver":
                    delivered += 1
                    echo(json.dumps(to_json_dict(event.message, event.topic)) if as_json
                         else format_latent(event.message))
                elif event.kind == "heartbeat" and any(event.topic.startswith(t) for t in topics):
                    echo(json.dumps(to_json_dict(event.message, event.topic)) if as_json
                         else _heartbeat_line(event.message))
                elif event.kind in ("gap", "violation", "stale", "fresh", "reset"):
                    echo(json.dumps({"event": event.kind, "topic": event.topic, "detail": event.detail}) if as_json
                         else f"# {event.kind} {event.topic} {event.detail}".rstrip())
                    if check and event.kind == "violation":
                        return EXIT_VIOLATION
            if count and delivered >= count:
                return 0
            if timeout and now - last_message > timeout:
                return 0 if delivered or not count else 1
    except KeyboardInterrupt:
        return 0
    finally:
        sub.close()


def _heartbeat_line(message: HeartbeatMessage) -> str:
    parts = [f"{s.symbol}/{timeframe_name(s.timeframe)} {bit_names(s.status, STATUS_NAMES)} seq "
             f"{s.last_stream_sequence}" for s in message.streams]
    return f"# heartbeat seq {message.sequence}: " + ("; ".join(parts) or "no streams")

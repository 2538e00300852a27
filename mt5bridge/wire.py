"""The wire protocol, version 1 (docs/PROTOCOL.md): topics and the binary payloads, encoded and decoded.

Payloads with `struct` (numpy only for `latent_flags` over arrays): no sockets here (those are in `mt5bridge.zmq_io`,
the only module importing zmq).
Every field is little-endian at a fixed offset, so an MQL5 program decodes it with plain byte arithmetic or
`CharArrayToStruct`, without a DLL.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"M5BR"
VERSION = 1
KIND_LATENT = 1
KIND_HEARTBEAT = 2

TOPIC_PREFIX = "mt5bridge/"
HEARTBEAT_TOPIC = "mt5bridge/heartbeat"

SYMBOL_BYTES = 32  # NUL-padded; MT5 symbol names are at most 31 characters

# Latent flags
FLAG_WARM = 0x1  # the stream's state had its full warm-up before this bar
FLAG_CATCHUP = 0x2  # published while catching up bars missed during a disconnect or a restart (late, not at close)
FLAG_NO_ERROR = 0x4  # recon_error and anomaly_pct are NaN: the D-bar target is not complete yet
FLAG_REPLAY = 0x8  # the bars come from a file replay, not a live terminal
FLAG_DRIFT = 0x10  # the stream's input-drift score is over the daemon's threshold: inputs unlike the training data
# Heartbeat stream status
STATUS_CONNECTED = 0x1  # the terminal (or source) answered the last poll
STATUS_WARM = 0x2
STATUS_CATCHING_UP = 0x4
STATUS_ERROR = 0x8  # the last poll failed; backing off
STATUS_DRIFT = 0x10  # the stream's input-drift score is over the daemon's threshold

FLAG_NAMES = {FLAG_WARM: "WARM", FLAG_CATCHUP: "CATCHUP", FLAG_NO_ERROR: "NO_ERROR", FLAG_REPLAY: "REPLAY",
              FLAG_DRIFT: "DRIFT"}


def latent_flags(error, bars_fed, drifting, warmup_bars: int):
    """WARM, NO_ERROR and DRIFT of latents from their error, the bars fed to the model including this one, and the
    drift alarm (drift.drift_alarm): the daemon's rule, and the latent files' (scalars or numpy arrays -> uint32)."""
    error, fed, drifting = np.asarray(error, np.float64), np.asarray(bars_fed), np.asarray(drifting, bool)
    return (np.where(np.isfinite(error), 0, FLAG_NO_ERROR) | np.where(fed >= warmup_bars, FLAG_WARM, 0)
            | np.where(drifting, FLAG_DRIFT, 0)).astype(np.uint32)
STATUS_NAMES = {STATUS_CONNECTED: "CONNECTED", STATUS_WARM: "WARM", STATUS_CATCHING_UP: "CATCHING_UP",
                STATUS_ERROR: "ERROR", STATUS_DRIFT: "DRIFT"}

_HEADER = struct.Struct("<4sHHQq")  # magic, version, kind, sequence, publish_time_ms: 24 bytes
_LATENT = struct.Struct(f"<{SYMBOL_BYTES}sIIqQffHH")  # 68 bytes after the header, then Z floats
_HEARTBEAT = struct.Struct("<IHH")  # interval_ms, stream_count, reserved: 8 bytes after the header
_STREAM = struct.Struct(f"<{SYMBOL_BYTES}sIIqQq")  # 64 bytes per stream
LATENT_OFFSET = _HEADER.size + _LATENT.size  # 92: where the latent floats start


class WireError(ValueError):
    """A payload that does not follow the protocol (subscribers count and skip it)."""


@dataclass(frozen=True)
class LatentMessage:
    sequence: int  # publisher-wide, strictly increasing by 1 over latent messages
    publish_time_ms: int  # UTC milliseconds when the message was sent
    symbol: str
    timeframe: int  # MT5 ENUM_TIMEFRAMES value (PERIOD_H1 = 16385)
    flags: int
    bar_time: int  # the bar's open time, server time, seconds: what the EA sees as the bar's `time`
    stream_sequence: int  # per symbol and timeframe, +1 per bar: gap detection under topic filtering
    recon_error: float  # f32 on the wire
    anomaly_pct: float  # f32, percent of training errors <= recon_error
    latent: tuple[float, ...]  # f32 x Z, the latent mean

    @property
    def kind(self) -> int:
        return KIND_LATENT


@dataclass(frozen=True)
class StreamStatus:
    symbol: str
    timeframe: int
    status: int  # STATUS_* bits
    last_bar_time: int  # server seconds of the last published bar (0 if none)
    last_stream_sequence: int
    last_poll_ms: int  # UTC ms of the last successful poll of the source (0 if none)


@dataclass(frozen=True)
class HeartbeatMessage:
    sequence: int  # the last latent sequence published (not incremented by heartbeats)
    publish_time_ms: int
    interval_ms: int  # heartbeats come at least this often; silence for ~3 intervals means the publisher is gone
    streams: tuple[StreamStatus, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> int:
        return KIND_HEARTBEAT


def bit_names(value: int, names: dict[int, str]) -> str:
    """"WARM DRIFT" for FLAG_WARM | FLAG_DRIFT with FLAG_NAMES ("-" for none); unknown bits as hex, never dropped
    (bits added by a newer daemon within this protocol version; decoders ignore them)."""
    known = [name for bit, name in names.items() if value & bit]
    rest = value & ~sum(names)
    return " ".join(known + ([f"{rest:#x}"] if rest else [])) or "-"


def latent_topic(symbol: str, timeframe_name: str) -> str:
    return f"{TOPIC_PREFIX}latent/{symbol}/{timeframe_name}"


def _symbol(symbol: str) -> bytes:
    raw = symbol.encode("utf-8")
    if len(raw) >= SYMBOL_BYTES or b"\0" in raw:
        raise WireError(f"symbol {symbol!r} does not fit {SYMBOL_BYTES - 1} bytes")
    return raw


def _f32(value: float) -> float:
    """The value as the wire carries it (float32 rounding; NaN stays NaN)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def encode(message: LatentMessage | HeartbeatMessage) -> bytes:
    header = _HEADER.pack(MAGIC, VERSION, message.kind, message.sequence, message.publish_time_ms)
    if isinstance(message, LatentMessage):
        body = _LATENT.pack(_symbol(message.symbol), message.timeframe, message.flags, message.bar_time,
                            message.stream_sequence, message.recon_error, message.anomaly_pct, len(message.latent), 0)
        return header + body + struct.pack(f"<{len(message.latent)}f", *message.latent)
    parts = [header, _HEARTBEAT.pack(message.interval_ms, len(message.streams), 0)]
    for s in message.streams:
        parts.append(_STREAM.pack(_symbol(s.symbol), s.timeframe, s.status, s.last_bar_time, s.last_stream_sequence,
                                  s.last_poll_ms))
    return b"".join(parts)


def decode(payload: bytes) -> LatentMessage | HeartbeatMessage | None:
    """The message, or None for a kind this version does not know (skip it). WireError if malformed."""
    if len(payload) < _HEADER.size:
        raise WireError(f"payload of {len(payload)} bytes is shorter than the {_HEADER.size}-byte header")
    magic, version, kind, sequence, sent = _HEADER.unpack_from(payload)
    if magic != MAGIC:
        raise WireError(f"bad magic {magic!r}")
    if version != VERSION:
        raise WireError(f"protocol version {version}, this decoder reads version {VERSION}")
    if kind == KIND_LATENT:
        if len(payload) < LATENT_OFFSET:
            raise WireError(f"latent payload of {len(payload)} bytes is shorter than {LATENT_OFFSET}")
        sym, tf, flags, bar_time, stream_seq, err, pct, size, _ = _LATENT.unpack_from(payload, _HEADER.size)
        if len(payload) != LATENT_OFFSET + 4 * size:
            raise WireError(f"latent payload of {len(payload)} bytes does not hold {size} floats")
        latent = struct.unpack_from(f"<{size}f", payload, LATENT_OFFSET)
        return LatentMessage(sequence, sent, _text(sym), tf, flags, bar_time, stream_seq, err, pct, latent)
    if kind == KIND_HEARTBEAT:
        if len(payload) < _HEADER.size + _HEARTBEAT.size:
            raise WireError("heartbeat payload too short")
        interval, count, _ = _HEARTBEAT.unpack_from(payload, _HEADER.size)
        start = _HEADER.size + _HEARTBEAT.size
        if len(payload) != start + count * _STREAM.size:
            raise WireError(f"heartbeat payload of {len(payload)} bytes does not hold {count} streams")
        streams = tuple(StreamStatus(_text(s[0]), *s[1:])
                        for s in (_STREAM.unpack_from(payload, start + i * _STREAM.size) for i in range(count)))
        return HeartbeatMessage(sequence, sent, interval, streams)
    return None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def to_json_dict(message: LatentMessage | HeartbeatMessage, topic: str = "") -> dict:
    """Plain data for `mt5bridge subscribe --json` (NaN becomes null)."""
    def clean(v: float) -> float | None:
        return None if isinstance(v, float) and math.isnan(v) else v

    if isinstance(message, LatentMessage):
        return {"topic": topic, "kind": "latent", "sequence": message.sequence,
                "publish_time_ms": message.publish_time_ms, "symbol": message.symbol,
                "timeframe": message.timeframe, "flags": message.flags, "bar_time": message.bar_time,
                "stream_sequence": message.stream_sequence, "recon_error": clean(message.recon_error),
                "anomaly_pct": clean(message.anomaly_pct), "latent": [clean(v) for v in message.latent]}
    return {"topic": topic, "kind": "heartbeat", "sequence": message.sequence,
            "publish_time_ms": message.publish_time_ms, "interval_ms": message.interval_ms,
            "streams": [s.__dict__.copy() for s in message.streams]}

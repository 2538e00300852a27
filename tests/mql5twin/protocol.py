"""Twin of mql5/Include/Mt5Bridge/Protocol.mqh, function by function, same names (tests only).

Read it beside the .mqh: every function has the same name, the same checks in the same order and the same byte
offsets. It is not the reference decoder (that is mt5bridge/wire.py); tests compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .mql5 import (ArrayResize, ArraySize, CharArrayToString, CP_UTF8, StringFormat, StringSubstr, to_float,
                   to_long)

MT5B_VERSION = 1
MT5B_KIND_LATENT = 1
MT5B_KIND_HEARTBEAT = 2
MT5B_HEADER_BYTES = 24
MT5B_LATENT_OFFSET = 92
MT5B_HEARTBEAT_OFFSET = 32
MT5B_STREAM_BYTES = 64
MT5B_SYMBOL_BYTES = 32

MT5B_FLAG_WARM = 1
MT5B_FLAG_CATCHUP = 2
MT5B_FLAG_NO_ERROR = 4
MT5B_FLAG_REPLAY = 8
MT5B_FLAG_DRIFT = 16
MT5B_STATUS_CONNECTED = 1
MT5B_STATUS_WARM = 2
MT5B_STATUS_CATCHING_UP = 4
MT5B_STATUS_ERROR = 8
MT5B_STATUS_DRIFT = 16

MT5B_TOPIC_PREFIX = "mt5bridge/"
MT5B_LATENT_PREFIX = "mt5bridge/latent/"
MT5B_HEARTBEAT_TOPIC = "mt5bridge/heartbeat"

MT5B_DECODE_OK = 0
MT5B_DECODE_SKIP = 1
MT5B_DECODE_ERROR = 2


@dataclass
class Mt5bHeader:
    version: int = 0
    kind: int = 0
    sequence: int = 0
    publish_time_ms: int = 0


@dataclass
class Mt5bLatent:
    sequence: int = 0
    publish_time_ms: int = 0
    symbol: str = ""
    timeframe: int = 0
    flags: int = 0
    bar_time: int = 0
    stream_sequence: int = 0
    recon_error: float = 0.0
    anomaly_pct: float = 0.0
    latent: list = field(default_factory=list)


@dataclass
class Mt5bStream:
    symbol: str = ""
    timeframe: int = 0
    status: int = 0
    last_bar_time: int = 0
    last_stream_sequence: int = 0
    last_poll_ms: int = 0


@dataclass
class Mt5bHeartbeat:
    sequence: int = 0
    publish_time_ms: int = 0
    interval_ms: int = 0
    streams: list = field(default_factory=list)


def Mt5bReadU16(b, at: int) -> int:
    return b[at] | (b[at + 1] << 8)


def Mt5bReadU32(b, at: int) -> int:
    return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)


def Mt5bReadU64(b, at: int) -> int:
    return Mt5bReadU32(b, at) | (Mt5bReadU32(b, at + 4) << 32)


def Mt5bReadI64(b, at: int) -> int:
    return to_long(Mt5bReadU64(b, at))


def Mt5bReadF32(b, at: int) -> float:
    return to_float(Mt5bReadU32(b, at))  # union Mt5bFloatBits


def Mt5bReadText(b, at: int, size: int) -> str:
    n = 0
    while n < size and b[at + n] != 0:
        n += 1
    if n == 0:
        return ""
    return CharArrayToString(b, at, n, CP_UTF8)


def Mt5bDecodeHeader(p, h: Mt5bHeader, why: list) -> int:
    """`why` is a one-element list: the twin's stand-in for MQL5's `string &why`."""
    n = ArraySize(p)
    if n < MT5B_HEADER_BYTES:
        why[0] = StringFormat("payload of %d bytes is shorter than the %d-byte header", n, MT5B_HEADER_BYTES)
        return MT5B_DECODE_ERROR
    if p[0] != ord("M") or p[1] != ord("5") or p[2] != ord("B") or p[3] != ord("R"):
        why[0] = "bad magic"
        return MT5B_DECODE_ERROR
    h.version = Mt5bReadU16(p, 4)
    h.kind = Mt5bReadU16(p, 6)
    h.sequence = Mt5bReadU64(p, 8)
    h.publish_time_ms = Mt5bReadI64(p, 16)
    if h.version != MT5B_VERSION:
        why[0] = StringFormat("protocol version %d, this decoder reads version %d", h.version, MT5B_VERSION)
        return MT5B_DECODE_ERROR
    return MT5B_DECODE_OK


def Mt5bDecodeLatent(p, h: Mt5bHeader, m: Mt5bLatent, why: list) -> int:
    n = ArraySize(p)
    if n < MT5B_LATENT_OFFSET:
        why[0] = StringFormat("latent payload of %d bytes is shorter than %d", n, MT5B_LATENT_OFFSET)
        return MT5B_DECODE_ERROR
    size = Mt5bReadU16(p, 88)
    if n != MT5B_LATENT_OFFSET + 4 * size:
        why[0] = StringFormat("latent payload of %d bytes does not hold %d floats", n, size)
        return MT5B_DECODE_ERROR
    m.sequence = h.sequence
    m.publish_time_ms = h.publish_time_ms
    m.symbol = Mt5bReadText(p, 24, MT5B_SYMBOL_BYTES)
    m.timeframe = Mt5bReadU32(p, 56)
    m.flags = Mt5bReadU32(p, 60)
    m.bar_time = Mt5bReadI64(p, 64)
    m.stream_sequence = Mt5bReadU64(p, 72)
    m.recon_error = Mt5bReadF32(p, 80)
    m.anomaly_pct = Mt5bReadF32(p, 84)
    ArrayResize(m.latent, size, fill=float)
    for k in range(size):
        m.latent[k] = Mt5bReadF32(p, MT5B_LATENT_OFFSET + 4 * k)
    return MT5B_DECODE_OK


def Mt5bReadStream(p, at: int, s: Mt5bStream) -> None:
    s.symbol = Mt5bReadText(p, at, MT5B_SYMBOL_BYTES)
    s.timeframe = Mt5bReadU32(p, at + 32)
    s.status = Mt5bReadU32(p, at + 36)
    s.last_bar_time = Mt5bReadI64(p, at + 40)
    s.last_stream_sequence = Mt5bReadU64(p, at + 48)
    s.last_poll_ms = Mt5bReadI64(p, at + 56)


def Mt5bDecodeHeartbeat(p, h: Mt5bHeader, m: Mt5bHeartbeat, why: list) -> int:
    n = ArraySize(p)
    if n < MT5B_HEARTBEAT_OFFSET:
        why[0] = "heartbeat payload too short"
        return MT5B_DECODE_ERROR
    count = Mt5bReadU16(p, 28)
    if n != MT5B_HEARTBEAT_OFFSET + count * MT5B_STREAM_BYTES:
        why[0] = StringFormat("heartbeat payload of %d bytes does not hold %d streams", n, count)
        return MT5B_DECODE_ERROR
    m.sequence = h.sequence
    m.publish_time_ms = h.publish_time_ms
    m.interval_ms = Mt5bReadU32(p, 24)
    ArrayResize(m.streams, count, fill=Mt5bStream)
    for i in range(count):
        Mt5bReadStream(p, MT5B_HEARTBEAT_OFFSET + i * MT5B_STREAM_BYTES, m.streams[i])
    return MT5B_DECODE_OK


def Mt5bDecode(p, h: Mt5bHeader, latent: Mt5bLatent, beat: Mt5bHeartbeat, why: list) -> int:
    r = Mt5bDecodeHeader(p, h, why)
    if r != MT5B_DECODE_OK:
        return r
    if h.kind == MT5B_KIND_LATENT:
        return Mt5bDecodeLatent(p, h, latent, why)
    if h.kind == MT5B_KIND_HEARTBEAT:
        return Mt5bDecodeHeartbeat(p, h, beat, why)
    why[0] = StringFormat("unknown kind %d", h.kind)
    return MT5B_DECODE_SKIP


def Mt5bCopyLatent(src: Mt5bLatent, dst: Mt5bLatent) -> None:
    dst.sequence = src.sequence
    dst.publish_time_ms = src.publish_time_ms
    dst.symbol = src.symbol
    dst.timeframe = src.timeframe
    dst.flags = src.flags
    dst.bar_time = src.bar_time
    dst.stream_sequence = src.stream_sequence
    dst.recon_error = src.recon_error
    dst.anomaly_pct = src.anomaly_pct
    size = ArraySize(src.latent)
    ArrayResize(dst.latent, size, fill=float)
    for k in range(size):
        dst.latent[k] = src.latent[k]


def Mt5bCopyStream(src: Mt5bStream, dst: Mt5bStream) -> None:
    dst.symbol = src.symbol
    dst.timeframe = src.timeframe
    dst.status = src.status
    dst.last_bar_time = src.last_bar_time
    dst.last_stream_sequence = src.last_stream_sequence
    dst.last_poll_ms = src.last_poll_ms


def Mt5bCopyHeartbeat(src: Mt5bHeartbeat, dst: Mt5bHeartbeat) -> None:
    dst.sequence = src.sequence
    dst.publish_time_ms = src.publish_time_ms
    dst.interval_ms = src.interval_ms
    count = ArraySize(src.streams)
    ArrayResize(dst.streams, count, fill=Mt5bStream)
    for i in range(count):
        Mt5bCopyStream(src.streams[i], dst.streams[i])


_TIMEFRAME_NAMES = {1: "M1", 2: "M2", 3: "M3", 4: "M4", 5: "M5", 6: "M6", 10: "M10", 12: "M12", 15: "M15",
                    20: "M20", 30: "M30", 16385: "H1", 16386: "H2", 16387: "H3", 16388: "H4", 16390: "H6",
                    16392: "H8", 16396: "H12", 16408: "D1", 32769: "W1", 49153: "MN1"}


def Mt5bTimeframeName(tf: int) -> str:
    return _TIMEFRAME_NAMES.get(tf, "")  # the .mqh's switch


def Mt5bLatentTopic(symbol: str, tf: int) -> str:
    return MT5B_LATENT_PREFIX + symbol + "/" + Mt5bTimeframeName(tf)


def Mt5bFlagsText(flags: int) -> str:
    s = ""
    if flags & MT5B_FLAG_WARM:
        s += " WARM"
    if flags & MT5B_FLAG_CATCHUP:
        s += " CATCHUP"
    if flags & MT5B_FLAG_NO_ERROR:
        s += " NO_ERROR"
    if flags & MT5B_FLAG_REPLAY:
        s += " REPLAY"
    if flags & MT5B_FLAG_DRIFT:
        s += " DRIFT"
    return "-" if s == "" else StringSubstr(s, 1)


def Mt5bStatusText(status: int) -> str:
    s = ""
    if status & MT5B_STATUS_CONNECTED:
        s += " CONNECTED"
    if status & MT5B_STATUS_WARM:
        s += " WARM"
    if status & MT5B_STATUS_CATCHING_UP:
        s += " CATCHING_UP"
    if status & MT5B_STATUS_ERROR:
        s += " ERROR"
    if status & MT5B_STATUS_DRIFT:
        s += " DRIFT"
    return "-" if s == "" else StringSubstr(s, 1)

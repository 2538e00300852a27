"""Twin of mql5/Include/Mt5Bridge/Zmtp.mqh, method by method, same names and states (tests only).

Read it beside the .mqh: the same members (m_*), the same checks in the same order, the same MQL5 calls (through
the shim in mql5.py). MQL5 `int &out` parameters come back as return values; nothing else differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .mql5 import (ArrayCopy, ArrayResize, ArraySize, CharArrayToString, CP_UTF8, ERR_NETSOCKET_IO_ERROR,
                   GetLastError, GetTickCount64, INVALID_HANDLE, IntegerToString, ResetLastError, SocketClose,
                   SocketConnect,
                   SocketCreate, SocketIsConnected, SocketIsReadable, SocketRead, SocketSend, SocketTimeouts,
                   StringFormat, StringLen, StringSubstr, StringToCharArray, StringToLower, uchar_array)

ZMTP_GREETING_BYTES = 64
ZMTP_FLAG_MORE = 0x01
ZMTP_FLAG_LONG = 0x02
ZMTP_FLAG_COMMAND = 0x04
ZMTP_FLAG_RESERVED = 0xF8
ZMTP_MAX_PARTS = 16
ZMTP_MAX_EVENTS = 32
ZMTP_MAX_PENDING_OUT = 65536
ZMTP_READ_WAIT_MS = 1

ZMTP_STOPPED = 0
ZMTP_WAITING = 1
ZMTP_GREETING = 2
ZMTP_HANDSHAKE = 3
ZMTP_READY = 4


@dataclass
class ZmtpMessage:
    data: uchar_array = field(default_factory=uchar_array)
    start: list = field(default_factory=list)
    size: list = field(default_factory=list)
    parts: int = 0
    bytes: int = 0


def ZmtpNow() -> int:
    return GetTickCount64()


def ZmtpMessageClear(m: ZmtpMessage) -> None:
    m.parts = 0
    m.bytes = 0


def ZmtpMessageAdd(m: ZmtpMessage, src, at: int, count: int) -> None:
    if ArraySize(m.data) < m.bytes + count:
        ArrayResize(m.data, m.bytes + count, 4096)
    if count > 0:
        ArrayCopy(m.data, src, m.bytes, at, count)
    ArrayResize(m.start, m.parts + 1, 16)
    ArrayResize(m.size, m.parts + 1, 16)
    m.start[m.parts] = m.bytes
    m.size[m.parts] = count
    m.parts += 1
    m.bytes += count


def ZmtpMessageCopy(src: ZmtpMessage, dst: ZmtpMessage) -> None:
    ZmtpMessageClear(dst)
    for i in range(src.parts):
        ZmtpMessageAdd(dst, src.data, src.start[i], src.size[i])


def ZmtpMessageText(m: ZmtpMessage, i: int) -> str:
    if i < 0 or i >= m.parts or m.size[i] == 0:
        return ""
    return CharArrayToString(m.data, m.start[i], m.size[i], CP_UTF8)


def ZmtpMessageBytes(m: ZmtpMessage, i: int, out) -> bool:
    if i < 0 or i >= m.parts:
        return False
    ArrayResize(out, m.size[i])
    if m.size[i] > 0:
        ArrayCopy(out, m.data, 0, m.start[i], m.size[i])
    return True


def ZmtpUtf8(s: str, out) -> int:
    n = StringToCharArray(s, out, 0, -1, CP_UTF8)
    if n > 0 and out[n - 1] == 0:
        n -= 1
    if n < 0:
        n = 0
    ArrayResize(out, n)
    return n


def ZmtpReadU64BE(b, at: int) -> int:
    v = 0
    for i in range(8):
        v = ((v << 8) | b[at + i]) & 0xFFFFFFFFFFFFFFFF
    return v


def ZmtpReadU32BE(b, at: int) -> int:
    return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]


class CZmtpSubscriber:
    def __init__(self) -> None:
        self.m_host = "127.0.0.1"
        self.m_port = 5556
        self.m_topics: list[str] = []
        self.m_minor = 1
        self.m_connect_timeout_ms = 250
        self.m_handshake_timeout_ms = 3000
        self.m_probe_after_ms = 3000
        self.m_dead_after_ms = 10000
        self.m_backoff_min_ms = 250
        self.m_backoff_max_ms = 5000
        self.m_read_budget = 65536
        self.m_max_frame_bytes = 1048576
        self.m_socket = INVALID_HANDLE
        self.m_state = ZMTP_STOPPED
        self.m_state_since_ms = 0
        self.m_next_attempt_ms = 0
        self.m_backoff_ms = self.m_backoff_min_ms
        self.m_last_rx_ms = 0
        self.m_last_ping_ms = 0
        self.m_peer_minor = -1
        self.m_last_failure = ""
        self.m_in = uchar_array()
        self.m_in_len = 0
        self.m_in_pos = 0
        self.m_out = uchar_array()
        self.m_out_len = 0
        self.m_chunk = uchar_array()
        self.m_tmp = uchar_array()
        self.m_partial = ZmtpMessage()
        self.m_events: list[str] = []
        self.m_event_count = 0
        self.m_connects = 0
        self.m_attempts = 0
        self.m_pings_in = 0
        self.m_pongs_out = 0
        self.m_pings_out = 0
        self.m_pongs_in = 0
        self.m_bytes_in = 0
        ZmtpMessageClear(self.m_partial)

    def Configure(self, host: str, port: int) -> None:
        self.m_host = host
        self.m_port = port

    def SetTimeouts(self, connect_ms: int, handshake_ms: int, probe_after_ms: int, dead_after_ms: int) -> None:
        self.m_connect_timeout_ms = connect_ms
        self.m_handshake_timeout_ms = handshake_ms
        self.m_probe_after_ms = probe_after_ms
        self.m_dead_after_ms = dead_after_ms

    def SetBackoff(self, min_ms: int, max_ms: int) -> None:
        self.m_backoff_min_ms = min_ms
        self.m_backoff_max_ms = max_ms
        self.m_backoff_ms = min_ms

    def SetLimits(self, read_budget: int, max_frame_bytes: int) -> None:
        self.m_read_budget = read_budget
        self.m_max_frame_bytes = max_frame_bytes

    def SetZmtpMinor(self, minor: int) -> None:
        self.m_minor = 1 if minor >= 1 else 0

    def Subscribe(self, prefix: str) -> bool:
        n = ArraySize(self.m_topics)
        for i in range(n):
            if self.m_topics[i] == prefix:
                return True
        ArrayResize(self.m_topics, n + 1, fill=str)
        self.m_topics[n] = prefix
        if self.m_state == ZMTP_READY:
            self.QueueSubscription(prefix)
            return self.Flush()
        return True

    def Covers(self, topic: str) -> bool:
        for i in range(ArraySize(self.m_topics)):
            if StringLen(self.m_topics[i]) == 0 or \
                    StringSubstr(topic, 0, StringLen(self.m_topics[i])) == self.m_topics[i]:
                return True
        return False

    def Start(self) -> None:
        if self.m_state != ZMTP_STOPPED:
            return
        self.m_backoff_ms = self.m_backoff_min_ms
        self.m_next_attempt_ms = ZmtpNow()
        self.SetState(ZMTP_WAITING)

    def Stop(self) -> None:
        if self.m_socket != INVALID_HANDLE:
            SocketClose(self.m_socket)
        self.m_socket = INVALID_HANDLE
        self.ResetBuffers()
        if self.m_state != ZMTP_STOPPED:
            self.Event("stopped")
        self.SetState(ZMTP_STOPPED)

    def State(self) -> int:
        return self.m_state

    def IsReady(self) -> bool:
        return self.m_state == ZMTP_READY

    def PeerMinor(self) -> int:
        return self.m_peer_minor

    def Connects(self) -> int:
        return self.m_connects

    def Attempts(self) -> int:
        return self.m_attempts

    def PingsIn(self) -> int:
        return self.m_pings_in

    def PongsOut(self) -> int:
        return self.m_pongs_out

    def PingsOut(self) -> int:
        return self.m_pings_out

    def PongsIn(self) -> int:
        return self.m_pongs_in

    def BytesIn(self) -> int:
        return self.m_bytes_in

    def LastFailure(self) -> str:
        return self.m_last_failure

    def Endpoint(self) -> str:
        return self.m_host + ":" + IntegerToString(self.m_port)

    def StateName(self) -> str:
        return {ZMTP_STOPPED: "STOPPED", ZMTP_WAITING: "WAITING", ZMTP_GREETING: "GREETING",
                ZMTP_HANDSHAKE: "HANDSHAKE", ZMTP_READY: "READY"}.get(self.m_state, "?")

    def SetState(self, state: int) -> None:
        self.m_state = state
        self.m_state_since_ms = ZmtpNow()

    def Event(self, text: str) -> None:
        if self.m_event_count == ZMTP_MAX_EVENTS:
            for i in range(1, self.m_event_count):
                self.m_events[i - 1] = self.m_events[i]
            self.m_event_count -= 1
        if ArraySize(self.m_events) < ZMTP_MAX_EVENTS:
            ArrayResize(self.m_events, ZMTP_MAX_EVENTS, fill=str)
        self.m_events[self.m_event_count] = text
        self.m_event_count += 1

    def NextEvent(self) -> str | None:
        """MQL5: bool NextEvent(string &text); here the text, or None for false."""
        if self.m_event_count == 0:
            return None
        text = self.m_events[0]
        for i in range(1, self.m_event_count):
            self.m_events[i - 1] = self.m_events[i]
        self.m_event_count -= 1
        return text

    # --- connection life

    def Pump(self) -> int:
        if self.m_state == ZMTP_STOPPED:
            return 0
        if self.m_state == ZMTP_WAITING:
            if ZmtpNow() < self.m_next_attempt_ms:
                return 0
            if not self.Connect():
                return 0
        if not self.Flush():
            return 0
        got = self.ReadAvailable()
        if got < 0:
            return 0
        if self.m_state == ZMTP_GREETING and not self.ReadGreeting():
            return got
        if self.m_state == ZMTP_HANDSHAKE and not self.ReadReady():
            return got
        self.CheckDeadlines(ZmtpNow())
        return got

    def Connect(self) -> bool:
        self.m_attempts += 1
        ResetLastError()
        self.m_socket = SocketCreate()
        if self.m_socket == INVALID_HANDLE:
            return self.Fail(StringFormat("SocketCreate failed (error %d)", GetLastError()))
        if not SocketConnect(self.m_socket, self.m_host, self.m_port, self.m_connect_timeout_ms):
            error = GetLastError()
            hint = ""
            if error == 4014:
                hint = ": sockets are not allowed here (an indicator?) or the address is not in "
                hint += "Tools > Options > Expert Advisors > Allow WebRequest for listed URL"
                hint += StringFormat(" (loopback too: list both %s and %s)", self.m_host, self.Endpoint())
            return self.Fail(StringFormat("cannot connect to %s (error %d)%s", self.Endpoint(), error, hint))
        SocketTimeouts(self.m_socket, 200, 200)
        self.ResetBuffers()
        self.m_peer_minor = -1
        self.m_last_rx_ms = ZmtpNow()
        self.m_last_ping_ms = 0
        self.SetState(ZMTP_GREETING)
        self.QueueGreeting()
        return self.Flush()

    def Fail(self, reason: str) -> bool:
        self.Disconnect(reason)
        return False

    def Disconnect(self, reason: str) -> None:
        if self.m_socket != INVALID_HANDLE:
            SocketClose(self.m_socket)
        self.m_socket = INVALID_HANDLE
        was_ready = self.m_state == ZMTP_READY
        if was_ready or reason != self.m_last_failure:
            self.Event(StringFormat("%s; next attempt in %d ms", reason, self.m_backoff_ms))
        self.m_last_failure = reason
        self.m_next_attempt_ms = ZmtpNow() + self.m_backoff_ms
        self.m_backoff_ms = self.m_backoff_max_ms if self.m_backoff_ms * 2 > self.m_backoff_max_ms \
            else self.m_backoff_ms * 2
        self.ResetBuffers()
        self.SetState(ZMTP_WAITING)

    def ResetBuffers(self) -> None:
        self.m_in_len = 0
        self.m_in_pos = 0
        self.m_out_len = 0
        ZmtpMessageClear(self.m_partial)

    # --- input

    def ReadAvailable(self) -> int:
        if not SocketIsConnected(self.m_socket):
            self.Fail("connection closed by the peer")
            return -1
        if self.m_state == ZMTP_READY and self.FrameBuffered():
            return 0
        ResetLastError()
        readable = SocketIsReadable(self.m_socket)
        if readable == 0 and GetLastError() == ERR_NETSOCKET_IO_ERROR:
            self.Fail("connection lost (error 5273)")
            return -1
        want = self.m_read_budget if readable > self.m_read_budget else readable
        if want <= 0:
            return 0
        ArrayResize(self.m_chunk, 0, self.m_read_budget)
        ResetLastError()
        got = SocketRead(self.m_socket, self.m_chunk, want, ZMTP_READ_WAIT_MS)
        if got <= 0:
            error = GetLastError()
            if error != 0 and not SocketIsConnected(self.m_socket):
                self.Fail(StringFormat("connection closed by the peer or lost (read error %d)", error))
                return -1
            return 0
        self.Append(self.m_chunk, got)
        self.m_bytes_in += got
        self.m_last_rx_ms = ZmtpNow()
        return got

    def Append(self, chunk, count: int) -> None:
        self.Compact()
        if ArraySize(self.m_in) < self.m_in_len + count:
            ArrayResize(self.m_in, self.m_in_len + count, 65536)
        ArrayCopy(self.m_in, chunk, self.m_in_len, 0, count)
        self.m_in_len += count

    def Compact(self) -> None:
        if self.m_in_pos == 0:
            return
        rest = self.m_in_len - self.m_in_pos
        if rest > 0:
            ArrayResize(self.m_tmp, rest)
            ArrayCopy(self.m_tmp, self.m_in, 0, self.m_in_pos, rest)
            ArrayCopy(self.m_in, self.m_tmp, 0, 0, rest)
        self.m_in_len = rest
        self.m_in_pos = 0

    def ReadGreeting(self) -> bool:
        avail = self.m_in_len - self.m_in_pos
        g = self.m_in_pos
        if avail >= 1 and self.m_in[g] != 0xFF:
            return self.Fail("not a ZMTP peer (bad signature)")
        if avail >= 10 and (self.m_in[g + 9] & 0x01) == 0:
            return self.Fail("not a ZMTP peer (bad signature)")
        if avail >= 11 and self.m_in[g + 10] < 3:
            return self.Fail(StringFormat("peer speaks ZMTP %d; 3.0 or later is needed", self.m_in[g + 10]))
        if avail < ZMTP_GREETING_BYTES:
            return True
        n = 0
        while n < 20 and self.m_in[g + 12 + n] != 0:
            n += 1
        mechanism = CharArrayToString(self.m_in, g + 12, n, CP_UTF8) if n > 0 else ""
        if mechanism != "NULL":
            return self.Fail("peer wants security mechanism '" + mechanism + "'; only NULL is supported")
        peer_minor = 255 if self.m_in[g + 10] > 3 else self.m_in[g + 11]
        self.m_peer_minor = peer_minor if peer_minor < self.m_minor else self.m_minor
        self.m_in_pos += ZMTP_GREETING_BYTES
        self.SetState(ZMTP_HANDSHAKE)
        self.QueueReady()
        return self.Flush()

    def ReadReady(self) -> bool:
        r, flags, body_at, size = self.ParseFrame()
        if r <= 0:
            return r == 0
        if (flags & ZMTP_FLAG_COMMAND) == 0:
            return self.Fail("expected READY, got a message frame")
        name = self.CommandName(body_at, size)
        if name == "ERROR":
            return self.Fail("peer refused the handshake")
        if name != "READY":
            return self.Fail("expected READY, got command '" + name + "'")
        type_ = self.Property(body_at, size, "socket-type")
        if type_ != "PUB" and type_ != "XPUB":
            return self.Fail("peer socket type '" + type_ + "' cannot feed a SUB")
        self.m_in_pos = body_at + size
        self.SetState(ZMTP_READY)
        self.m_connects += 1
        self.m_backoff_ms = self.m_backoff_min_ms
        self.m_last_failure = ""
        self.Event(StringFormat("connected to %s (%s, ZMTP 3.%d)", self.Endpoint(), type_, self.m_peer_minor))
        for i in range(ArraySize(self.m_topics)):
            self.QueueSubscription(self.m_topics[i])
        return self.Flush()

    def ParseFrame(self) -> tuple[int, int, int, int]:
        """MQL5: int ParseFrame(int &flags, int &body_at, int &size); here (result, flags, body_at, size)."""
        flags = body_at = size = 0
        avail = self.m_in_len - self.m_in_pos
        if avail < 1:
            return 0, flags, body_at, size
        flags = self.m_in[self.m_in_pos]
        if (flags & ZMTP_FLAG_RESERVED) != 0:
            self.Fail(StringFormat("bad frame flags 0x%02X", flags))
            return -1, flags, body_at, size
        if (flags & ZMTP_FLAG_COMMAND) != 0 and (flags & ZMTP_FLAG_MORE) != 0:
            self.Fail("command frame with the MORE flag")
            return -1, flags, body_at, size
        header = 9 if (flags & ZMTP_FLAG_LONG) != 0 else 2
        if avail < header:
            return 0, flags, body_at, size
        n = ZmtpReadU64BE(self.m_in, self.m_in_pos + 1) if header == 9 else self.m_in[self.m_in_pos + 1]
        if n > self.m_max_frame_bytes:
            self.Fail(StringFormat("frame of %I64u bytes is over the %d-byte limit", n, self.m_max_frame_bytes))
            return -1, flags, body_at, size
        if avail < header + n:
            return 0, flags, body_at, size
        size = n
        body_at = self.m_in_pos + header
        return 1, flags, body_at, size

    def FrameBuffered(self) -> bool:
        avail = self.m_in_len - self.m_in_pos
        if avail < 1:
            return False
        header = 9 if (self.m_in[self.m_in_pos] & ZMTP_FLAG_LONG) != 0 else 2
        if avail < header:
            return False
        n = ZmtpReadU64BE(self.m_in, self.m_in_pos + 1) if header == 9 else self.m_in[self.m_in_pos + 1]
        return n <= avail - header

    def CommandName(self, at: int, size: int) -> str:
        if size < 1:
            return ""
        n = self.m_in[at]
        if n == 0 or 1 + n > size:
            return ""
        return CharArrayToString(self.m_in, at + 1, n, CP_UTF8)

    def Property(self, at: int, size: int, wanted: str) -> str:
        end = at + size
        p = at + 1 + self.m_in[at]
        while p < end:
            name_size = self.m_in[p]
            if p + 1 + name_size + 4 > end:
                return ""
            name = CharArrayToString(self.m_in, p + 1, name_size, CP_UTF8) if name_size > 0 else ""
            p += 1 + name_size
            value_size = ZmtpReadU32BE(self.m_in, p)
            p += 4
            if value_size > end - p:
                return ""
            name = StringToLower(name)
            if name == wanted:
                return CharArrayToString(self.m_in, p, value_size, CP_UTF8) if value_size > 0 else ""
            p += value_size
        return ""

    def HandleCommand(self, at: int, size: int) -> bool:
        name = self.CommandName(at, size)
        if name == "PING":
            self.m_pings_in += 1
            return self.SendPong(at, size)
        if name == "PONG":
            self.m_pongs_in += 1
            return True
        if name == "ERROR":
            return self.Fail("peer sent ERROR")
        if name == "":
            return self.Fail("malformed command")
        return True

    def NextMessage(self, msg: ZmtpMessage) -> bool:
        while self.m_state == ZMTP_READY:
            r, flags, body_at, size = self.ParseFrame()
            if r <= 0:
                return False
            self.m_in_pos = body_at + size
            if (flags & ZMTP_FLAG_COMMAND) != 0:
                self.HandleCommand(body_at, size)
                continue
            if not self.AddPart(body_at, size):
                return False
            if (flags & ZMTP_FLAG_MORE) == 0:
                ZmtpMessageCopy(self.m_partial, msg)
                ZmtpMessageClear(self.m_partial)
                return True
        return False

    def AddPart(self, at: int, size: int) -> bool:
        if self.m_partial.parts >= ZMTP_MAX_PARTS or self.m_partial.bytes + size > self.m_max_frame_bytes:
            return self.Fail("message over the part or size limit")
        ZmtpMessageAdd(self.m_partial, self.m_in, at, size)
        return True

    def CheckDeadlines(self, now: int) -> None:
        if self.m_state == ZMTP_GREETING or self.m_state == ZMTP_HANDSHAKE:
            if now - self.m_state_since_ms > self.m_handshake_timeout_ms:
                self.Fail(StringFormat("handshake not done within %d ms", self.m_handshake_timeout_ms))
            return
        if self.m_state != ZMTP_READY:
            return
        idle = now - self.m_last_rx_ms
        if idle > self.m_dead_after_ms:
            self.Fail(StringFormat("peer silent for %I64d ms", idle))
            return
        if self.m_peer_minor >= 1 and idle > self.m_probe_after_ms and now - self.m_last_ping_ms > self.m_probe_after_ms:
            self.m_last_ping_ms = now
            self.QueuePing()
            self.Flush()

    # --- output

    def QueueBytes(self, bytes_, at: int, count: int) -> None:
        if ArraySize(self.m_out) < self.m_out_len + count:
            ArrayResize(self.m_out, self.m_out_len + count, 1024)
        if count > 0:
            ArrayCopy(self.m_out, bytes_, self.m_out_len, at, count)
        self.m_out_len += count

    def QueueFrame(self, flags: int, body, count: int) -> None:
        header = uchar_array(9)
        header_size = 2
        header[0] = flags
        if count > 255:
            header[0] = flags | ZMTP_FLAG_LONG
            header_size = 9
            for i in range(8):
                header[1 + i] = (count >> (8 * (7 - i))) & 0xFF
        else:
            header[1] = count
        self.QueueBytes(header, 0, header_size)
        self.QueueBytes(body, 0, count)

    def QueueCommand(self, name: str, data, count: int) -> None:
        body = uchar_array()
        name_bytes = uchar_array()
        n = ZmtpUtf8(name, name_bytes)
        ArrayResize(body, 1 + n + count)
        body[0] = n
        ArrayCopy(body, name_bytes, 1, 0, n)
        if count > 0:
            ArrayCopy(body, data, 1 + n, 0, count)
        self.QueueFrame(ZMTP_FLAG_COMMAND, body, 1 + n + count)

    def QueueGreeting(self) -> None:
        g = uchar_array(ZMTP_GREETING_BYTES)
        for i in range(ZMTP_GREETING_BYTES):
            g[i] = 0
        g[0] = 0xFF
        g[9] = 0x7F
        g[10] = 3
        g[11] = self.m_minor
        g[12] = ord("N")
        g[13] = ord("U")
        g[14] = ord("L")
        g[15] = ord("L")
        self.QueueBytes(g, 0, ZMTP_GREETING_BYTES)

    def QueueReady(self) -> None:
        name = uchar_array()
        value = uchar_array()
        name_size = ZmtpUtf8("Socket-Type", name)
        value_size = ZmtpUtf8("SUB", value)
        data = uchar_array()
        ArrayResize(data, 1 + name_size + 4 + value_size)
        data[0] = name_size
        ArrayCopy(data, name, 1, 0, name_size)
        p = 1 + name_size
        data[p] = 0
        data[p + 1] = 0
        data[p + 2] = 0
        data[p + 3] = value_size
        ArrayCopy(data, value, p + 4, 0, value_size)
        self.QueueCommand("READY", data, ArraySize(data))

    def QueueSubscription(self, prefix: str) -> None:
        topic = uchar_array()
        n = ZmtpUtf8(prefix, topic)
        if self.m_peer_minor >= 1:
            self.QueueCommand("SUBSCRIBE", topic, n)
            return
        body = uchar_array()
        ArrayResize(body, 1 + n)
        body[0] = 1
        if n > 0:
            ArrayCopy(body, topic, 1, 0, n)
        self.QueueFrame(0, body, 1 + n)

    def QueuePing(self) -> None:
        ttl = uchar_array(2)
        ttl[0] = 0
        ttl[1] = 0
        self.QueueCommand("PING", ttl, 2)
        self.m_pings_out += 1

    def SendPong(self, at: int, size: int) -> bool:
        context_at = at + 1 + 4 + 2
        context_size = at + size - context_at
        if context_size < 0:
            context_size = 0
        if context_size > 16:
            context_size = 16
        context = uchar_array()
        ArrayResize(context, context_size)
        if context_size > 0:
            ArrayCopy(context, self.m_in, 0, context_at, context_size)
        self.QueueCommand("PONG", context, context_size)
        self.m_pongs_out += 1
        return self.Flush()

    def Flush(self) -> bool:
        if self.m_out_len == 0 or self.m_socket == INVALID_HANDLE:
            return True
        sent = SocketSend(self.m_socket, self.m_out, self.m_out_len)
        if sent < 0:
            return self.Fail(StringFormat("send failed (error %d)", GetLastError()))
        rest = self.m_out_len - sent
        if rest > 0 and sent > 0:
            ArrayResize(self.m_tmp, rest)
            ArrayCopy(self.m_tmp, self.m_out, 0, sent, rest)
            ArrayCopy(self.m_out, self.m_tmp, 0, 0, rest)
        self.m_out_len = rest
        if self.m_out_len > ZMTP_MAX_PENDING_OUT:
            return self.Fail("the peer does not read what we send")
        return True

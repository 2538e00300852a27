"""The MQL5 built-ins the twin uses, with MQL5's semantics, over Python's `socket` module (tests only).

The twin modules (protocol.py, zmtp.py, subscriber.py) call these under the MQL5 names, so each twin line reads
like its MQL5 line. Where MQL5 would stop the program (array out of range) these raise, so a test sees the crash
a terminal would have; they catch nothing else. The sockets behave as the terminal's are documented to, the
unkind parts included (the same model as the C++ runtime, tests/mql5check/mql5_runtime.h):
- SocketIsReadable reports 1 byte when nothing is buffered: the MQL5 book ("Checking socket status") says it
  "speculatively returns 1" for an empty buffer, "as a rule, the first time"; here every time it is empty;
- SocketRead waits up to its timeout and returns -1 with no error code when nothing came, -1 with
  ERR_NETSOCKET_IO_ERROR on an error (a closed peer included), which breaks the connection; a timeout of 0 waits
  the default 120 s; a dynamic buffer "increases by the number of bytes read": the bytes are appended;
- SocketConnect to a port nobody listens on fails only after min(timeout, 2 s): Windows retries the SYN for
  about 2 s even on loopback (libuv/libuv#2896), and the terminal runs on Windows. The wait goes through
  `sleep`, which a test may replace with a virtual clock's hand.

One setting models what we do not know of the terminal: EOF_VISIBLE. True: SocketIsConnected turns false once the
peer has closed (as a TCP stack sees it). False: it stays true until SocketClose, so the twin must notice a dead
peer through its own deadlines. Tests run both.
"""

from __future__ import annotations

import fcntl
import math
import select
import socket
import struct
import termios
import time

INVALID_HANDLE = -1
WHOLE_ARRAY = -1
CP_UTF8 = 65001
SOCKET_DEFAULT = 0

ERR_FUNCTION_NOT_ALLOWED = 4014
ERR_NETSOCKET_INVALIDHANDLE = 5270
ERR_NETSOCKET_CANNOT_CONNECT = 5272
ERR_NETSOCKET_IO_ERROR = 5273

EOF_VISIBLE = True
clock = time.monotonic  # tests may replace it; GetTickCount64 reads it
sleep = time.sleep  # the waits inside built-ins (a refused connect); tests may make them virtual
REFUSED_CONNECT_S = 2.0  # how long Windows keeps retrying a refused connection
TIMEOUT_ERROR = 0  # the error a SocketRead timeout sets: none is documented; tests also try 5273 (undocumented)

_sockets: dict[int, socket.socket] = {}
_broken: set[int] = set()  # handles whose connection a read or send error broke
_next_handle = 1
_last_error = 0
log: list[str] = []  # what Print wrote


def reset() -> None:
    """A fresh terminal: closes every socket the shim opened, forgets the log, restores the defaults."""
    global EOF_VISIBLE, clock, sleep, TIMEOUT_ERROR, _last_error
    for sock in _sockets.values():
        sock.close()
    _sockets.clear()
    _broken.clear()
    log.clear()
    EOF_VISIBLE, clock, sleep, TIMEOUT_ERROR, _last_error = True, time.monotonic, time.sleep, 0, 0


def open_handles() -> int:
    return len(_sockets)


# --- arrays: uchar arrays are `uchar_array`, other arrays plain lists


class uchar_array(bytearray):  # noqa: N801 - the MQL5 type's name
    """A uchar[] that refuses negative indices, which Python would silently wrap and MQL5 stops on."""

    def __getitem__(self, i):
        if isinstance(i, int) and i < 0:
            raise IndexError(f"array out of range: [{i}]")
        return super().__getitem__(i)

    def __setitem__(self, i, value):
        if isinstance(i, int) and i < 0:
            raise IndexError(f"array out of range: [{i}]")
        super().__setitem__(i, value)


def ArraySize(array) -> int:
    return len(array)


def ArrayResize(array, new_size: int, reserve: int = 0, fill=None) -> int:
    """Sets the size; `fill` makes new elements of a list (a struct's constructor), default 0 / ''."""
    if new_size < 0:
        raise ValueError("ArrayResize to a negative size")
    if new_size < len(array):
        del array[new_size:]
    elif isinstance(array, bytearray):
        array.extend(bytes(new_size - len(array)))
    else:
        while len(array) < new_size:
            array.append(fill() if fill is not None else 0)
    return new_size


def ArrayCopy(dst, src, dst_start: int = 0, src_start: int = 0, count: int = WHOLE_ARRAY) -> int:
    if count == WHOLE_ARRAY:
        count = len(src) - src_start
    if count < 0 or src_start < 0 or dst_start < 0 or src_start + count > len(src):
        raise IndexError(f"ArrayCopy out of range: src[{src_start}:{src_start + count}] of {len(src)}")
    if dst_start + count > len(dst):  # a dynamic destination grows
        ArrayResize(dst, dst_start + count)
    dst[dst_start:dst_start + count] = src[src_start:src_start + count]
    return count


# --- strings


def CharArrayToString(array, start: int = 0, count: int = -1, codepage: int = CP_UTF8) -> str:
    if start < 0 or start > len(array):
        raise IndexError(f"CharArrayToString start {start} of {len(array)}")
    end = len(array) if count < 0 else min(len(array), start + count)
    raw = bytes(array[start:end]).split(b"\0", 1)[0]
    return raw.decode("utf-8", errors="replace")


def StringToCharArray(text: str, array, start: int = 0, count: int = -1, codepage: int = CP_UTF8) -> int:
    """Copies text's UTF-8 bytes and a terminating NUL; returns how many bytes, the NUL included."""
    raw = text.encode("utf-8") + b"\0"
    if count >= 0:
        raw = raw[:count]
    ArrayResize(array, max(len(array), start + len(raw)))
    array[start:start + len(raw)] = raw
    return len(raw)


def StringLen(text: str) -> int:
    return len(text)


def StringSubstr(text: str, start: int, length: int = -1) -> str:
    return text[start:] if length < 0 else text[start:start + length]


def StringToLower(text: str) -> str:
    """MQL5 changes the string in place (and returns bool); Python strings are immutable, so it returns it."""
    return text.lower()


def StringFormat(fmt: str, *args) -> str:
    return fmt.replace("%I64d", "%d").replace("%I64u", "%d") % args


def IntegerToString(value: int) -> str:
    return str(value)


def Print(*args) -> None:
    log.append("".join(str(a) for a in args))


def MathIsValidNumber(value: float) -> bool:
    return math.isfinite(value)


# --- casts with MQL5's wrap-around


def to_long(value: int) -> int:
    """(long)x of a ulong: two's complement."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


def to_float(bits: int) -> float:
    """The float whose bits are `bits` (what the union Mt5bFloatBits does)."""
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


# --- time and errors


def GetTickCount64() -> int:
    return int(clock() * 1000)


def GetLastError() -> int:
    return _last_error


def ResetLastError() -> None:
    global _last_error
    _last_error = 0


def _error(code: int) -> None:
    global _last_error
    _last_error = code


# --- sockets


def SocketCreate(flags: int = SOCKET_DEFAULT) -> int:
    global _next_handle
    handle = _next_handle
    _next_handle += 1
    _sockets[handle] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    return handle


def _sock(handle: int) -> socket.socket | None:
    sock = _sockets.get(handle)
    if sock is None:
        _error(ERR_NETSOCKET_INVALIDHANDLE)
    return sock


def SocketConnect(handle: int, server: str, port: int, timeout_receive_ms: int) -> bool:
    """Blocks up to the timeout, as the terminal's does; a refused connection takes min(timeout, 2 s)."""
    sock = _sock(handle)
    if sock is None:
        return False
    began = clock()
    sock.settimeout(timeout_receive_ms / 1000)
    try:
        sock.connect((server, port))
    except ConnectionRefusedError:
        sleep(max(0.0, min(timeout_receive_ms / 1000, REFUSED_CONNECT_S) - (clock() - began)))
        _error(ERR_NETSOCKET_CANNOT_CONNECT)
        return False
    except OSError:
        _error(ERR_NETSOCKET_CANNOT_CONNECT)
        return False
    sock.setblocking(False)
    return True


def _break(handle: int) -> None:
    _broken.add(handle)
    _error(ERR_NETSOCKET_IO_ERROR)


def SocketIsConnected(handle: int) -> bool:
    sock = _sock(handle)
    if sock is None or handle in _broken:
        return False
    if not EOF_VISIBLE:
        return True
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def SocketIsReadable(handle: int) -> int:
    """The bytes buffered, or 1 when there are none (the terminal's speculative byte); 0 on an error."""
    sock = _sock(handle)
    if sock is None:
        return 0
    if handle in _broken:
        _error(ERR_NETSOCKET_IO_ERROR)
        return 0
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        _break(handle)
        return 0
    return max(1, struct.unpack("i", raw)[0])


def SocketRead(handle: int, buffer, buffer_maxlen: int, timeout_ms: int) -> int:
    """Appends up to buffer_maxlen bytes to buffer; -1 on a timeout (no error code) or an error (5273)."""
    sock = _sock(handle)
    if sock is None:
        return -1
    if handle in _broken:
        _error(ERR_NETSOCKET_IO_ERROR)
        return -1
    wait_s = (timeout_ms if timeout_ms > 0 else 120000) / 1000
    try:
        readable, _, _ = select.select([sock], [], [], wait_s)
    except OSError:
        _break(handle)
        return -1
    if not readable:
        return _timeout()
    try:
        data = sock.recv(buffer_maxlen)
    except BlockingIOError:
        return _timeout()
    except OSError:
        data = b""
    if not data:  # the peer closed, or an error
        _break(handle)
        return -1
    buffer.extend(data)
    return len(data)


def _timeout() -> int:
    if TIMEOUT_ERROR:
        _error(TIMEOUT_ERROR)
    return -1


def SocketSend(handle: int, buffer, buffer_len: int) -> int:
    """Bytes sent (0 when the socket's buffer is full), -1 on error (which breaks the connection)."""
    sock = _sock(handle)
    if sock is None:
        return -1
    if handle in _broken:
        _error(ERR_NETSOCKET_IO_ERROR)
        return -1
    try:
        return sock.send(bytes(buffer[0:buffer_len]))
    except BlockingIOError:
        return 0
    except OSError:
        _break(handle)
        return -1


def SocketClose(handle: int) -> bool:
    sock = _sockets.pop(handle, None)
    _broken.discard(handle)
    if sock is None:
        _error(ERR_NETSOCKET_INVALIDHANDLE)
        return False
    sock.close()
    return True


def SocketTimeouts(handle: int, timeout_send_ms: int, timeout_receive_ms: int) -> bool:
    return _sock(handle) is not None


class VirtualClock:
    """GetTickCount64's clock for tests: real time plus an offset that `advance` moves. With virtual_waits, its
    `sleep` (installed as the shim's) moves it too, so a minute of a daemon being down takes no time."""

    def __init__(self, virtual_waits: bool = False):
        self.offset = 0.0
        self.virtual_waits = virtual_waits

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def sleep(self, seconds: float) -> None:
        if self.virtual_waits:
            self.advance(seconds)
        else:
            time.sleep(seconds)

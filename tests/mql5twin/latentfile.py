"""Twin of mql5/Include/Mt5Bridge/LatentFile.mqh, function by function, same names (tests only).

The reference reader is mt5bridge/latentfile.py; tests compare the three (reference, twin, compiled MQL5).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .mql5 import (CP_UTF8, INVALID_HANDLE, ArrayResize, ArraySize, CharArrayToString, GetLastError, ResetLastError,
                   StringFormat, StringToCharArray, uchar_array)
from .mql5files import (FILE_BIN, FILE_COMMON, FILE_READ, FILE_SHARE_READ, SEEK_SET, FileClose, FileOpen,
                        FileReadArray, FileSeek, FileSize)
from .protocol import (MT5B_SYMBOL_BYTES, Mt5bLatent, Mt5bReadF32, Mt5bReadI64, Mt5bReadText, Mt5bReadU16,
                       Mt5bReadU32, Mt5bReadU64, Mt5bTimeframeName)

MT5B_FILE_VERSION = 1
MT5B_FILE_HEADER_BYTES = 152
MT5B_FILE_RECORD_FIXED = 20
MT5B_FILE_SUFFIX = ".mt5b"
MT5B_FILE_FOLDER = "Mt5Bridge"
MT5B_FILE_CHUNK = 1024


@dataclass
class Mt5bFileHeader:
    version: int = 0
    record_bytes: int = 0
    latent_size: int = 0
    timeframe: int = 0
    warmup_bars: int = 0
    drift_threshold: float = 0.0
    count: int = 0
    first_bar_time: int = 0
    last_bar_time: int = 0
    symbol: str = ""
    model_sha256: str = ""
    feature_set: str = ""


def Mt5bReadF64(b, at: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", Mt5bReadU64(b, at)))[0]  # union Mt5bDoubleBits


def Mt5bLatentFileName(symbol: str, tf: int) -> str:
    b = uchar_array()
    n = StringToCharArray(symbol, b, 0, -1, CP_UTF8) - 1
    for i in range(n):
        if b[i] in b'\\/:*?"<>|':
            b[i] = ord("_")
    safe = CharArrayToString(b, 0, n, CP_UTF8) if n > 0 else ""
    return safe + "_" + Mt5bTimeframeName(tf) + MT5B_FILE_SUFFIX


def Mt5bDecodeFileHeader(b, file_size: int, h: Mt5bFileHeader, why: list) -> bool:
    """`why` is a one-element list: the twin's stand-in for MQL5's `string &why`."""
    if ArraySize(b) < MT5B_FILE_HEADER_BYTES or file_size < MT5B_FILE_HEADER_BYTES:
        why[0] = StringFormat("%I64d bytes, shorter than the %d-byte header", file_size, MT5B_FILE_HEADER_BYTES)
        return False
    if b[0] != ord("M") or b[1] != ord("5") or b[2] != ord("B") or b[3] != ord("L"):
        why[0] = "bad magic: not an mt5bridge latent file"
        return False
    h.version = Mt5bReadU16(b, 4)
    if h.version != MT5B_FILE_VERSION:
        why[0] = StringFormat("format version %d, this reader reads version %d", h.version, MT5B_FILE_VERSION)
        return False
    if Mt5bReadU16(b, 6) != MT5B_FILE_HEADER_BYTES:
        why[0] = StringFormat("header_bytes %d, expected %d", Mt5bReadU16(b, 6), MT5B_FILE_HEADER_BYTES)
        return False
    h.record_bytes = Mt5bReadU32(b, 8)
    h.latent_size = Mt5bReadU16(b, 12)
    if h.latent_size == 0 or h.record_bytes != MT5B_FILE_RECORD_FIXED + 4 * h.latent_size:
        why[0] = StringFormat("record_bytes %u do not hold latent_size %d floats", h.record_bytes, h.latent_size)
        return False
    h.timeframe = Mt5bReadU32(b, 16)
    h.warmup_bars = Mt5bReadU32(b, 20)
    h.drift_threshold = Mt5bReadF64(b, 24)
    h.count = Mt5bReadU64(b, 32)
    h.first_bar_time = Mt5bReadI64(b, 40)
    h.last_bar_time = Mt5bReadI64(b, 48)
    if h.count == 0:
        why[0] = "record_count 0: no records"
        return False
    records = file_size - MT5B_FILE_HEADER_BYTES
    if records % h.record_bytes != 0 or records // h.record_bytes != h.count:
        why[0] = StringFormat("%I64d bytes, but record_count %I64u needs %I64u (truncated or grown)", file_size,
                              h.count, MT5B_FILE_HEADER_BYTES + h.count * h.record_bytes)
        return False
    if Mt5bTimeframeName(h.timeframe) == "":
        why[0] = StringFormat("timeframe %u is not an ENUM_TIMEFRAMES value", h.timeframe)
        return False
    h.symbol = Mt5bReadText(b, 56, MT5B_SYMBOL_BYTES)
    h.model_sha256 = ""
    for i in range(32):
        h.model_sha256 += StringFormat("%02x", b[88 + i])
    h.feature_set = Mt5bReadText(b, 120, MT5B_SYMBOL_BYTES)
    return True


def Mt5bDecodeFileRecord(b, at: int, h: Mt5bFileHeader, m: Mt5bLatent) -> None:
    m.symbol = h.symbol
    m.timeframe = h.timeframe
    m.bar_time = Mt5bReadI64(b, at)
    m.flags = Mt5bReadU32(b, at + 8)
    m.recon_error = Mt5bReadF32(b, at + 12)
    m.anomaly_pct = Mt5bReadF32(b, at + 16)
    ArrayResize(m.latent, h.latent_size)
    for k in range(h.latent_size):
        m.latent[k] = Mt5bReadF32(b, at + MT5B_FILE_RECORD_FIXED + 4 * k)


class CMt5bLatentFile:
    def __init__(self) -> None:
        self.m_handle = INVALID_HANDLE
        self.m_name = ""
        self.m_header = Mt5bFileHeader()
        self.m_buf = uchar_array()
        self.m_cursor = -1
        self.m_why = ""

    def Open(self, name: str) -> bool:
        self.Close()
        self.m_name = name
        self.m_cursor = -1
        ResetLastError()
        self.m_handle = FileOpen(name, FILE_READ | FILE_BIN | FILE_SHARE_READ | FILE_COMMON)
        if self.m_handle == INVALID_HANDLE:
            return self.Fail(StringFormat("cannot open it (error %d): is it in the common Files folder?",
                                          GetLastError()))
        size = FileSize(self.m_handle)
        if size < MT5B_FILE_HEADER_BYTES:
            return self.Fail(StringFormat("%I64d bytes, shorter than the %d-byte header", size,
                                          MT5B_FILE_HEADER_BYTES))
        if not FileSeek(self.m_handle, 0, SEEK_SET) or ArrayResize(self.m_buf, MT5B_FILE_HEADER_BYTES) < 0 or \
                FileReadArray(self.m_handle, self.m_buf, 0, MT5B_FILE_HEADER_BYTES) != MT5B_FILE_HEADER_BYTES:
            return self.Fail(StringFormat("cannot read the header (error %d)", GetLastError()))
        why = [""]
        if not Mt5bDecodeFileHeader(self.m_buf, size, self.m_header, why):
            return self.Fail(why[0])
        return self.CheckOrder()

    def Close(self) -> None:
        if self.m_handle != INVALID_HANDLE:
            FileClose(self.m_handle)
        self.m_handle = INVALID_HANDLE

    def Fail(self, why: str) -> bool:
        self.m_why = self.m_name + ": " + why
        self.Close()
        return False

    def Read(self, index: int, records: int) -> bool:
        n = records * self.m_header.record_bytes
        if not FileSeek(self.m_handle, MT5B_FILE_HEADER_BYTES + index * self.m_header.record_bytes, SEEK_SET) or \
                ArrayResize(self.m_buf, n) < 0 or FileReadArray(self.m_handle, self.m_buf, 0, n) != n:
            self.m_why = StringFormat("%s: cannot read record %I64d (error %d)", self.m_name, index, GetLastError())
            return False
        return True

    def TimeAt(self, index: int) -> int | None:
        """MQL5: bool TimeAt(index, datetime &t); here t, or None for false."""
        if not self.Read(index, 1):
            return None
        return Mt5bReadI64(self.m_buf, 0)

    def CheckOrder(self) -> bool:
        previous = 0
        for index in range(0, self.m_header.count, MT5B_FILE_CHUNK):
            left = self.m_header.count - index
            records = left if left < MT5B_FILE_CHUNK else MT5B_FILE_CHUNK
            if not self.Read(index, records):
                self.Close()
                return False
            for i in range(records):
                t = Mt5bReadI64(self.m_buf, i * self.m_header.record_bytes)
                if index + i == 0 and t != self.m_header.first_bar_time:
                    return self.Fail(StringFormat("record 0: bar_time %I64d, the header's first_bar_time is %I64d",
                                                  t, self.m_header.first_bar_time))
                if index + i > 0 and t <= previous:
                    return self.Fail(StringFormat("record %I64d: bar_time %I64d is not after the record before it "
                                                  "(%I64d)", index + i, t, previous))
                previous = t
        if previous != self.m_header.last_bar_time:
            return self.Fail(StringFormat("the last record's bar_time %I64d is not the header's last_bar_time %I64d",
                                          previous, self.m_header.last_bar_time))
        return True

    def Find(self, bar_time: int, out: Mt5bLatent) -> int:
        if self.m_handle == INVALID_HANDLE:
            self.m_why = self.m_name + ": not open"
            return -1
        if bar_time < self.m_header.first_bar_time or bar_time > self.m_header.last_bar_time:
            return 0
        lo = 0
        hi = self.m_header.count - 1
        mid = self.m_cursor + 1 if self.m_cursor + 1 <= hi else hi // 2
        while lo <= hi:
            t = self.TimeAt(mid)
            if t is None:
                return -1
            if t == bar_time:
                Mt5bDecodeFileRecord(self.m_buf, 0, self.m_header, out)
                self.m_cursor = mid
                return 1
            if t < bar_time:
                lo = mid + 1
            else:
                hi = mid - 1
            mid = lo + (hi - lo) // 2
        return 0

    def IsOpen(self) -> bool:
        return self.m_handle != INVALID_HANDLE

    def Name(self) -> str:
        return self.m_name

    def Why(self) -> str:
        return self.m_why

    def Symbol(self) -> str:
        return self.m_header.symbol

    def Timeframe(self) -> int:
        return self.m_header.timeframe

    def LatentSize(self) -> int:
        return self.m_header.latent_size

    def Count(self) -> int:
        return self.m_header.count

    def FirstBarTime(self) -> int:
        return self.m_header.first_bar_time

    def LastBarTime(self) -> int:
        return self.m_header.last_bar_time

    def ModelSha256(self) -> str:
        return self.m_header.model_sha256

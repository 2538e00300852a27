"""The mt5bridge latent file: one symbol and timeframe's latents, one fixed-size record per bar, for MetaTrader 5's
Strategy Tester, which runs no socket functions (docs/LATENTFILE.md has the layout; the MQL5 reader is
mql5/Include/Mt5Bridge/LatentFile.mqh).

A record holds, bit for bit, what the daemon would put on the wire for that bar after the same history: the bar time,
the latent flags, the reconstruction error, the anomaly percentile and the Z latent values, in the wire's own field
types (wire.py: i64, u32, f32, f32, f32 x Z). The values are `encode`'s (training/encode.py: `encode_series`, the
daemon's code path); the flags are the daemon's rules for WARM, NO_ERROR and DRIFT, one definition for both
(wire.latent_flags, drift.drift_alarm). CATCHUP (a late send) and REPLAY (a file replay in the daemon) never
apply: in a backtest every bar is delivered at its close, and an EA must see the same flags it will see live.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import wire
from .data.timeframes import timeframe as lookup_timeframe
from .daemon.config import DaemonConfig
from .drift import DRIFT_THRESHOLD, drift_alarm
from .errors import ConfigError, DataError
from .fileio import atomic_path, read_bytes

MAGIC = b"M5BL"
VERSION = 1
SUFFIX = ".mt5b"
TEXT_BYTES = 32  # symbol and feature set: NUL-padded UTF-8, at most 31 bytes (as the wire's symbol)
# magic, version, header_bytes, record_bytes, latent_size, reserved, timeframe, warmup_bars, drift_threshold,
# record_count, first_bar_time, last_bar_time, symbol, model_sha256 (raw), feature_set: 152 bytes
HEADER = struct.Struct(f"<4sHHIHHIIdQqq{TEXT_BYTES}s32s{TEXT_BYTES}s")
RECORD_FIXED_BYTES = 20  # bar_time i64, flags u32, recon_error f32, anomaly_pct f32; then Z f32
DEFAULT_WARMUP_BARS = DaemonConfig().warmup_bars  # the daemon's default WARM threshold
WINDOWS_FORBIDDEN = '\\/:*?"<>|'  # characters a Windows file name cannot hold; a symbol's become '_'


class LatentFileError(DataError):
    """A latent file that does not follow the format; the message names the file and the field or record."""


def record_dtype(latent_size: int) -> np.dtype:
    """One record: little-endian, packed, RECORD_FIXED_BYTES + 4 * Z bytes."""
    return np.dtype([("bar_time", "<i8"), ("flags", "<u4"), ("recon_error", "<f4"), ("anomaly_pct", "<f4"),
                     ("latent", "<f4", (latent_size,))])


@dataclass(frozen=True)
class LatentFileHeader:
    model_sha256: str  # hex digest of the model file (modelfile.file_sha256), as `mt5bridge info` shows it
    symbol: str
    timeframe: int  # MT5 ENUM_TIMEFRAMES value, as the wire carries it (PERIOD_H1 = 16385)
    feature_set: str
    latent_size: int  # Z
    warmup_bars: int  # WARM is set from the record with this many bars fed on (the daemon's daemon.warmup_bars)
    drift_threshold: float  # DRIFT is set where the input-drift score exceeds this (the daemon's drift_threshold)
    count: int
    first_bar_time: int
    last_bar_time: int


@dataclass(frozen=True)
class LatentFile:
    header: LatentFileHeader
    records: np.ndarray  # (N,) of record_dtype(Z), bar_time strictly increasing


def latent_file_name(symbol: str, timeframe_name: str) -> str:
    """XAUUSD_H1.mt5b: what the MQL5 subscriber opens for mt5bridge/latent/XAUUSD/H1 (Mt5bLatentFileName)."""
    safe = "".join("_" if c in WINDOWS_FORBIDDEN else c for c in symbol)
    return f"{safe}_{timeframe_name}{SUFFIX}"


def records_from_table(table: pa.Table, latent_size: int, *, warmup_bars: int = DEFAULT_WARMUP_BARS,
                       drift_threshold: float = DRIFT_THRESHOLD) -> np.ndarray:
    """encode_series' table (one row per bar from the series' first bar) -> (N,) records. The float64 error and
    percentile become f32 exactly as struct's '<f' packs them on the wire (IEEE round to nearest even)."""
    times = table.column("time").to_numpy().astype(np.int64)  # (N,)
    errors = table.column("recon_error").to_numpy(zero_copy_only=False).astype(np.float64)  # (N,)
    percent = table.column("anomaly_pct").to_numpy(zero_copy_only=False).astype(np.float64)  # (N,)
    drifts = table.column("input_drift").to_numpy(zero_copy_only=False).astype(np.float64)  # (N,)
    records = np.zeros(len(times), record_dtype(latent_size))
    records["bar_time"] = times
    fed = np.arange(1, len(times) + 1)  # (N,) bars fed to the model when each bar is published
    records["flags"] = wire.latent_flags(errors, fed, drift_alarm(drifts, fed, drift_threshold), warmup_bars)
    records["recon_error"] = errors.astype(np.float32)
    records["anomaly_pct"] = percent.astype(np.float32)
    for k in range(latent_size):  # already f32 in the table (the latent the wire carries)
        records["latent"][:, k] = table.column(f"z{k}").to_numpy(zero_copy_only=False)
    return records


def latent_file_from_table(table: pa.Table, *, model_sha256: str, symbol: str, timeframe: int, feature_set: str,
                           latent_size: int, warmup_bars: int = DEFAULT_WARMUP_BARS,
                           drift_threshold: float = DRIFT_THRESHOLD) -> LatentFile:
    """`encode`'s table of one stream -> the latent file's header and records (not yet validated: encode does)."""
    records = records_from_table(table, latent_size, warmup_bars=warmup_bars, drift_threshold=drift_threshold)
    first, last = (int(records["bar_time"][i]) for i in (0, -1)) if len(records) else (0, 0)
    header = LatentFileHeader(model_sha256, symbol, timeframe, feature_set, latent_size, warmup_bars,
                              drift_threshold, len(records), first, last)
    return LatentFile(header, records)


def _text_field(value: str, field: str) -> bytes:
    raw = value.encode("utf-8")
    if not raw or len(raw) >= TEXT_BYTES or b"\0" in raw:
        raise ConfigError(f"{field} {value!r} must be 1 to {TEXT_BYTES - 1} bytes of UTF-8 without NUL")
    return raw


def encode_latent_file(header: LatentFileHeader, records: np.ndarray) -> bytes:
    """The file's bytes; ConfigError for a header that cannot be written, DataError for records out of order."""
    z = header.latent_size
    if not 1 <= z <= 0xFFFF:
        raise ConfigError(f"latent size {z} does not fit the format (1 to 65535)")
    if records.dtype != record_dtype(z):
        raise ConfigError(f"records of dtype {records.dtype} are not records of Z = {z}")
    if len(records) == 0:
        raise DataError("no bars to write: a latent file holds at least one record")
    times = records["bar_time"]
    bad = np.flatnonzero(np.diff(times) <= 0)
    if len(bad):
        raise DataError(f"bar times not strictly increasing at record {bad[0] + 1} ({times[bad[0]]} then "
                        f"{times[bad[0] + 1]})")
    lookup_timeframe(int(header.timeframe))  # ConfigError for a constant MT5 does not define
    digest = bytes.fromhex(header.model_sha256)
    if len(digest) != 32:
        raise ConfigError(f"model_sha256 {header.model_sha256!r} is not a SHA-256 hex digest")
    head = HEADER.pack(MAGIC, VERSION, HEADER.size, RECORD_FIXED_BYTES + 4 * z, z, 0, header.timeframe,
                       header.warmup_bars, header.drift_threshold, len(records), int(times[0]), int(times[-1]),
                       _text_field(header.symbol, "symbol"), digest, _text_field(header.feature_set, "feature set"))
    return head + records.tobytes()


def write_latent_file(path: str | Path, header: LatentFileHeader, records: np.ndarray) -> None:
    """Written to a temporary file, then renamed over `path`: a reader never sees half a file."""
    data = encode_latent_file(header, records)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def decode_latent_file(data: bytes, where: str = "latent file") -> LatentFile:
    """Validates everything the MQL5 reader relies on; LatentFileError names `where` and the field or record."""
    def fail(what: str) -> LatentFileError:
        return LatentFileError(f"{where}: {what}")

    if len(data) < HEADER.size:
        raise fail(f"{len(data)} bytes, shorter than the {HEADER.size}-byte header")
    (magic, version, header_bytes, record_bytes, z, _, tf, warmup, threshold, count, first, last, symbol, digest,
     feature_set) = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise fail(f"magic {magic!r}, not {MAGIC!r}: not an mt5bridge latent file")
    if version != VERSION:
        raise fail(f"format version {version}, this reader reads version {VERSION}")
    if header_bytes != HEADER.size:
        raise fail(f"header_bytes {header_bytes}, expected {HEADER.size}")
    if z == 0:
        raise fail("latent_size 0")
    if record_bytes != RECORD_FIXED_BYTES + 4 * z:
        raise fail(f"record_bytes {record_bytes} do not hold latent_size {z} floats "
                   f"({RECORD_FIXED_BYTES + 4 * z} expected)")
    if count == 0:
        raise fail("record_count 0: no records")
    expected = HEADER.size + count * record_bytes
    if len(data) != expected:
        raise fail(f"{len(data)} bytes, but record_count {count} needs {expected} (truncated or grown)")
    try:
        texts = [raw.split(b"\0", 1)[0].decode("utf-8") for raw in (symbol, feature_set)]
    except UnicodeDecodeError as exc:
        raise fail(f"symbol or feature_set is not UTF-8 ({exc})") from None
    try:
        lookup_timeframe(tf)
    except ConfigError:
        raise fail(f"timeframe {tf} is not an MT5 ENUM_TIMEFRAMES value") from None
    records = np.frombuffer(data, record_dtype(z), count, HEADER.size)
    times = records["bar_time"]
    bad = np.flatnonzero(np.diff(times) <= 0)
    if len(bad):
        raise fail(f"record {bad[0] + 1}: bar_time {times[bad[0] + 1]} is not after record {bad[0]}'s "
                   f"{times[bad[0]]} (records must be sorted by strictly increasing bar time)")
    if times[0] != first or times[-1] != last:
        raise fail(f"first/last_bar_time {first}/{last} in the header, {times[0]}/{times[-1]} in the records")
    header = LatentFileHeader(digest.hex(), texts[0], tf, texts[1], z, warmup, threshold, count, first, last)
    return LatentFile(header, records)


def read_latent_file(path: str | Path) -> LatentFile:
    return decode_latent_file(read_bytes(path), str(path))


def resolve_stream(symbol_option: str | None, data_symbol: str | None, data_timeframe: str | None,
                   model_timeframe: str | None, where: str) -> tuple[str, str, list[str]]:
    """(symbol, timeframe name, warnings) of the bars in `where`: the symbol from --symbol or the data's metadata
    (a file name is not a symbol), the timeframe from the data (metadata or bar spacing), else the model's."""
    warnings = []
    if symbol_option is not None:
        _text_field(symbol_option, "--symbol")
        if data_symbol and data_symbol != symbol_option:
            warnings.append(f"{where} says its bars are {data_symbol}; writing them as {symbol_option} (--symbol)")
        symbol = symbol_option
    elif data_symbol:
        symbol = data_symbol
    else:
        raise ConfigError(f"{where} does not say which symbol its bars are (a file name is not a symbol): pass "
                          f"--symbol as the terminal names it, or convert the file with `mt5bridge history SYMBOL TF "
                          f"--source {where} --out F.parquet`, which records it")
    name = data_timeframe or model_timeframe
    if name is None:
        raise ConfigError(f"cannot tell the timeframe of {where} (no metadata, irregular bar spacing) nor the model's: "
                          f"convert the file with `mt5bridge history SYMBOL TF --source {where} --out F.parquet`")
    return symbol, lookup_timeframe(name).name, warnings


def write_from_table(table: pa.Table, out: str | Path, model, model_sha256: str, symbol: str, tf_name: str,
                     warmup_bars: int | None, drift_threshold: float | None) -> str:
    """`encode --format mt5`: write encode's table as the latent file `out`; returns the line to show the user."""
    from .data.bars import format_time

    built = latent_file_from_table(table, model_sha256=model_sha256, symbol=symbol,
                                   timeframe=lookup_timeframe(tf_name).code, feature_set=model.feature_set,
                                   latent_size=model.config.latent, warmup_bars=warmup_bars or DEFAULT_WARMUP_BARS,
                                   drift_threshold=DRIFT_THRESHOLD if drift_threshold is None else drift_threshold)
    write_latent_file(out, built.header, built.records)
    h = built.header
    return (f"{out}: {symbol} {tf_name}, {h.count} bars {format_time(h.first_bar_time)} .. "
            f"{format_time(h.last_bar_time)}, latent size {h.latent_size}; copy it to the terminals' common Files "
            "folder, Mt5Bridge subfolder (docs/LATENTFILE.md)")

"""Bar files: MT5 "export bars" CSV, MT4 History Center CSV, CSV with named columns, Parquet; `.gz` transparently.

The format is sniffed from the content (not the name) and can be overridden. Every row keeps its physical line
number, so a bad bar is reported as "file.csv: line 1234: ...". Parquet output goes through fileio.atomic_path (a
temporary file in the same folder, then a rename), so a reader never sees a half-written file and a scanner's brief
hold on Windows is waited out.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..fileio import atomic_path
from .bars import FIELDS, PRICE_FIELDS, RATES_DTYPE, to_frame, times_to_seconds
from .validation import CheckResult, Problem, check_columns

FORMATS = ("mt5", "mt4", "csv", "parquet")
META_KEY = b"mt5bridge"  # Parquet schema metadata: JSON with symbol, timeframe, source
_MT4_LINE = re.compile(r"^\d{4}[.\-/]\d{1,2}[.\-/]\d{1,2},\d{1,2}:\d{2}(:\d{2})?,")
_TIME_FORMATS = ("%Y.%m.%d %H:%M:%S", "%Y.%m.%d %H:%M", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
# Normalised column name (lower case, <> stripped, spaces and dashes as _) -> MT5 field. Order matters for volume.
_ALIASES = {
    "open": "open", "o": "open", "high": "high", "h": "high", "low": "low", "l": "low", "close": "close", "c": "close",
    "tick_volume": "tick_volume", "tickvol": "tick_volume", "tickvolume": "tick_volume", "tick_vol": "tick_volume",
    "real_volume": "real_volume", "realvolume": "real_volume", "real_vol": "real_volume",
    "spread": "spread",
}
_FIRST_TIME, _LAST_TIME = pd.Timestamp("1970-01-01"), pd.Timestamp("3000-12-31 23:59:59")
_TIME_NAMES = ("time", "datetime", "date_time", "timestamp", "gmt_time", "local_time", "date")


@dataclass
class BarFile:
    path: Path
    format: str  # one of FORMATS
    bars: np.ndarray  # (N,) RATES_DTYPE, checked
    bad: int = 0  # rows dropped under the "drop" policy
    problems: list[Problem] = field(default_factory=list)  # the first few dropped rows
    metadata: dict = field(default_factory=dict)  # mt5bridge Parquet metadata, if any


def read_bars(path: str | Path, *, format: str | None = None, policy: str = "raise", max_report: int = 10) -> BarFile:
    """Read and check a bar file. format: None to sniff, or one of FORMATS. policy: "raise" or "drop"."""
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown file format {format!r}; use one of {FORMATS}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a damaged deflate stream inside the gzip
            raise DataError(f"{path}: broken gzip data: {exc}") from None
    fmt = format or sniff_format(data, path)
    if fmt == "parquet":
        return _read_parquet(path, data, policy, max_report)
    return _read_text(path, _utf8(data, path), fmt, policy, max_report)


def sniff_format(data: bytes, path: Path | str = "<data>") -> str:
    """Tell the format from the (decompressed) content."""
    if data[:4] == b"PAR1":
        return "parquet"
    first = _first_line(_utf8(data, path))
    if first is None:
        raise DataError(f"{path}: the file is empty")
    if first.upper().startswith("<DATE>"):
        return "mt5"
    if _MT4_LINE.match(first):
        return "mt4"
    if re.search(r"[A-Za-z]", first):
        return "csv"
    raise DataError(f"{path}: cannot tell the format from the first line {first[:80]!r}; pass one of {FORMATS}")


def _utf8(data: bytes, path: Path | str = "<data>") -> bytes:
    """Raw bytes -> UTF-8 bytes without a BOM (MT5's "export bars" writes UTF-16 with a BOM)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:  # a truncated or damaged export: say where
            good = data[:exc.start].decode("utf-16", errors="replace")
            raise DataError(f"{path}: damaged UTF-16 text at byte {exc.start}, line {good.count(chr(10)) + 1} "
                            f"({exc.reason}); export the bars again") from None
    return data.removeprefix(b"\xef\xbb\xbf")


def _first_line(data: bytes) -> str | None:
    for line in data[:65536].splitlines():
        text = line.decode("utf-8", errors="replace").strip()
        if text:
            return text
    return None


def _read_text(path: Path, data: bytes, fmt: str, policy: str, max_report: int) -> BarFile:
    lines = data[:65536].splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)  # 0-based line of the header/first bar
    if fmt == "mt4":
        names = ["date", "time", "open", "high", "low", "close", "tick_volume"]
        skip, first_line_no, sep = first, first + 1, ","  # no header
    else:
        header = lines[first].decode("utf-8", errors="replace") if lines else ""
        sep = max(("\t", ",", ";"), key=header.count)
        names = [_normalise(name) for name in header.split(sep)]
        skip, first_line_no = first + 1, first + 2
    columns = _map_columns(names, path)
    text_cols = {i: str for i, name in enumerate(names) if name in ("date", "time") or name in _TIME_NAMES}
    try:
        frame = pd.read_csv(
            io.BytesIO(data), sep=sep, header=None, names=range(len(names)), skiprows=skip, dtype=text_cols,
            skip_blank_lines=False, index_col=False,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: {exc}") from None
    line_no = np.arange(len(frame), dtype=np.int64) + first_line_no  # (N,) physical line of each row
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():  # empty lines are not bars; keep the numbering of the others
        frame, line_no = frame[~blank].reset_index(drop=True), line_no[~blank]
    time_text = _time_text(frame, columns)
    return _finish(path, fmt, frame, columns, time_text, line_no, policy, max_report)


def _read_parquet(path: Path, data: bytes, policy: str, max_report: int) -> BarFile:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for broken files
        raise DataError(f"{path}: cannot read Parquet: {exc}") from None
    meta = (table.schema.metadata or {}).get(META_KEY)
    frame = table.to_pandas()
    names = [_normalise(str(name)) for name in frame.columns]
    frame.columns = range(len(names))
    columns = _map_columns(names, path)
    t_col = columns["time"][0]
    if pd.api.types.is_datetime64_any_dtype(frame[t_col].dtype) or isinstance(frame[t_col].dtype, pd.DatetimeTZDtype):
        seconds, ok = times_to_seconds(frame[t_col]), frame[t_col].notna().to_numpy()
        time_text = frame[t_col].astype(str).to_numpy()
        result = _finish(path, "parquet", frame, columns, time_text, None, policy, max_report, (seconds, ok))
    else:
        result = _finish(path, "parquet", frame, columns, _time_text(frame, columns), None, policy, max_report)
    result.metadata = json.loads(meta) if meta else {}
    return result


def _finish(path, fmt, frame, columns, time_text, line_no, policy, max_report, parsed_time=None) -> BarFile:
    seconds, ok = parsed_time if parsed_time is not None else _parse_times(time_text)
    values: dict[str, np.ndarray] = {"time": seconds}
    for name in FIELDS[1:]:
        if name in columns:
            values[name] = _numbers(frame[columns[name][0]])
    result: CheckResult = check_columns(
        values, source=str(path), policy=policy, max_report=max_report, where="row", lines=line_no,
        time_ok=ok, time_text=time_text,
    )
    return BarFile(path=path, format=fmt, bars=result.bars, bad=result.bad, problems=result.problems)


def _normalise(name: str) -> str:
    return name.strip().strip("<>").strip().lower().replace(" ", "_").replace("-", "_")


def _map_columns(names: list[str], path: Path) -> dict[str, tuple[int, ...]]:
    """Column positions per MT5 field; 'time' maps to (date, time) positions when they are split."""
    found: dict[str, tuple[int, ...]] = {}
    for i, name in enumerate(names):
        field_name = _ALIASES.get(name)
        if field_name and field_name not in found:
            found[field_name] = (i,)
    # Plain "volume"/"vol": tick volume unless a tick-volume column exists (MT5's <VOL> is the real volume).
    for i, name in enumerate(names):
        if name in ("volume", "vol"):
            found.setdefault("tick_volume" if "tick_volume" not in found else "real_volume", (i,))
    if "date" in names and "time" in names:
        found["time"] = (names.index("date"), names.index("time"))
    else:
        for candidate in _TIME_NAMES:
            if candidate in names:
                found["time"] = (names.index(candidate),)
                break
    missing = [name for name in ("time", *PRICE_FIELDS) if name not in found]
    if missing:
        raise DataError(f"{path}: no column for {missing}; columns are {names}")
    return found


def _time_text(frame: pd.DataFrame, columns: dict) -> np.ndarray:
    """(N,) the time as text ("2020.01.02 10:00:00"), or the raw values when the column is numeric."""
    cols = columns["time"]
    if len(cols) == 2:
        return (frame[cols[0]].astype(str).str.strip() + " " + frame[cols[1]].astype(str).str.strip()).to_numpy()
    return frame[cols[0]].to_numpy()


def _parse_times(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) text or numbers -> (N,) int64 server-time seconds and (N,) bool parsed-ok."""
    series = pd.Series(text)
    numeric = pd.to_numeric(series, errors="coerce")
    if len(series) and numeric.notna().all():  # epoch numbers; pick the unit from the magnitude
        values = numeric.to_numpy(dtype=np.float64)
        scale = next((s for limit, s in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)) if np.nanmax(values) > limit), 1)
        return (values // scale).astype(np.int64), np.ones(len(values), dtype=bool)
    series = series.astype(str).str.strip()
    parsed = pd.Series(pd.NaT, index=series.index, dtype="datetime64[s]")
    for fmt in (*_TIME_FORMATS, "ISO8601"):
        todo = parsed.isna()
        if not todo.any():
            break
        got = pd.to_datetime(series[todo], format=fmt, errors="coerce")
        if isinstance(got.dtype, pd.DatetimeTZDtype):
            got = got.dt.tz_localize(None)
        parsed[todo] = got.astype("datetime64[s]")
    # A time MT5 cannot hold (before 1970 or after 3000-12-31, MQL5's datetime range) is a misread line (e.g. the
    # ISO-8601 fallback reading a date without its year), not a bar.
    ok = (parsed.notna() & (parsed >= _FIRST_TIME) & (parsed <= _LAST_TIME)).to_numpy()
    seconds = np.zeros(len(series), dtype=np.int64)
    seconds[ok] = parsed[ok].to_numpy().astype("datetime64[s]").astype(np.int64)
    return seconds, ok


def _numbers(column: pd.Series) -> np.ndarray:
    """(N,) float64; text that is not a number becomes NaN (reported by the checks)."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def write_parquet(bars: np.ndarray, path: str | Path, *, metadata: dict | None = None) -> None:
    """Write (N,) bars to Parquet atomically (fileio.atomic_path: temporary file, fsync, rename, Windows locks
    retried)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    table = pa.Table.from_pandas(to_frame(np.asarray(bars, RATES_DTYPE)), preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(metadata)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)

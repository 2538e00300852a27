"""Fuzzing the bar readers: any bytes, however damaged, give bars or a DataError/ConfigError naming the file —
never another exception (a traceback to a user, a crash in the daemon's file source)."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mt5bridge.data import read_bars, sample_path
from mt5bridge.errors import ConfigError, DataError

SAMPLE_LINES = gzip.decompress(sample_path().read_bytes()).splitlines(keepends=True)[:40]  # MT4: date,time,o,h,l,c,v
MT4 = b"".join(SAMPLE_LINES)
MT5 = b"<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n" + b"".join(
    line.replace(b",", b"\t", 1).replace(b",", b"\t").rstrip(b"\r\n") + b"\t0\t12\n" for line in SAMPLE_LINES)
CSV = b"time,open,high,low,close,tick_volume\n" + b"".join(
    line.replace(b",", b" ", 1) for line in SAMPLE_LINES)
SEEDS = {"mt4": MT4, "mt5": MT5, "mt5-utf16": MT5.decode().encode("utf-16"), "csv": CSV, "mt4.gz": gzip.compress(MT4)}


def _read(tmp_path, data: bytes, name: str = "bars.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        return read_bars(path, policy="drop")
    except (DataError, ConfigError) as exc:
        assert str(path) in str(exc) or "format" in str(exc), f"the error does not name the file: {exc}"
        return None


def test_the_seeds_read(tmp_path):
    for name, data in SEEDS.items():
        assert len(read_bars(_write(tmp_path, name, data)).bars) == 40, name


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


edits = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["flip", "drop", "insert", "truncate"]),
                           st.binary(min_size=1, max_size=8)), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(sorted(SEEDS)), changes=edits)
def test_damaged_files_give_bars_or_a_clear_error(tmp_path, seed, changes):
    data = bytearray(SEEDS[seed])
    for at, how, blob in changes:
        at %= max(len(data), 1)
        if how == "flip" and data:
            data[at] ^= blob[0] or 1
        elif how == "drop":
            del data[at: at + len(blob)]
        elif how == "insert":
            data[at:at] = blob
        else:
            del data[at:]
    _read(tmp_path, bytes(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.text(alphabet="0123456789.,:-/ T", max_size=40))
def test_any_mt4_line_after_good_ones(tmp_path, line):
    """Dates without a year, out-of-range years, stray separators: a bad line is reported, never a crash."""
    _read(tmp_path, MT4 + line.encode() + b"\n")


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\x1f\x8b", b"PAR1garbage", b"\xff\xfe\x00", b"<DATE>\n"])
def test_degenerate_files(tmp_path, data):
    _read(tmp_path, data)


@pytest.mark.parametrize("when", ["0001.01.02,12:00", "1969.12.31,23:00", "3001.01.01,00:00"])
def test_times_outside_mt5s_range_are_bad_lines(tmp_path, when):
    """MQL5's datetime runs from 1970 to 3000-12-31: a line outside it is a misread, reported with its line."""
    with pytest.raises(DataError, match=r"line 41: cannot read the time"):
        read_bars(_write(tmp_path, "x.csv", MT4 + when.encode() + b",1.1,1.2,1.0,1.15,100\n"))

"""Bar files: every format, sniffing, .gz, format override, bad rows with their line numbers, the drop policy."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from mt5bridge.data import RATES_DTYPE, read_bars, sample_path, to_frame, write_parquet
from mt5bridge.data.bars import from_frame, parse_time
from mt5bridge.errors import ConfigError, DataError

MT5_TEXT = (
    "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\r\n"
    "2020.01.02\t00:00:00\t1.12100\t1.12200\t1.12000\t1.12150\t100\t0\t5\r\n"
    "2020.01.02\t01:00:00\t1.12150\t1.12300\t1.12100\t1.12250\t120\t7\t6\r\n"
    "2020.01.02\t02:00:00\t1.12250\t1.12260\t1.12010\t1.12020\t90\t0\t5\r\n"
)
MT5_D1_TEXT = (
    "<DATE>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
    "2020.01.02\t1.1210\t1.1220\t1.1200\t1.1215\t100\t0\t5\n"
    "2020.01.03\t1.1215\t1.1230\t1.1210\t1.1225\t120\t0\t6\n"
)
MT4_TEXT = (
    "2014.08.29,11:00,1285.730,1285.850,1284.500,1284.860,1248\n"
    "2014.08.29,12:00,1284.860,1286.510,1283.980,1285.390,2198\n"
    "2014.08.29,13:00,1285.380,1286.840,1284.290,1286.840,3088\n"
)
NAMED_TEXT = (
    "Time;Open;High;Low;Close;Volume\n"
    "2020-01-02 00:00:00;1.121;1.122;1.120;1.1215;100\n"
    "2020-01-02 01:00:00;1.1215;1.123;1.121;1.1225;120\n"
)


def write(tmp_path, name, text, gz=False):
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_mt5_export_with_crlf(tmp_path):
    f = read_bars(write(tmp_path, "a.csv", MT5_TEXT))
    assert f.format == "mt5" and f.bars.dtype == RATES_DTYPE and len(f.bars) == 3
    assert f.bars["time"][1] == parse_time("2020-01-02 01:00")
    assert f.bars["real_volume"][1] == 7 and f.bars["spread"][1] == 6 and f.bars["tick_volume"][2] == 90
    assert f.bars["close"][2] == pytest.approx(1.1202)


def test_mt5_daily_export_without_time_column(tmp_path):
    f = read_bars(write(tmp_path, "d1.txt", MT5_D1_TEXT))
    assert f.format == "mt5"
    assert list(f.bars["time"]) == [parse_time("2020-01-02"), parse_time("2020-01-03")]


def test_mt4_history_center(tmp_path):
    f = read_bars(write(tmp_path, "x.csv", MT4_TEXT))
    assert f.format == "mt4" and len(f.bars) == 3
    assert f.bars["time"][0] == parse_time("2014-08-29 11:00")
    assert f.bars["tick_volume"].tolist() == [1248, 2198, 3088]
    assert (f.bars["spread"] == 0).all() and (f.bars["real_volume"] == 0).all()


def test_named_columns_any_case_and_separator(tmp_path):
    f = read_bars(write(tmp_path, "n.txt", NAMED_TEXT))
    assert f.format == "csv" and f.bars["tick_volume"].tolist() == [100, 120]
    text = "timestamp,o,h,l,c,tick_volume,real_volume,spread\n1577923200,1.1,1.2,1.0,1.15,5,2,3\n"
    g = read_bars(write(tmp_path, "m.csv", text))
    assert g.bars[0].tolist() == (1577923200, 1.1, 1.2, 1.0, 1.15, 5, 3, 2)


def test_gzip_is_transparent_and_content_not_name_decides(tmp_path):
    plain = read_bars(write(tmp_path, "a.csv", MT4_TEXT)).bars
    zipped = read_bars(write(tmp_path, "a.dat", MT4_TEXT, gz=True))
    assert zipped.format == "mt4" and (zipped.bars == plain).all()


def test_utf16_export_with_bom(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes(MT5_TEXT.encode("utf-16"))
    assert len(read_bars(path).bars) == 3


def test_parquet_round_trip_keeps_dtype_and_metadata(tmp_path):
    bars = read_bars(write(tmp_path, "a.csv", MT5_TEXT)).bars
    out = tmp_path / "b.parquet"
    write_parquet(bars, out, metadata={"symbol": "EURUSD", "timeframe": "H1"})
    back = read_bars(out)
    assert back.format == "parquet" and (back.bars == bars).all()
    assert back.metadata == {"symbol": "EURUSD", "timeframe": "H1"}
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    frame = pd.read_parquet(out)  # readable by plain pandas, time as datetimes
    assert str(frame["time"].iloc[0]) == "2020-01-02 00:00:00"


def test_frame_conversion_round_trip():
    bars = read_bars(sample_path()).bars[:50]
    assert (from_frame(to_frame(bars)) == bars).all()
    assert (from_frame(to_frame(bars, datetime_time=False)) == bars).all()
    aware = to_frame(bars)
    aware["time"] = aware["time"].dt.tz_localize("Europe/Athens")  # wall clock kept: server time has no zone
    assert (from_frame(aware)["time"] == bars["time"]).all()


def test_format_override(tmp_path):
    path = write(tmp_path, "a.csv", MT4_TEXT)
    with pytest.raises(DataError, match="no column"):
        read_bars(path, format="csv")  # the first bar read as a header has no open/high/... names
    with pytest.raises(ConfigError, match="unknown file format"):
        read_bars(path, format="xls")
    assert read_bars(path, format="mt4").format == "mt4"


def test_unknown_and_empty_content(tmp_path):
    with pytest.raises(DataError, match="empty"):
        read_bars(write(tmp_path, "e.csv", "\n\n"))
    with pytest.raises(DataError, match="cannot tell the format"):
        read_bars(write(tmp_path, "n.csv", "1;2;3\n"))
    with pytest.raises(DataError, match="cannot read"):
        read_bars(tmp_path / "missing.csv")


BAD_MT4 = (
    "2014.08.29,11:00,1285.730,1285.850,1284.500,1284.860,1248\n"  # 1 ok
    "\n"  # 2 blank: not a bar, numbering goes on
    "2014.08.29,12:00,1284.860,1283.510,1283.980,1285.390,2198\n"  # 3 high below close
    "2014.08.29,13:00,1285.380,1286.840,1284.290,1286.840,3088\n"  # 4 ok
    "2014.08.29,13:00,1285.380,1286.840,1284.290,1286.840,3088\n"  # 5 duplicate of line 4
    "2014.13.29,14:00,1285.380,1286.840,1284.290,1286.840,3088\n"  # 6 month 13
    "2014.08.29,15:00,abc,1286.840,1284.290,1286.840,3088\n"  # 7 open not a number
    "2014.08.29,16:00,1285.380,1286.840,1284.290,1286.840,-5\n"  # 8 negative volume
    "2014.08.29,12:30,1285.380,1286.840,1284.290,1286.840,3088\n"  # 9 backwards
    "2014.08.29,17:00,0,1286.840,1284.290,1286.840,3088\n"  # 10 zero price
    "2014.08.29,18:00,1285.380,1286.840,1286.000,1286.840,3088\n"  # 11 low above open
    "2014.08.29,19:00,1285.380,1286.840,1284.290,1286.840,3088\n"  # 12 ok
)


def test_bad_rows_are_listed_with_their_line_numbers(tmp_path):
    path = write(tmp_path, "bad.csv", BAD_MT4)
    with pytest.raises(DataError) as info:
        read_bars(path)
    text = str(info.value)
    assert str(path) in text and "8 bad bar(s) of 11" in text
    expected = {
        3: "high 1283.51 < max(open, close) 1285.39",
        5: "duplicate time: 2014.08.29 13:00 is not after 2014.08.29 13:00 (line 4)",
        6: "cannot read the time '2014.13.29 14:00'",
        7: "open is missing or not a number",
        8: "tick_volume -5 is negative",
        9: "time goes backwards: 2014.08.29 12:30 is not after 2014.08.29 13:00 (line 4)",
        10: "open 0 is not a positive price",
        11: "low 1286 > min(open, close) 1285.38",
    }
    for line, what in expected.items():
        assert f"line {line}: {what}" in text
    for good in (1, 4, 12):
        assert f"line {good}:" not in text


def test_report_is_capped(tmp_path):
    with pytest.raises(DataError, match=r"and 5 more"):
        read_bars(write(tmp_path, "bad.csv", BAD_MT4), max_report=3)


def test_drop_policy_keeps_the_good_rows_and_counts(tmp_path, caplog):
    f = read_bars(write(tmp_path, "bad.csv", BAD_MT4), policy="drop")
    assert f.bad == 8 and len(f.bars) == 3
    assert [p.where for p in f.problems][:2] == ["line 3", "line 5"]
    assert np.all(np.diff(f.bars["time"]) > 0)
    assert "dropped 8 bad bar(s)" in caplog.text


def test_bad_header_line_numbers_count_the_header(tmp_path):
    text = MT5_TEXT.replace("1.12300\t1.12100", "1.12300\t1.12400")  # line 3: low above open/close
    with pytest.raises(DataError, match=r"line 3: low"):
        read_bars(write(tmp_path, "a.csv", text))


def test_row_with_too_many_fields_names_the_file(tmp_path):
    text = MT4_TEXT + "2014.08.29,14:00,1,2,0.5,1,5,9\n"
    with pytest.raises(DataError, match=r"a\.csv.*line 4"):
        read_bars(write(tmp_path, "a.csv", text))


def test_bundled_sample_is_the_cc0_xauusd_tail():
    path = sample_path()
    assert path.name == "XAUUSD_H1_sample.csv.gz" and (path.parent / "README.md").is_file()
    f = read_bars(path)
    assert f.format == "mt4" and len(f.bars) == 10_000 and f.bad == 0
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert lines[-1] == "2025.09.12,21:00,3644.220,3645.400,3641.370,3642.560,2166"
    with pytest.raises(FileNotFoundError):
        sample_path("nope.csv.gz")

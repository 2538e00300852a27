"""Checks on bars already in memory (terminal results), timeframes, and the gap report."""

from __future__ import annotations

import numpy as np
import pytest

from mt5bridge.data import check_bars, gap_report, read_bars, sample_path, timeframe
from mt5bridge.data.bars import parse_time
from mt5bridge.data.timeframes import bar_open_time, next_bar_time
from mt5bridge.errors import ConfigError, DataError
from mt5bridge.testing import synthetic_bars


def test_terminal_bars_are_named_by_time_and_dropped_in_live_use(caplog):
    bars = synthetic_bars(6)
    bars["high"][2] = bars["low"][2] / 2  # broken bar
    bars["time"][4] = bars["time"][3]  # duplicate
    with pytest.raises(DataError, match=r"bar 2020\.01\.01 02:00: high .* < max\(open, close\)"):
        check_bars(bars, source="mt5 EURUSD H1")
    result = check_bars(bars, source="mt5 EURUSD H1", policy="drop")
    assert result.bad == 2 and len(result.bars) == 4
    assert "dropped 2 bad bar(s)" in caplog.text
    with pytest.raises(ConfigError, match="policy"):
        check_bars(bars, source="x", policy="fix")


def test_good_bars_pass_untouched():
    bars = synthetic_bars(100)
    result = check_bars(bars, source="x")
    assert result.bad == 0 and (result.bars == bars).all()


def test_timeframes_by_name_and_constant():
    assert timeframe("h1").code == 0x4001 and timeframe("PERIOD_M15").seconds == 900
    assert timeframe(0xC001).name == "MN1" and timeframe("TIMEFRAME_W1").code == 0x8001
    with pytest.raises(ConfigError, match="unknown timeframe 'H5'"):
        timeframe("H5")
    t = parse_time("2021-12-22 13:45")  # a Wednesday
    assert bar_open_time(t, timeframe("H4")) == parse_time("2021-12-22 12:00")
    assert bar_open_time(t, timeframe("W1")) == parse_time("2021-12-19")  # Sunday
    assert bar_open_time(t, timeframe("MN1")) == parse_time("2021-12-01")
    assert next_bar_time(parse_time("2021-12-01"), timeframe("MN1")) == parse_time("2022-01-01")


def _times(*texts):
    return np.array([parse_time(t) for t in texts], dtype=np.int64)


def test_gaps_are_reported_and_classified_not_filled():
    times = _times(
        "2021-12-16 22:00", "2021-12-16 23:00",
        "2021-12-17 01:00",  # 1 missing: intraday break
        "2021-12-17 23:00",  # 21 missing, shorter than a day: intraday
        "2021-12-20 00:00",  # Fri 23:00 -> Mon 00:00: weekend
        "2021-12-23 10:00",  # Mon -> Thu: holiday
        "2021-12-24 15:00",  # Thu 11:00 -> Fri 15:00, 28 h: holiday
        "2021-12-28 09:00",  # Fri -> Tue: holiday, though it spans a weekend
    )
    report = gap_report(times, "H1")
    assert [g.kind for g in report.gaps] == ["intraday", "intraday", "weekend", "holiday", "holiday", "holiday"]
    assert report.gaps[0].missing == 1 and report.gaps[2].missing == 48
    assert report.count("weekend") == 1 and report.count() == 6 and report.missing("weekend") == 48
    summary = report.summary()
    assert "6 gaps" in summary and "largest: 2021.12.24 15:00 -> 2021.12.28 09:00 (89 bars, holiday)" in summary


def test_monthly_gaps_use_calendar_months():
    times = _times("2021-01-01", "2021-02-01", "2021-03-01", "2021-06-01")
    report = gap_report(times, "MN1")
    assert len(report.gaps) == 1 and report.gaps[0].missing == 2


def test_sample_gap_summary():
    report = gap_report(read_bars(sample_path()).bars["time"], "H1")
    assert report.bars == 10_000
    # Gold: weekly closes, a daily one-hour break, and Easter/holiday closures.
    assert report.count("weekend") > 80 and report.count("intraday") > 300 and report.count("holiday") >= 2

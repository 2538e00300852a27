"""`mt5bridge history`: files, the simulated terminal (as the local package and over RPyC), incremental appends,
atomic writes, clean errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mt5bridge.cli import app
from mt5bridge.data import read_bars, sample_path
from mt5bridge.data.bars import format_time
from mt5bridge.testing import ManualClock, Mt5Simulator, installed
from mt5bridge.testing.rpyc_server import serving

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def history(*args):
    result = runner.invoke(app, ["history", *args, "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def sample():
    return read_bars(sample_path()).bars


def test_file_conversion_is_incremental(tmp_path, sample):
    out = tmp_path / "xau.parquet"
    cut = format_time(sample["time"][6000])
    text = history("XAUUSD", "H1", "--source", str(sample_path()), "--out", str(out), "--to", cut)
    assert "0 bars before, 6000 added, 6000 now" in text and "gaps:" in text and "weekend" in text
    again = history("XAUUSD", "H1", "--source", str(sample_path()), "--out", str(out))
    assert "6000 bars before, 4000 added, 10000 now" in again
    stored = read_bars(out)
    assert (stored.bars == sample).all() and stored.metadata["symbol"] == "XAUUSD"
    before = out.stat().st_mtime_ns
    assert "0 added" in history("XAUUSD", "H1", "--source", str(sample_path()), "--out", str(out))
    assert out.stat().st_mtime_ns == before  # nothing new: the file is not rewritten


def test_from_and_to_select_a_window(tmp_path, sample):
    out = tmp_path / "w.parquet"
    start, end = format_time(sample["time"][100]), format_time(sample["time"][200])
    history("XAUUSD", "H1", "--source", str(sample_path()), "--out", str(out), "--from", start, "--to", end)
    assert (read_bars(out).bars == sample[100:200]).all()


def simulated_terminal(sample, maxbars=100_000):
    clock = ManualClock(sample["time"][5000] + 1800)  # bar 5000 is forming
    sim = Mt5Simulator(clock=clock, maxbars=maxbars)
    sim.add_bars("XAUUSD", "H1", sample)
    return sim, clock


def test_terminal_pulls_closed_bars_and_appends_only_newer_ones(tmp_path, sample):
    sim, clock = simulated_terminal(sample, maxbars=3000)
    out = tmp_path / "t.parquet"
    with installed(sim):  # `--source mt5` imports MetaTrader5, which is the simulator here
        start = format_time(sample["time"][3000])
        text = history("XAUUSD", "H1", "--source", "mt5", "--out", str(out), "--from", start)
        assert "2000 added" in text
        assert (read_bars(out).bars == sample[3000:5000]).all()  # the forming bar 5000 is not in
        clock.advance(7 * 3600)  # seven more bars close (gaps do not matter: bars are scheduled)
        history("XAUUSD", "H1", "--source", "mt5", "--out", str(out))
    stored = read_bars(out).bars
    k = np.searchsorted(sample["time"], clock(), side="right") - 1  # the bar forming now
    assert (stored == sample[3000:k]).all() and np.all(np.diff(stored["time"]) > 0)


def test_terminal_over_rpyc(tmp_path, sample):
    sim, clock = simulated_terminal(sample)
    out = tmp_path / "r.parquet"
    with serving(sim) as port:
        spec = f"mt5rpyc://127.0.0.1:{port}"
        history("XAUUSD", "H1", "--source", spec, "--out", str(out), "--from", format_time(sample["time"][4000]))
        clock.advance(24 * 3600)
        history("XAUUSD", "H1", "--source", spec, "--out", str(out))
    stored = read_bars(out).bars
    k = np.searchsorted(sample["time"], clock(), side="right") - 1
    assert (stored == sample[4000:k]).all()


def test_another_symbol_into_the_same_file_is_refused(tmp_path):
    out = tmp_path / "x.parquet"
    history("XAUUSD", "H1", "--source", str(sample_path()), "--out", str(out))
    result = runner.invoke(app, ["history", "EURUSD", "H1", "--source", str(sample_path()), "--out", str(out)])
    assert "holds symbol 'XAUUSD', not 'EURUSD'" in str(result.exception)


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path, sample, monkeypatch):
    import pyarrow.parquet as pq

    out = tmp_path / "a.parquet"
    history("XAUUSD", "H1", "--source", str(sample_path()), "--out", str(out), "--to", format_time(sample["time"][50]))
    before = out.read_bytes()

    def broken_write(table, where, **kw):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken_write)
    with pytest.raises(OSError):
        runner.invoke(app, ["history", "XAUUSD", "H1", "--source", str(sample_path()), "--out", str(out)],
                      catch_exceptions=False)
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet"]


def test_bad_rows_stop_with_line_numbers_or_are_dropped(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("2014.08.29,11:00,1.0,1.1,0.9,1.05,10\n2014.08.29,12:00,1.0,0.5,0.9,1.05,10\n"
                   "2014.08.29,13:00,1.0,1.1,0.9,1.05,10\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "mt5bridge", "history", "X", "H1", "--source", str(bad), "--out",
               str(tmp_path / "o.parquet"), "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "line 2: high 0.5 < max(open, close)" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run([*command, "--on-bad", "drop"], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2 added" in result.stdout and "dropped 1 bad bar(s)" in result.stdout

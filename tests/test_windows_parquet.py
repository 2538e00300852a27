"""Windows file locks on `history` output: the Parquet file is replaced while a scanner briefly holds it.

The doubles (a PermissionError carrying winerror 32, as the Windows build of CPython raises it from os.replace)
and the injected clock come from test_windows_fileio.py, which explains them.
"""

from __future__ import annotations

import pytest

from mt5bridge import fileio
from mt5bridge.data import read_bars, sample_path, write_parquet
from mt5bridge.data.history import pull_history
from mt5bridge.data.sources import ArraySource
from mt5bridge.fileio import FileLockedError
from tests.test_windows_fileio import FakeTime, leftovers, lock_replace


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(fileio, "DEFAULT_RETRY", fake.retry())  # write_parquet takes the default retry
    return fake


@pytest.fixture(scope="module")
def bars():
    return read_bars(sample_path()).bars[:200]


def test_write_parquet_waits_out_a_brief_lock(tmp_path, monkeypatch, fake_time, bars):
    out = tmp_path / "bars.parquet"
    write_parquet(bars[:100], out)
    calls = lock_replace(monkeypatch, out, failures=3, winerror=32)
    write_parquet(bars, out, metadata={"symbol": "XAUUSD"})
    back = read_bars(out)
    assert len(calls) == 4 and len(fake_time.sleeps) == 3 and leftovers(tmp_path) == []
    assert (back.bars == bars).all() and back.metadata == {"symbol": "XAUUSD"}


def test_write_parquet_under_a_lasting_lock_keeps_the_old_file(tmp_path, monkeypatch, fake_time, bars):
    out = tmp_path / "bars.parquet"
    write_parquet(bars[:100], out)
    lock_replace(monkeypatch, out, failures=float("inf"))
    with pytest.raises(FileLockedError, match="locked by another program") as caught:
        write_parquet(bars, out)
    assert str(out) in str(caught.value) and "\n" not in str(caught.value)
    assert len(read_bars(out).bars) == 100 and leftovers(tmp_path) == []


def test_history_appends_while_its_output_is_scanned(tmp_path, monkeypatch, fake_time, bars):
    out = tmp_path / "XAUUSD_H1.parquet"
    source = ArraySource(bars, "H1", symbol="XAUUSD", name="sample")
    first = pull_history(source, out, end=int(bars["time"][100]))
    calls = lock_replace(monkeypatch, out, failures=2, winerror=32)
    second = pull_history(source, out)
    assert (first.added, second.existing, second.added) == (100, 100, 100) and len(calls) == 3
    assert (read_bars(out).bars == bars).all() and leftovers(tmp_path) == []

"""File and replay sources, source specs, and the import boundary (no MetaTrader5/rpyc needed to import)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mt5bridge.data import read_bars, sample_path
from mt5bridge.data.mt5 import Mt5Source
from mt5bridge.data.sources import BarSource, FileSource, ReplaySource, open_source
from mt5bridge.errors import ConfigError
from mt5bridge.testing import ManualClock

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample():
    return read_bars(sample_path()).bars


def test_replay_closes_bars_on_the_injected_clock(sample):
    clock = ManualClock(100.0)
    replay = ReplaySource(sample, "H1", symbol="XAUUSD", speed=3600, start=500, clock=clock)
    assert isinstance(replay, BarSource)
    assert (replay.last_closed_bars(3) == sample[497:500]).all()
    assert replay.next_bar_time == sample["time"][500]
    last = int(replay.last_closed_bars(1)["time"][0])
    assert len(replay.closed_bars_after(last)) == 0
    clock.advance(0.99)
    assert len(replay.closed_bars_after(last)) == 0  # an H1 bar per second at 3600x
    clock.advance(0.01)
    assert (replay.closed_bars_after(last) == sample[500:501]).all()
    clock.advance(2.5)
    assert (replay.closed_bars_after(last) == sample[500:503]).all()  # catch-up: everything since t, in order
    replay.step(2)
    assert len(replay.closed_bars_after(last)) == 5
    assert (replay.closed_bars_range(int(sample["time"][10]), int(sample["time"][20])) == sample[10:20]).all()
    clock.advance(1e9)
    assert replay.exhausted and replay.next_bar_time is None and len(replay.closed_bars_after(None)) == 10_000


def test_step_driven_replay(sample):
    replay = ReplaySource(sample[:10], "H1", speed=0, start=0, clock=ManualClock())
    assert len(replay.closed_bars_after(None)) == 0 and replay.last_closed_bars(5).shape == (0,)
    assert replay.step() == 1 and replay.step(3) == 4
    assert (replay.last_closed_bars(10) == sample[:4]).all()
    with pytest.raises(ConfigError):
        ReplaySource(sample, "H1", speed=-1)


def test_file_source_and_its_timeframe_check(sample):
    source = FileSource(sample_path(), "H1", symbol="XAUUSD")
    assert (source.last_closed_bars(2) == sample[-2:]).all() and source.dropped == 0
    assert (source.closed_bars_after(int(sample["time"][-4])) == sample[-3:]).all()
    with pytest.raises(ConfigError, match="mostly 3600 s apart.*M5 means 300 s"):
        FileSource(sample_path(), "M5")


def test_source_specs(tmp_path):
    assert isinstance(open_source(str(sample_path()), "XAUUSD", "H1"), FileSource)
    replay = open_source(f"replay:{sample_path()}?speed=0&start=5", "XAUUSD", "H1")
    assert isinstance(replay, ReplaySource) and len(replay.closed_bars_after(None)) == 5
    remote = open_source("mt5rpyc://127.0.0.1:1", "EURUSD", "H1")  # nothing connects until bars are asked for
    assert isinstance(remote, Mt5Source) and remote.name == "mt5rpyc://127.0.0.1:1 EURUSD H1"
    assert isinstance(open_source("mt5", "EURUSD", "M15"), Mt5Source)
    with pytest.raises(ConfigError, match="unknown source"):
        open_source("ftp://x/y", "EURUSD", "H1")
    with pytest.raises(ConfigError, match="not a file"):
        open_source(str(tmp_path / "none.csv"), "EURUSD", "H1")
    with pytest.raises(ConfigError, match="unknown replay option"):
        open_source(f"replay:{sample_path()}?sped=1", "XAUUSD", "H1")
    with pytest.raises(ConfigError, match="unknown timeframe"):
        open_source(str(sample_path()), "XAUUSD", "H5")


def test_every_data_module_imports_without_metatrader5_or_rpyc():
    code = (
        "import sys, pkgutil, importlib\n"
        "sys.modules['MetaTrader5'] = None; sys.modules['rpyc'] = None  # imports of either now fail\n"
        "import mt5bridge.data, mt5bridge.features, mt5bridge.testing, mt5bridge.cli\n"
        "for pkg in (mt5bridge.data, mt5bridge.features, mt5bridge.testing):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "from mt5bridge.data import read_bars, sample_path\n"
        "from mt5bridge.features import compute_features\n"
        "print(compute_features(read_bars(sample_path()).bars).shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(10000, 12)"


def test_only_the_adapter_imports_metatrader5_and_rpyc():
    import re

    for library in ("MetaTrader5", "rpyc"):
        pattern = re.compile(rf"^\s*(import {library}\b|from {library}\b)", re.M)
        importers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "mt5bridge").rglob("*.py")
                     if pattern.search(p.read_text())]
        assert importers in ([], ["mt5bridge/data/mt5.py"]), importers
    assert "importlib.import_module(\"MetaTrader5\")" in (ROOT / "mt5bridge/data/mt5.py").read_text()

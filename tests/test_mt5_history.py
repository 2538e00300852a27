"""History still downloading: short pages and -1 "Call failed" for a while after a symbol is first asked for
(mt5sim's download_s). Such answers are asked again and believed only once stable; a terminal that is still loading
after the retries is a TemporaryError naming the symbol, timeframe and missing range; `history` never writes a file
with a silent hole."""

from __future__ import annotations

import time

import numpy as np
import pytest
from typer.testing import CliRunner

import mt5bridge.data.mt5_source as mt5_source
from mt5bridge.cli import app
from mt5bridge.data import read_bars
from mt5bridge.data.bars import format_time
from mt5bridge.data.mt5 import Mt5Settings, Mt5Source
from mt5bridge.errors import TemporaryError
from mt5bridge.testing import ManualClock, Mt5Simulator, installed, synthetic_bars

H1 = 16385


def downloading(n=400, now_index=300, download_s=10.0, asked_ago=None, **kw):
    """A terminal whose EURUSD H1 history arrives over `download_s` clock seconds after the first request for it
    (by default 30 bars a second, far slower than a real download); `asked_ago`: that first request was made that
    many seconds ago (e.g. a chart was opened)."""
    bars = synthetic_bars(n, weekends=False)
    clock = ManualClock(bars["time"][now_index] + 60)
    sim = Mt5Simulator(clock=clock, download_s=download_s, **kw)
    sim.add_bars("EURUSD", "H1", bars)
    if asked_ago is not None:
        clock.advance(-asked_ago)
        sim.initialize()
        sim.copy_rates_from_pos("EURUSD", H1, 0, 1)
        clock.advance(asked_ago)
    return sim, clock, bars


def source(sim, clock, **kw):
    """Pausing advances the simulator's clock, so the terminal goes on downloading while the source waits."""
    return Mt5Source.from_module(sim, "EURUSD", "H1", kw.pop("settings", None), sleep=clock.advance, **kw)


def test_a_range_pull_waits_for_the_download_instead_of_taking_minus_one_as_empty():
    sim, clock, bars = downloading(asked_ago=4)  # 40% of the 301 bars are ready, the newest ones
    with source(sim, clock, settings=Mt5Settings(page_bars=50)) as s:
        got = s.closed_bars_range(int(bars["time"][10]), None)
    assert (got == bars[10:300]).all()


def test_a_short_page_while_downloading_is_not_the_oldest_bar():
    sim, clock, bars = downloading(asked_ago=3)
    with source(sim, clock) as s:
        assert (s.last_closed_bars(200) == bars[100:300]).all()
    sim, clock, bars = downloading(asked_ago=3)
    with source(sim, clock) as s:
        assert (s.closed_bars_after(int(bars["time"][49])) == bars[50:300]).all()  # catch-up: no hole either


def test_a_stable_answer_is_believed_at_once_and_pauses_are_short():
    sim, clock, bars = downloading(download_s=0)  # history all there: a short last page is the oldest bar
    pauses = []
    with Mt5Source.from_module(sim, "EURUSD", "H1", sleep=pauses.append) as s:
        assert (s.closed_bars_after(None) == bars[:300]).all()
    assert pauses == [mt5_source.SETTLE_DELAYS_S[0]]  # asked once more, 0.25 s later, and believed


def test_still_loading_after_the_retries_names_symbol_timeframe_and_missing_range():
    sim, clock, bars = downloading(n=4000, now_index=3000, download_s=600, asked_ago=1)  # 5 bars a second
    start = int(bars["time"][0])
    with source(sim, clock) as s:
        with pytest.raises(TemporaryError) as info:
            s.closed_bars_range(start, None)
    message = str(info.value)
    assert message.startswith(f"mt5(module) EURUSD H1: copy_rates_range({format_time(start)}, ")
    assert "still loading history after 15.75 s" in message
    oldest = read_oldest(message)
    assert f"missing: bars from {format_time(start)} to {format_time(oldest)}" in message
    assert bars["time"][2900] < oldest < bars["time"][3000]  # the ~80 newest bars were there, nothing older
    sim, clock, bars = downloading(n=4000, now_index=3000, download_s=600, asked_ago=1)
    with source(sim, clock) as s, pytest.raises(TemporaryError, match=r"EURUSD H1: copy_rates_from_pos\(1, 2000\): "
                                                                       r"the terminal was still loading history"):
        s.last_closed_bars(2000)
    sim, clock, bars = downloading(n=4000, now_index=3000, download_s=600)  # nothing ready, twice: not believed
    with source(sim, clock) as s, pytest.raises(TemporaryError, match=r"EURUSD H1: copy_rates_from_pos\(1, 2000\) "
                                                                       r"failed: Terminal: Call failed \(-1\); the "
                                                                       r"terminal may still be loading history"):
        s.last_closed_bars(2000)


def test_a_pull_from_before_the_terminals_history_begins_where_it_begins(caplog):
    sim, clock, bars = downloading(download_s=0)
    with source(sim, clock, settings=Mt5Settings(page_bars=50)) as s:
        got = s.closed_bars_range(int(bars["time"][0]) - 30 * 86400, None)
    assert (got == bars[:300]).all()
    assert f"holds no bars before {format_time(bars['time'][0])}" in caplog.text  # said, not silent


def read_oldest(message: str) -> int:
    from mt5bridge.data.bars import parse_time

    return parse_time(message.split(" to ")[-1].split(";")[0])


runner = CliRunner()


@pytest.fixture
def paused_on(monkeypatch):
    """The CLI's source pauses with time.sleep: make that move the simulator's clock instead of waiting."""
    def install(clock):
        monkeypatch.setattr(time, "sleep", clock.advance)
    return install


def test_history_command_writes_no_hole_while_the_terminal_downloads(tmp_path, paused_on):
    sim, clock, bars = downloading(n=3000, now_index=2000, download_s=20, asked_ago=8)
    paused_on(clock)
    out = tmp_path / "e.parquet"
    with installed(sim):
        result = runner.invoke(app, ["history", "EURUSD", "H1", "--source", "mt5", "--out", str(out), "--from",
                                     format_time(bars["time"][100]), "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    stored = read_bars(out).bars
    assert stored["time"][0] == bars["time"][100] and np.all(np.diff(stored["time"]) == 3600)  # no hole
    assert stored["time"][-1] == bars["time"][1999]


def test_history_command_refuses_to_write_while_still_loading(tmp_path, paused_on):
    sim, clock, bars = downloading(n=3000, now_index=2000, download_s=300)  # 6.7 bars a second
    paused_on(clock)
    out = tmp_path / "e.parquet"
    with installed(sim):
        result = runner.invoke(app, ["history", "EURUSD", "H1", "--source", "mt5", "--out", str(out), "--from",
                                     format_time(bars["time"][0]), "--no-progress"])
    assert isinstance(result.exception, TemporaryError), result.output
    message = str(result.exception)
    assert "mt5 EURUSD H1: copy_rates_range(" in message and "still loading history" in message
    assert f"missing: bars from {format_time(bars['time'][0])} to " in message
    assert not out.exists()

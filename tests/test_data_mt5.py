"""The MT5 adapter against the simulator, directly and through a real RPyC classic server on 127.0.0.1 (the Linux
path end to end): closed bars only, paging under maxbars, catch-up, and errors sorted into temporary/permanent."""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest

from mt5bridge.data import RATES_DTYPE
from mt5bridge.data.mt5 import ENV_PASSWORD, Mt5Settings, Mt5Source, parse_rpyc_spec
from mt5bridge.errors import ConfigError, TemporaryError
from mt5bridge.testing import ManualClock, Mt5Simulator, installed, synthetic_bars
from mt5bridge.testing.rpyc_server import serving


def no_sleep(seconds):
    """The sources' pause before asking again (history still loading): not slept in tests."""


@contextlib.contextmanager
def direct(sim, symbol="EURUSD", tf="H1", settings=None, **kw):
    kw.setdefault("sleep", no_sleep)
    with Mt5Source.from_module(sim, symbol, tf, settings, **kw) as source:
        yield source


@contextlib.contextmanager
def over_rpyc(sim, symbol="EURUSD", tf="H1", settings=None, **kw):
    kw.setdefault("sleep", no_sleep)
    with serving(sim) as port, Mt5Source.rpyc(f"mt5rpyc://127.0.0.1:{port}", symbol, tf, settings, **kw) as source:
        yield source


@pytest.fixture(params=[direct, over_rpyc], ids=["direct", "rpyc"])
def connect(request):
    return request.param


def make_market(n=400, now_index=300, maxbars=100_000, **kw):
    bars = synthetic_bars(n)
    clock = ManualClock(bars["time"][now_index] + 900)  # bar now_index is forming
    sim = Mt5Simulator(clock=clock, maxbars=maxbars, **kw)
    sim.add_bars("EURUSD", "H1", bars)
    return sim, clock, bars


def rate_calls(sim):
    return [(name, args) for name, args, _ in sim.calls if name.startswith("copy_rates")]


def test_closed_bars_only_never_position_zero(connect):
    sim, clock, bars = make_market()
    with connect(sim) as source:
        last = source.last_closed_bars(20)
        assert type(last) is np.ndarray and last.dtype == RATES_DTYPE  # a local array, not a netref
        assert (last == bars[280:300]).all()
        assert (source.closed_bars_after(int(bars["time"][290])) == bars[291:300]).all()
        assert (source.closed_bars_range(int(bars["time"][250]), None) == bars[250:300]).all()
        assert source.forming_bar()["time"][0] == bars["time"][300]
        clock.advance(3 * 3600)  # three more bars close
        assert (source.closed_bars_after(int(bars["time"][299])) == bars[300:303]).all()
    assert all(args[2] >= 1 for name, args in rate_calls(sim) if name == "copy_rates_from_pos" and args[3] > 1)


def test_paging_respects_maxbars_and_page_size(connect):
    sim, _, bars = make_market(n=400, now_index=380, maxbars=120)
    settings = Mt5Settings(page_bars=50)
    with connect(sim, settings=settings) as source:
        everything = source.closed_bars_after(None)
        assert (everything == bars[261:380]).all()  # the chart holds 120 bars, one of them forming
        assert len(source.last_closed_bars(1000)) == 119
        ranged = source.closed_bars_range(int(bars["time"][270]), int(bars["time"][375]))
        assert (ranged == bars[270:375]).all()
    for name, args in rate_calls(sim):
        if name == "copy_rates_from_pos":
            assert args[3] <= 50 and args[2] + args[3] <= 120
        if name == "copy_rates_range":
            assert args[3] - args[2] < 50 * 3600


def test_catch_up_survives_bars_opening_between_pages():
    bars = synthetic_bars(3000, weekends=False)
    sim = Mt5Simulator(maxbars=100_000)
    # Every copy_rates call moves the market on by one bar, so positions shift between pages.
    sim.clock = lambda: float(bars["time"][2000] + 600
                              + 3600 * sum(1 for c in sim.calls if c[0] == "copy_rates_from_pos"))
    sim.add_bars("EURUSD", "H1", bars)
    with direct(sim, settings=Mt5Settings(page_bars=300)) as source:
        got = source.closed_bars_after(int(bars["time"][100]))
    assert np.all(np.diff(got["time"]) == 3600)  # no duplicates, no holes
    assert got["time"][0] == bars["time"][101] and len(got) > 1899


class FlakySecondPage:
    """The simulator, except that the n-th copy_rates_from_pos call answers None with "Terminal: Call failed"."""

    def __init__(self, sim, fail_call: int, times: int = 1):
        self.sim, self.fail_call, self.times, self.seen = sim, fail_call, times, 0

    def __getattr__(self, name):
        return getattr(self.sim, name)

    def copy_rates_from_pos(self, *args):
        self.seen += 1
        if self.fail_call <= self.seen < self.fail_call + self.times:
            self.sim.fail_next(1, code=-1)
        return self.sim.copy_rates_from_pos(*args)


def test_a_passing_call_failed_while_paging_leaves_no_hole():
    sim, _, bars = make_market(n=400, now_index=380)
    with direct(FlakySecondPage(sim, fail_call=2)) as source:
        got = source.closed_bars_after(int(bars["time"][100]))
    assert (got == bars[101:380]).all()  # the failed second page was asked again
    with direct(FlakySecondPage(sim, fail_call=2, times=2)) as source:
        got = source.closed_bars_after(int(bars["time"][100]))
    assert (got == bars[364:380]).all()  # twice "call failed": taken as the oldest bar, as some builds answer
    with direct(FlakySecondPage(sim, fail_call=1)) as source:
        got = source.closed_bars_after(int(bars["time"][100]))
    assert (got == bars[101:380]).all()  # a first page that failed once was asked again too
    with direct(FlakySecondPage(sim, fail_call=1, times=2)) as source:
        with pytest.raises(TemporaryError, match=r"EURUSD H1: copy_rates_from_pos\(1, 16\).*Call failed"):
            source.closed_bars_after(int(bars["time"][100]))  # no bars at all, twice: nothing to believe


def test_ipc_failure_is_temporary_and_reconnect_recovers(connect):
    sim, clock, bars = make_market()
    with connect(sim) as source:
        source.last_closed_bars(5)
        sim.fail_next(1, code=-10005)
        with pytest.raises(TemporaryError, match=r"EURUSD H1: copy_rates_from_pos.*IPC timeout \(-10005\)"):
            source.closed_bars_after(int(bars["time"][295]))
        sim.schedule_disconnect(clock(), clock() + 60)
        with pytest.raises(TemporaryError, match="No IPC connection"):
            source.last_closed_bars(5)
        with pytest.raises(TemporaryError, match=r"initialize failed.*-10003"):
            source.reconnect()
        clock.advance(120)
        assert len(source.last_closed_bars(5)) == 5  # left disconnected by the failed reconnect: connects anew
        sim.schedule_disconnect(clock(), clock() + 60)
        clock.advance(120)  # the terminal went away and came back while we were idle
        with pytest.raises(TemporaryError, match="-10004"):  # it needs initialize() again
            source.last_closed_bars(5)
        source.reconnect()
        assert len(source.last_closed_bars(5)) == 5


def test_permanent_errors_name_the_setting(connect, monkeypatch):
    sim, _, _ = make_market(accounts={555: ("pw", "Broker-Live")})
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    with connect(sim, settings=Mt5Settings(login=555, password="bad", server="Broker-Live")) as source:
        with pytest.raises(ConfigError, match=r"login \(555\).*Broker-Live") as info:
            source.last_closed_bars(1)
        assert "bad" not in str(info.value)  # never echo the password
    monkeypatch.setenv(ENV_PASSWORD, "pw")
    with connect(sim, settings=Mt5Settings(login=555, server="Broker-Live")) as source:
        assert len(source.last_closed_bars(3)) == 3  # password from the environment
    with connect(sim, symbol="EURUSDx") as source:
        with pytest.raises(ConfigError, match="symbol 'EURUSDx' is not available"):
            source.last_closed_bars(1)
    with connect(sim, tf="M5") as source:  # no M5 history: the terminal answers "call failed"
        with pytest.raises(TemporaryError, match="EURUSD M5"):
            source.last_closed_bars(1)
    with connect(sim) as source:
        source.last_closed_bars(1)
        sim.fail_next(1, code=-2, functions=("copy_rates_from_pos",))
        with pytest.raises(ConfigError, match="rejected symbol 'EURUSD' / timeframe H1"):
            source.last_closed_bars(1)
        sim.fail_next(1, code=-3, functions=("copy_rates_range",))
        with pytest.raises(ConfigError, match="Out of memory.*page_bars"):
            source.closed_bars_range(0, None)


def test_bad_bars_from_the_terminal_are_skipped_and_logged(connect, caplog):
    bars = synthetic_bars(50)
    bars["low"][40] = bars["high"][40] * 2
    sim = Mt5Simulator(clock=ManualClock(bars["time"][45] + 60))
    sim.add_bars("EURUSD", "H1", bars)
    with connect(sim) as source:
        got = source.closed_bars_after(int(bars["time"][35]))
        assert got["time"].tolist() == [bars["time"][i] for i in (36, 37, 38, 39, 41, 42, 43, 44)]
        assert source.dropped == 1
    assert "dropped 1 bad bar(s)" in caplog.text and "low" in caplog.text


def test_local_package_path(monkeypatch):
    sim, _, bars = make_market()
    with installed(sim), Mt5Source.local("EURUSD", "H1") as source:  # `import MetaTrader5` finds the simulator
        assert (source.last_closed_bars(3) == bars[297:300]).all()
    monkeypatch.setitem(sys.modules, "MetaTrader5", None)
    with pytest.raises(ConfigError, match="MetaTrader5 package is not installed.*mt5rpyc://"):
        Mt5Source.local("EURUSD", "H1").last_closed_bars(1)


def test_rpyc_specific_behaviour():
    sim, _, _ = make_market()
    assert parse_rpyc_spec("mt5rpyc://wine-box") == ("wine-box", 18812)
    with pytest.raises(ConfigError):
        parse_rpyc_spec("rpyc://host:1")
    with serving(sim) as port:
        with Mt5Source.rpyc(f"mt5rpyc://127.0.0.1:{port}", "EURUSD", "H1") as source:
            source.last_closed_bars(1)
            info = source._mt5.terminal_info()
            assert type(info).__name__ == "TerminalInfo" and info.maxbars == 100_000 and info.build == sim.build
            assert source._mt5.last_error() == (1, "Success") and source._mt5.TIMEFRAME_H1 == 16385
    with pytest.raises(TemporaryError, match="cannot connect"):  # the server has gone
        Mt5Source.rpyc(f"mt5rpyc://127.0.0.1:{port}", "EURUSD", "H1").last_closed_bars(1)

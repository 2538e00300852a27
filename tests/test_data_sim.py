"""The MetaTrader5 stand-in behaves like the package where our code depends on it."""

from __future__ import annotations

import pytest

from mt5bridge.data import RATES_DTYPE
from mt5bridge.testing import ManualClock, Mt5Simulator, synthetic_bars
from mt5bridge.testing import mt5sim

H1 = mt5sim.TIMEFRAME_H1


@pytest.fixture
def market():
    bars = synthetic_bars(200, weekends=False)
    clock = ManualClock(bars["time"][99] + 1200)  # bar 99 opened 20 minutes ago
    sim = Mt5Simulator(clock=clock, maxbars=150)
    sim.add_bars("EURUSD", "H1", bars)
    assert sim.initialize()
    return sim, clock, bars


def test_constants_and_types_are_the_real_packages():
    assert (mt5sim.TIMEFRAME_M1, mt5sim.TIMEFRAME_H1, mt5sim.TIMEFRAME_D1) == (1, 16385, 16408)
    assert (mt5sim.TIMEFRAME_W1, mt5sim.TIMEFRAME_MN1) == (32769, 49153)
    assert (mt5sim.RES_S_OK, mt5sim.RES_E_FAIL, mt5sim.RES_E_AUTH_FAILED) == (1, -1, -6)
    assert mt5sim.IPC_CODES == (-10005, -10004, -10003, -10002, -10001, -10000)
    sim = Mt5Simulator()
    assert sim.TIMEFRAME_H4 == 16388 and sim.RES_E_INTERNAL_FAIL_TIMEOUT == -10005  # module-style access
    with pytest.raises(AttributeError):
        _ = sim.NOT_A_CONSTANT


def test_rates_dtype_is_the_packages(market):
    sim, _, _ = market
    rates = sim.copy_rates_from_pos("EURUSD", H1, 1, 5)
    assert rates.dtype == RATES_DTYPE and rates.dtype.itemsize == 60
    assert rates.dtype.descr == [("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"),
                                 ("close", "<f8"), ("tick_volume", "<u8"), ("spread", "<i4"), ("real_volume", "<u8")]


def test_position_zero_is_the_forming_bar(market):
    sim, clock, bars = market
    forming = sim.copy_rates_from_pos("EURUSD", H1, 0, 1)[0]
    assert forming["time"] == bars["time"][99] and forming["open"] == bars["open"][99]
    assert forming["tick_volume"] < bars["tick_volume"][99]  # only 20 minutes of it so far
    closed = sim.copy_rates_from_pos("EURUSD", H1, 1, 3)
    assert (closed == bars[96:99]).all()  # oldest first, final values
    clock.advance(3600)  # bar 100 opens: 99 closes with its final values
    assert (sim.copy_rates_from_pos("EURUSD", H1, 1, 1)[0] == bars[99]).all()


def test_forming_bar_stays_position_zero_until_a_later_bar_opens():
    bars = synthetic_bars(10)  # from Wed 2020-01-01, weekends skipped
    sim = Mt5Simulator(clock=ManualClock(bars["time"][5] + 30 * 3600))  # long after bar 5's nominal end
    sim.add_bars("EURUSD", "H1", bars[:6])
    sim.initialize()
    assert (sim.copy_rates_from_pos("EURUSD", H1, 0, 1)[0] == bars[5]).all()  # complete values, still forming
    assert sim.copy_rates_from_pos("EURUSD", H1, 1, 10)["time"][-1] == bars["time"][4]


def test_ticks_update_the_forming_bar_and_a_later_tick_closes_it(market):
    sim, clock, bars = market
    sim2 = Mt5Simulator(clock=clock)
    sim2.add_bars("GOLD", "H1", bars[:100])  # nothing scheduled beyond the forming bar 99
    sim2.initialize()
    sim2.tick("GOLD", 5.0, volume=3)
    bar = sim2.copy_rates_from_pos("GOLD", H1, 0, 1)[0]
    assert bar["high"] == 5.0 and bar["close"] == 5.0 and bar["open"] == bars["open"][99]
    clock.advance(600)
    sim2.tick("GOLD", 0.5)
    bar = sim2.copy_rates_from_pos("GOLD", H1, 0, 1)[0]
    assert (bar["low"], bar["close"], bar["time"]) == (0.5, 0.5, bars["time"][99])
    clock.set(bars["time"][99] + 3600 + 5)
    sim2.tick("GOLD", 0.7, spread=12)
    closed = sim2.copy_rates_from_pos("GOLD", H1, 1, 1)[0]
    new = sim2.copy_rates_from_pos("GOLD", H1, 0, 1)[0]
    assert (closed["high"], closed["low"], closed["close"]) == (5.0, 0.5, 0.5)
    assert new["time"] == bars["time"][99] + 3600 and new["open"] == 0.7 and new["spread"] == 12
    with pytest.raises(ValueError):
        sim.tick("EURUSD", 1.0)  # scheduled bars still to come


def test_calls_fail_before_initialize_and_after_shutdown():
    sim = Mt5Simulator()
    sim.add_bars("EURUSD", "H1", synthetic_bars(5))
    assert sim.copy_rates_from_pos("EURUSD", H1, 1, 1) is None
    assert sim.last_error() == (-10004, "No IPC connection")
    assert sim.initialize() and sim.last_error() == (1, "Success")
    sim.shutdown()
    assert sim.terminal_info() is None and sim.last_error()[0] == -10004


def test_scheduled_outage_and_count_based_failures(market):
    sim, clock, _ = market
    now = clock()
    sim.schedule_outage(now + 10, now + 20)
    sim.fail_next(1, code=mt5sim.RES_E_INTERNAL_FAIL_RECEIVE, functions=("copy_rates_range",))
    assert sim.copy_rates_from_pos("EURUSD", H1, 1, 1) is not None  # not the named function
    assert sim.copy_rates_range("EURUSD", H1, 0, now) is None
    assert sim.last_error() == (-10002, "IPC recv failed")
    clock.advance(15)
    assert sim.copy_rates_from_pos("EURUSD", H1, 1, 1) is None and sim.last_error() == (-10005, "IPC timeout")
    clock.advance(10)
    assert sim.copy_rates_from_pos("EURUSD", H1, 1, 1) is not None


def test_disconnect_needs_a_new_initialize(market):
    sim, clock, _ = market
    now = clock()
    sim.schedule_disconnect(now, now + 60)
    assert sim.symbol_info_tick("EURUSD") is None and sim.last_error()[0] == -10004
    assert sim.initialize() is False and sim.last_error()[0] == -10003
    clock.advance(120)
    assert sim.copy_rates_from_pos("EURUSD", H1, 1, 1) is None and sim.last_error()[0] == -10004
    assert sim.initialize()
    assert sim.copy_rates_from_pos("EURUSD", H1, 1, 1) is not None


def test_maxbars_limits_depth_and_request_size(market):
    sim, _, bars = market
    assert sim.terminal_info().maxbars == 150
    assert sim.copy_rates_from_pos("EURUSD", H1, 0, 151) is None
    assert sim.last_error() == (-2, "Terminal: Invalid params")
    sim2 = Mt5Simulator(clock=sim.clock, maxbars=50)
    sim2.add_bars("EURUSD", "H1", bars)
    sim2.initialize()
    rates = sim2.copy_rates_from_pos("EURUSD", H1, 1, 50)
    assert len(rates) == 49 and rates["time"][0] == bars["time"][50]  # only the last 50 bars are on the chart
    assert len(sim2.copy_rates_from_pos("EURUSD", H1, 50, 10)) == 0
    in_range = sim2.copy_rates_range("EURUSD", H1, int(bars["time"][0]), int(bars["time"][60]))
    assert in_range["time"][0] == bars["time"][50] and in_range["time"][-1] == bars["time"][60]


def test_copy_rates_from_and_range_include_the_forming_bar(market):
    sim, clock, bars = market
    got = sim.copy_rates_from("EURUSD", H1, int(clock()), 3)
    assert got["time"].tolist() == bars["time"][97:100].tolist()
    got = sim.copy_rates_range("EURUSD", H1, int(bars["time"][95]), 2**40)
    assert got["time"].tolist() == bars["time"][95:100].tolist()
    import datetime as dt

    when = dt.datetime.fromtimestamp(int(bars["time"][97]), dt.timezone.utc)
    assert sim.copy_rates_from("EURUSD", H1, when, 1)["time"][0] == bars["time"][97]


def test_bad_arguments_unknown_symbols_and_credentials():
    sim = Mt5Simulator(accounts={1234: ("secret", "Broker-Demo")})
    sim.add_bars("EURUSD", "H1", synthetic_bars(5))
    assert sim.initialize(login=1234, password="wrong") is False
    assert sim.last_error() == (-6, "Terminal: Authorization failed")
    assert sim.initialize(login=1234, password="secret", server="Broker-Demo")
    assert sim.account_info().server == "Broker-Demo"
    assert sim.symbol_select("NOPE", True) is False and sim.last_error() == (-1, "Terminal: Call failed")
    assert sim.copy_rates_from_pos("EURUSD", 12345, 0, 1) is None and sim.last_error()[0] == -2
    assert sim.copy_rates_from_pos("EURUSD", H1, "0", 1) is None and sim.last_error() == (-2, "Invalid arguments")
    assert sim.symbol_select("EURUSD") and sim.symbol_info("EURUSD").visible
    assert sim.version()[0] == 500


def test_info_results_are_struct_sequences_that_do_not_pickle(market):
    """Like MetaTrader5's C struct sequences (bare type names in `_core`, a C `_asdict`): tuples with attribute access
    and _asdict(), no _fields, and pickling fails the way mt5linux issue #57 reports for the real ones."""
    import pickle

    sim, _, _ = market
    for info in (sim.terminal_info(), sim.account_info(), sim.symbol_info("EURUSD"), sim.symbol_info_tick("EURUSD")):
        assert isinstance(info, tuple) and not hasattr(info, "_fields")
        assert type(info).__module__ == "builtins" and "." not in type(info).__qualname__
        assert list(info._asdict().values()) == list(info)
        with pytest.raises(pickle.PicklingError, match=f"attribute lookup {type(info).__name__} on builtins failed"):
            pickle.dumps(info)
    info = sim.terminal_info()
    assert info.maxbars == 150 and info._asdict()["build"] == sim.build and len(info) == 22
    assert len(sim.account_info()) == 28 and sim.account_info().currency == "USD"
    with pytest.raises(TypeError):
        mt5sim.TerminalInfo((1, 2))  # built from one sequence of the full length, as a struct sequence is


def test_history_arrives_in_pieces_after_the_first_request():
    bars = synthetic_bars(400, weekends=False)
    clock = ManualClock(bars["time"][300] + 60)
    sim = Mt5Simulator(clock=clock, download_s=100)
    sim.add_bars("EURUSD", "H1", bars)
    sim.initialize()
    assert sim.copy_rates_from_pos("EURUSD", H1, 1, 50) is None  # nothing ready yet: "Call failed"
    assert sim.last_error() == (-1, "Terminal: Call failed")
    clock.advance(10)  # a tenth of the 301 bars is ready, newest first
    page = sim.copy_rates_from_pos("EURUSD", H1, 1, 50)
    assert len(page) == 29 and (page == bars[271:300]).all()  # a short page
    whole = sim.copy_rates_range("EURUSD", H1, int(bars["time"][0]), int(bars["time"][299]))
    assert (whole == bars[271:300]).all()
    assert sim.copy_rates_range("EURUSD", H1, int(bars["time"][0]), int(bars["time"][200])) is None
    clock.advance(90)
    assert (sim.copy_rates_range("EURUSD", H1, int(bars["time"][0]), int(bars["time"][299])) == bars[:300]).all()
    assert len(sim.copy_rates_from_pos("EURUSD", H1, 1, 50)) == 50


def test_initialize_failures_name_their_cause():
    sim = Mt5Simulator(terminal_path="C:\\MT5\\terminal64.exe")
    assert sim.initialize("c:\\mt5\\TERMINAL64.EXE")  # Windows paths ignore case
    assert sim.initialize("D:\\Other\\terminal64.exe") is False
    assert sim.last_error() == (-10003, "IPC initialize failed, Process create failed 'D:\\Other\\terminal64.exe'")
    assert sim.copy_rates_from_pos("EURUSD", H1, 1, 1) is None and sim.last_error()[0] == -10004
    sim = Mt5Simulator(installed=False)
    assert sim.initialize() is False
    assert sim.last_error() == (-10003, "IPC initialize failed, MetaTrader 5 x64 not found")
    waits = []
    sim = Mt5Simulator(pipe_wait=waits.append)
    sim.schedule_disconnect(0, 60)
    assert sim.initialize(timeout=5_000) is False and waits == [5.0]
    assert sim.last_error() == (-10003, "IPC initialize failed, Pipe server didn't answer in 5 sec")


def test_a_range_outside_the_charts_bars_fails_and_an_empty_one_inside_is_empty(market):
    sim, clock, bars = market  # maxbars 150: bars 0..99 are on the chart, 99 forming
    t = bars["time"]
    assert sim.copy_rates_range("EURUSD", H1, int(t[0]) - 86400, int(t[0]) - 1) is None
    assert sim.last_error() == (-1, "Terminal: Call failed")  # before the oldest bar
    assert sim.copy_rates_range("EURUSD", H1, int(t[99]) + 1, int(t[99]) + 7200) is None  # after the forming bar
    assert len(sim.copy_rates_range("EURUSD", H1, int(t[10]) + 1, int(t[11]) - 1)) == 0  # between two bars
    assert sim.copy_rates_from("EURUSD", H1, int(t[0]) - 1, 5) is None
    sim2 = Mt5Simulator(clock=clock, maxbars=50)
    sim2.add_bars("EURUSD", "H1", bars)
    sim2.initialize()
    assert sim2.copy_rates_range("EURUSD", H1, int(t[0]), int(t[40])) is None  # older than the last maxbars bars

"""One terminal connection per process, shared by every source of that terminal (the MetaTrader5 package has only
one: shutdown()/initialize() act on the whole module), and initialize() failures that retrying cannot fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mt5bridge.daemon.loop import Daemon
from mt5bridge.data.mt5 import Mt5Settings, Mt5Source
from mt5bridge.errors import ConfigError, TemporaryError
from mt5bridge.testing import ManualClock, Mt5Simulator, synthetic_bars
from mt5bridge.testing.mt5sim import RES_E_INTERNAL_FAIL_RECEIVE, RES_E_INTERNAL_FAIL_TIMEOUT
from mt5bridge.testing.rpyc_server import serving
from tests.daemon_support import HOUR, Harness, train_tiny
from tests.test_daemon import free_port

ROOT = Path(__file__).resolve().parents[1]
WRONG_PATH = "C:\\Nope\\terminal64.exe"


def no_sleep(seconds):
    pass


def terminal(**kw):
    bars = synthetic_bars(300)
    clock = ManualClock(bars["time"][250] + 60)
    sim = Mt5Simulator(clock=clock, **kw)
    for symbol in ("EURUSD", "GBPUSD"):
        sim.add_bars(symbol, "H1", bars)
    return sim, clock


def calls(sim, name):
    return sum(1 for c in sim.calls if c[0] == name)


def two_sources(sim, settings=None):
    return (Mt5Source.from_module(sim, "EURUSD", "H1", settings, sleep=no_sleep),
            Mt5Source.from_module(sim, "GBPUSD", "H1", settings, sleep=no_sleep))


def test_the_terminal_connection_is_process_wide_even_for_separate_rpyc_clients():
    """As with the real package (initialize()/shutdown() act on module-level state in its _core), one caller's
    shutdown() ends the connection for every caller of the process, here two RPyC clients of one server."""
    import rpyc

    sim, _ = terminal()
    with serving(sim) as port:
        first, second = rpyc.classic.connect("127.0.0.1", port), rpyc.classic.connect("127.0.0.1", port)
        try:
            one, other = first.modules.MetaTrader5, second.modules.MetaTrader5
            assert one.initialize() and other.copy_rates_from_pos("EURUSD", 16385, 1, 1) is not None
            one.shutdown()
            assert other.copy_rates_from_pos("EURUSD", 16385, 1, 1) is None and other.last_error()[0] == -10004
        finally:
            first.close(), second.close()


def test_closing_one_source_leaves_the_others_connected():
    sim, _ = terminal()
    a, b = two_sources(sim)
    assert len(a.last_closed_bars(3)) == 3 and len(b.last_closed_bars(3)) == 3
    assert calls(sim, "initialize") == 1  # one connection for both
    a.close()
    assert calls(sim, "shutdown") == 0 and len(b.last_closed_bars(3)) == 3  # a's close did not shut b down
    b.close()
    assert calls(sim, "shutdown") == 1  # the last close does


def test_a_failure_seen_by_every_source_costs_one_reconnect():
    sim, clock = terminal()
    a, b = two_sources(sim)
    a.last_closed_bars(1), b.last_closed_bars(1)
    sim.schedule_disconnect(clock(), clock() + 60)
    for source in (a, b):
        with pytest.raises(TemporaryError, match="No IPC connection"):
            source.last_closed_bars(1)
    clock.advance(120)
    before = calls(sim, "initialize"), calls(sim, "shutdown")
    a.reconnect()
    b.reconnect()  # a already reconnected after the failure b saw: nothing to do, and a's connection stays
    assert (calls(sim, "initialize"), calls(sim, "shutdown")) == (before[0] + 1, before[1] + 1)
    assert len(a.last_closed_bars(2)) == 2 and len(b.last_closed_bars(2)) == 2
    b.close(), a.close()


def test_one_sources_failed_reconnect_does_not_break_the_others():
    sim, _ = terminal()
    a, b = two_sources(sim)
    a.last_closed_bars(1), b.last_closed_bars(1)
    sim.fail_next(1, RES_E_INTERNAL_FAIL_RECEIVE, functions=("copy_rates_from_pos",))
    with pytest.raises(TemporaryError, match="IPC recv failed"):
        a.last_closed_bars(1)
    sim.fail_next(1, RES_E_INTERNAL_FAIL_TIMEOUT, functions=("initialize",))
    with pytest.raises(TemporaryError, match="initialize failed: IPC timeout"):
        a.reconnect()  # shutdown() went through, initialize() did not: the terminal connection is down
    assert len(b.last_closed_bars(2)) == 2  # b connects again instead of failing with "No IPC connection"
    a.reconnect()  # b's new connection is newer than a's failure: kept
    assert len(a.last_closed_bars(2)) == 2 and calls(sim, "initialize") == 3
    a.close(), b.close()


def test_sources_of_one_terminal_must_agree_on_the_connection_settings():
    sim, _ = terminal()
    a = Mt5Source.from_module(sim, "EURUSD", "H1", Mt5Settings(timeout_ms=5000, page_bars=10), sleep=no_sleep)
    b = Mt5Source.from_module(sim, "GBPUSD", "H1", Mt5Settings(timeout_ms=5000, page_bars=99), sleep=no_sleep)
    c = Mt5Source.from_module(sim, "GBPUSD", "H1", Mt5Settings(login=1234), sleep=no_sleep)
    a.last_closed_bars(1)
    b.last_closed_bars(1)  # page_bars is the source's own
    with pytest.raises(ConfigError, match="mt5.module. GBPUSD H1: another source of this process uses mt5.module. "
                                          "with other connection settings"):
        c.last_closed_bars(1)
    a.close(), b.close()
    assert len(c.last_closed_bars(1)) == 1  # nobody else uses the terminal now
    c.close()


def test_rpyc_sources_share_one_rpyc_connection():
    sim, _ = terminal()
    with serving(sim) as port:
        spec = f"mt5rpyc://127.0.0.1:{port}"
        a = Mt5Source.rpyc(spec, "EURUSD", "H1", sleep=no_sleep)
        b = Mt5Source.rpyc(spec, "GBPUSD", "H1", sleep=no_sleep)
        a.last_closed_bars(1), b.last_closed_bars(1)
        assert a._session is b._session and calls(sim, "initialize") == 1
        a.close()
        assert len(b.last_closed_bars(2)) == 2
        b.close()
        assert calls(sim, "shutdown") == 1


# --- initialize() failures no retry can fix (-10003 with a permanent cause) ---
def test_permanent_initialize_failures_are_config_errors_saying_what_to_fix():
    sim, clock = terminal()
    with Mt5Source.from_module(sim, "EURUSD", "H1", Mt5Settings(path=WRONG_PATH), sleep=no_sleep) as source:
        with pytest.raises(ConfigError, match=r"initialize failed: IPC initialize failed, Process create failed "
                                              r"'C:\\Nope\\terminal64.exe' \(-10003\); retrying cannot help: .*"
                                              r"set \[source\] path \(or --mt5-path\)"):
            source.last_closed_bars(1)
    sim2, _ = terminal(installed=False)
    with Mt5Source.from_module(sim2, "EURUSD", "H1", sleep=no_sleep) as source:
        with pytest.raises(ConfigError, match="MetaTrader 5 x64 not found.*install one"):
            source.last_closed_bars(1)
    sim.schedule_disconnect(clock(), clock() + 60)  # a terminal that is not answering: that one passes
    with Mt5Source.from_module(sim, "EURUSD", "H1", sleep=no_sleep) as source:
        with pytest.raises(TemporaryError, match="Pipe server didn't answer in 60 sec"):
            source.last_closed_bars(1)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("model") / "tiny.npz")


def test_the_daemon_stops_at_a_permanent_initialize_failure_instead_of_retrying(tmp_path, model):
    h = Harness(tmp_path, model)
    source = Mt5Source.from_module(h.sim, "XAUUSD", "H1", Mt5Settings(path=WRONG_PATH))
    daemon = Daemon(h.config, sources={"XAUUSD/H1": source}, clock=h.clock, sleep=lambda s: None)
    try:
        with pytest.raises(ConfigError, match="Process create failed"):
            daemon.start()  # what run() starts with; before: a TemporaryError, retried with backoff for ever
            for _ in range(3):
                h.clock.advance(HOUR)
                daemon.cycle()
    finally:
        daemon.close()
    assert calls(h.sim, "initialize") == 1


def test_run_exits_with_status_2_and_says_what_to_fix(tmp_path, model):
    sim, _ = terminal()
    with serving(sim) as port:
        config = tmp_path / "run.toml"
        config.write_text(f"""
[source]
spec = "mt5rpyc://127.0.0.1:{port}"
path = 'C:\\Nope\\terminal64.exe'
[[streams]]
symbol = "EURUSD"
timeframe = "H1"
model = "{model}"
[publisher]
endpoint = "tcp://127.0.0.1:{free_port()}"
[daemon]
state_dir = "{tmp_path / 'state'}"
device = "numpy"
""")
        result = subprocess.run([sys.executable, "-m", "mt5bridge", "run", "--config", str(config)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Process create failed 'C:\\Nope\\terminal64.exe'" in result.stderr
    assert "set [source] path" in result.stderr and "Traceback" not in result.stderr


# --- two streams in the daemon ---
def test_one_streams_failure_and_reconnect_do_not_break_the_other(tmp_path, model):
    h = Harness(tmp_path, model, symbols=("XAUUSD", "EURUSD"))
    try:
        daemon = h.start_daemon()
        xau, eur = daemon.streams
        h.hours(2)
        # XAUUSD's poll fails (it polls first); its reconnect an hour later gets through shutdown() but not
        # initialize(). EURUSD must not notice either.
        h.sim.fail_next(1, RES_E_INTERNAL_FAIL_RECEIVE, functions=("copy_rates_from_pos",))
        h.hours(1)
        assert xau.error and not eur.error
        h.sim.fail_next(1, RES_E_INTERNAL_FAIL_TIMEOUT, functions=("initialize",))
        h.hours(1)
        assert xau.error and not eur.error  # before: EURUSD failed with "No IPC connection" here
        h.hours(2)
        assert not xau.error and not eur.error
        # A failure both streams see: one reconnect, not one per stream.
        t = h.clock()
        h.sim.schedule_disconnect(t + 60, t + HOUR + 60)
        h.hours(1)
        assert xau.error and eur.error
        before = calls(h.sim, "initialize"), calls(h.sim, "shutdown")
        h.hours(2)
        assert not xau.error and not eur.error
        assert (calls(h.sim, "initialize"), calls(h.sim, "shutdown")) == (before[0] + 1, before[1] + 1)
        h.recorder.drain(0.3)
        for symbol in ("XAUUSD", "EURUSD"):
            times = [m.bar_time for m in h.recorder.messages if m.symbol == symbol]
            assert times == [int(t) for t in h.closed_times()[-10:]]  # the warm-up's newest bar + 9 hours, all
        shutdowns = calls(h.sim, "shutdown")
        daemon.close()
        assert calls(h.sim, "shutdown") == shutdowns + 1  # the sources' connection closes once
        h.daemon = None
    finally:
        h.close()

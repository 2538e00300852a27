"""The MQL5 programs themselves, compiled against the C++ MQL5 runtime and run as a terminal runs them
(tests/mql5check/native.py): the example EA (Mt5BridgeMonitor.mq5) reading a libzmq XPUB with a last-value cache,
as the daemon publishes, and writing terminal global variables; the indicator (Mt5BridgeLatent.mq5) reading them
on another chart of the same terminal (the two processes share the global variables' file)."""

from __future__ import annotations

import pytest

from mt5bridge import wire
from mql5check import native
from mql5twin.peers import LvcPublisher, poll_until

pytestmark = pytest.mark.skipif(not native.available(), reason="g++ is not installed")

H1 = 16385
T0 = 1_700_000_000 - 1_700_000_000 % 3600
BARS = 48  # the chart: T0 .. T0 + 47 h, the newest bar forming
EA = "mql5/Experts/Mt5BridgeMonitor.mq5"
INDICATOR = "mql5/Indicators/Mt5BridgeLatent.mq5"


def bar(k: int) -> int:
    return T0 + 3600 * k


@pytest.fixture
def terminal(tmp_path):
    """One terminal: its global variables (a file both programs use), the chart they are attached to."""
    env = {"MQL5_GLOBALS": str(tmp_path / "gvariables.txt"), "MQL5_SYMBOL": "EURUSD", "MQL5_PERIOD": str(H1)}
    programs: list[native.Program] = []

    def attach(program: str, **inputs) -> native.Program:
        p = native.Program(program, env={**env, **{f"MQL5_INPUT_{k}": str(v) for k, v in inputs.items()}})
        programs.append(p)
        p.call("chart", T0, 3600, BARS)
        return p

    yield attach
    for p in programs:
        p.call("deinit", 0)
        p.close()


def publish(pub: LvcPublisher, k: int, stream_sequence: int, pct: float, flags: int = wire.FLAG_WARM) -> None:
    pub.sequence += 1
    pub.clock_ms += 1
    msg = wire.LatentMessage(pub.sequence, pub.clock_ms, "EURUSD", H1, flags, bar(k), stream_sequence, 0.5, pct,
                             (0.0, 1.0))
    pub.send(wire.latent_topic("EURUSD", "H1"), wire.encode(msg))


def ea_runs_until(ea: native.Program, pub: LvcPublisher, done) -> None:
    """The EA's timer ticks (OnTimer polls the bridge) while the publisher serves subscriptions."""
    assert poll_until(lambda: (ea.call("timer"), pub.serve()), done), ea.log


def gv(program: native.Program, field: str):
    return program.call("gv", f"Mt5Bridge.EURUSD.H1.{field}")


def drawn(indicator: native.Program) -> dict[int, float]:
    """The indicator's buffer: bar open time -> value, for the bars that show one."""
    return {t: v for t, v in indicator.call("buffer", 0) if v is not None}


def test_the_indicator_draws_every_bar_at_its_own_bar_catch_up_included_and_without_ticks(ctx, terminal):
    pub = LvcPublisher(ctx)
    ea = terminal(EA, InpPort=pub.port)
    assert ea.call("init") == 0 and ea.call("timer_ms") == 100
    ea_runs_until(ea, pub, lambda: len(pub.subscriptions) >= 2)  # the chart's stream and the heartbeat
    # a daemon back from a restart catches up: bars 10..14 come late and in a burst, one of them not scored
    for k in range(10, 15):
        publish(pub, k, k, 10.0 * k, wire.FLAG_WARM | wire.FLAG_CATCHUP | (wire.FLAG_NO_ERROR if k == 12 else 0))
    ea_runs_until(ea, pub, lambda: gv(ea, "n") == 5)
    assert gv(ea, "bar") == bar(14) and gv(ea, "pct") == 140.0  # the newest, as before
    assert "READY (ZMTP 3.1)" in ea.call("comment")

    ind = terminal(INDICATOR)
    assert ind.call("init") == 0
    assert ind.call("calculate") == BARS  # the first OnCalculate: every bar received so far, each at its place
    assert drawn(ind) == {bar(10): 100.0, bar(11): 110.0, bar(13): 130.0, bar(14): 140.0}  # 12: not scored

    # a quiet market: no tick, so no OnCalculate; the EA receives two more bars, the indicator's timer draws them
    publish(pub, 15, 15, 15.0)
    publish(pub, 16, 16, 16.0)
    ea_runs_until(ea, pub, lambda: gv(ea, "n") == 7)
    assert ind.call("timer") is True
    assert drawn(ind)[bar(15)] == 15.0 and drawn(ind)[bar(16)] == 16.0
    assert ind.call("redraws") >= 1  # ChartRedraw: shown without waiting for a tick

    # a bar newer than the chart's newest waits for the chart to get it, then shows on the next OnCalculate
    publish(pub, BARS, BARS, 48.0)
    ea_runs_until(ea, pub, lambda: gv(ea, "n") == 8)
    ind.call("timer")
    assert bar(BARS) not in drawn(ind)
    ind.call("bars", 1)
    assert ind.call("calculate") == BARS + 1
    assert drawn(ind)[bar(BARS)] == 48.0 and len(drawn(ind)) == 7

    # the terminal recalculates from scratch (prev_calculated 0, e.g. history reloaded): nothing is lost
    ind.call("reload")
    ind.call("calculate")
    assert len(drawn(ind)) == 7
    pub.close()


def test_the_history_ring_keeps_the_newest_bars_when_the_indicator_falls_behind():
    """More bars than the ring holds were received before the indicator started: it draws the newest ring's worth,
    each at its bar. The slots are written here as Globals.mqh writes them (in memory: no file shared)."""
    ind = native.Program(INDICATOR, env={"MQL5_SYMBOL": "EURUSD", "MQL5_PERIOD": str(H1)})
    try:
        ind.call("chart", T0, 3600, 2000)
        assert ind.call("init") == 0
        count = 1100
        for k in range(count):
            for field, value in (("bar", bar(k)), ("pct", float(k % 100)), ("k", k)):
                ind.call("gvset", f"Mt5Bridge.EURUSD.H1.h{k % 1024}.{field}", value)
        ind.call("gvset", "Mt5Bridge.EURUSD.H1.n", count)
        ind.call("calculate")
        shown = drawn(ind)
    finally:
        ind.close()
    assert len(shown) == 1024 and min(shown) == bar(count - 1024) and max(shown) == bar(count - 1)
    assert all(v == float(((t - T0) // 3600) % 100) for t, v in shown.items())

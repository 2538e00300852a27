"""A stand-in for the `MetaTrader5` package (market-data subset), faithful where our code depends on it.

Same function names, signatures, constants (copied from MetaTrader5 5.0.6231 `__init__.py`) and return types (the
constants, messages and result types live in mt5sim_types.py and are re-exported here): rates are numpy structured
arrays `time <i8, open/high/low/close <f8, tick_volume <u8, spread <i4, real_volume <u8`, oldest first; failures
return None (False for initialize/login/symbol_select) and set `last_error()` to the real (code, message) pairs.
Behaviour modelled:

- position 0 is the bar still forming: it is the newest bar whose open time has passed on the clock, and it stays
  position 0 (over a weekend too) until a later bar opens. Scheduled bars show partial values while forming (close
  moved part of the way, high/low and volume growing with the bar's elapsed fraction); `tick()` updates it for real;
- the terminal keeps `terminal_info().maxbars` bars per chart: older ones are invisible, and asking for more than
  maxbars bars at once fails with (-2, 'Terminal: Invalid params') (what users of the real package report);
- terminal_info(), account_info(), symbol_info(), symbol_info_tick() return C struct sequences like the package's:
  tuples with attribute access and `_asdict()`, no `_fields`, and not picklable (see `_struct_sequence`);
- one connection per process: initialize()/shutdown() act on the whole module, so one user's shutdown() makes every
  other user's calls fail with (-10004, 'No IPC connection') until someone calls initialize() again;
- calls before initialize() or after shutdown() fail with -10004; scheduled outages fail every call with an IPC code;
  a scheduled disconnect also needs a new initialize() afterwards; fail_next() fails calls by count;
- initialize() fails with -10003 and the cause in the message, as the package words it: a path that is not the
  terminal's ("Process create failed '...'"), no terminal installed ("MetaTrader 5 x64 not found"), the terminal not
  answering ("Pipe server didn't answer in 60 sec", after waiting `timeout` ms through `pipe_wait`);
- history being downloaded (`download_s`): after a symbol/timeframe is first asked for, its history arrives in
  pieces, so requests give short answers or None with (-1, 'Terminal: Call failed') until it is complete;
- unknown symbols: symbol_select -> False, copy_* -> None, with (-1, 'Terminal: Call failed'); bad argument types
  -> (-2, 'Invalid arguments'); bad credentials -> (-6, 'Terminal: Authorization failed').

Date ranges completely outside the chart's bars fail with -1, as documented; where MetaQuotes documents nothing
(an empty window inside them), the simulator returns an empty array.
Thread-safe: the RPyC server calls it from its own threads.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import functools
import math
import sys
import threading
from collections import deque
from typing import Any, Callable, Iterator

import numpy as np

from ..data.bars import RATES_DTYPE, empty_bars
from ..data.timeframes import TIMEFRAMES, Timeframe, bar_open_time, timeframe
from .clock import ManualClock
# The package's constants and result types live in mt5sim_types; the star import re-exports all of them from here
# (tests and the adapter's users import them from mt5sim) and puts them in globals(), where Mt5Simulator.__getattr__
# finds them as module constants. The names this file uses are imported by name as well.
from .mt5sim_types import *  # noqa: F403
from .mt5sim_types import (ACCOUNT_TRADE_MODE_DEMO, DEFAULT_PATH, INIT_FAILED, MESSAGES, PIPE_TIMEOUT,
                           PROCESS_CREATE_FAILED, RES_E_AUTH_FAILED, RES_E_FAIL, RES_E_INTERNAL_FAIL_CONNECT,
                           RES_E_INTERNAL_FAIL_INIT, RES_E_INTERNAL_FAIL_TIMEOUT, RES_E_INVALID_PARAMS, RES_S_OK,
                           TERMINAL_NOT_FOUND, AccountInfo, SymbolInfo, TerminalInfo, Tick)
from .mt5sim_types import _struct_sequence  # noqa: F401 - re-exported: tests build struct sequences of their own

_FAIL = object()  # marker: the gate failed the call


def _api(fail_value: Any = None) -> Callable:
    """Wrap an API function: lock, record the call, apply scheduled failures, set last_error on success."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def call(self: "Mt5Simulator", *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append((fn.__name__, args, kwargs))
                if self._gate(fn.__name__) is _FAIL:
                    return fail_value
                self._error = RES_S_OK
                self._error_text = MESSAGES[RES_S_OK]
                try:
                    return fn(self, *args, **kwargs)
                except _Failure as failure:
                    self._error, self._error_text = failure.code, failure.text
                    return fail_value

        return call

    return wrap


class _Failure(Exception):
    def __init__(self, code: int, text: str | None = None):
        super().__init__(code)
        self.code, self.text = code, text or MESSAGES[code]


class _Series:
    """All bars of one symbol and timeframe, revealed by the clock: index < k are on the chart at time now."""

    def __init__(self, tf: Timeframe):
        self.tf = tf
        self.bars = empty_bars(0)  # (n,) final values, history and scheduled
        self.exact_from = np.iinfo(np.int64).max  # bars from this index on are tick-driven: shown as they are
        self.asked_at: float | None = None  # clock time of the first request for this series (its download starts)
        self.history = 0  # bars on the chart at that moment: the history to download

    def ready_from(self, now: float, download_s: float) -> int:
        """Index of the oldest bar the terminal has ready. What the real terminal does (MQL5 docs, CopyRates, and
        "Organizing Data Access"): history arrives from the trade server in packed blocks of minute bars and each
        timeframe is built from them on request; a request for data the terminal lacks starts the download, "the
        function returns the amount that will be ready by the time the timeout expires, however the history
        download continues, and the function returns more data during the next similar request", and -1 if the
        interval is completely outside the available data. MetaQuotes does not document the order; here history
        becomes ready from the newest bar back (as a chart scrolled back fills in), all of it `download_s` clock
        seconds after the first request. Bars that open later arrive live and are always ready."""
        if self.asked_at is None or download_s <= 0:
            return 0
        done = min(1.0, max(0.0, (now - self.asked_at) / download_s))
        return 0 if done >= 1.0 else self.history - math.floor(done * self.history)

    def add(self, bars: np.ndarray) -> None:
        bars = np.asarray(bars, dtype=RATES_DTYPE)
        if len(self.bars) and len(bars) and bars["time"][0] <= self.bars["time"][-1]:
            raise ValueError("bars must come after the bars already added")
        self.bars = np.concatenate([self.bars, bars])

    def revealed(self, now: float) -> int:
        return int(np.searchsorted(self.bars["time"], int(np.floor(now)), side="right"))

    def window(self, lo: int, hi: int, now: float) -> np.ndarray:
        out = self.bars[lo:hi].copy()
        k = self.revealed(now)
        if lo <= k - 1 < hi and k - 1 < self.exact_from:
            out[k - 1 - lo] = self._partial(self.bars[k - 1], now)
        return out

    def _partial(self, bar: np.void, now: float) -> np.void:
        """The forming bar `elapsed` into its life: open fixed, close/high/low/volumes part of the way."""
        f = min(1.0, max(0.0, (now - int(bar["time"])) / self.tf.seconds))
        if f >= 1.0:
            return bar
        part = bar.copy()
        o = float(bar["open"])
        c = o + f * (float(bar["close"]) - o)
        part["close"] = c
        part["high"] = max(o, c, o + f * (float(bar["high"]) - o))
        part["low"] = min(o, c, o + f * (float(bar["low"]) - o))
        part["tick_volume"] = max(1, int(f * int(bar["tick_volume"])))
        part["real_volume"] = int(f * int(bar["real_volume"]))
        return part


class Mt5Simulator:
    """Use as a module: `sys.modules["MetaTrader5"] = sim` (see `installed`), or pass it to the adapter directly."""

    __version__ = "5.0.6231"
    __author__ = "MetaQuotes Ltd. (simulated by mt5bridge)"
    MESSAGES = MESSAGES

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        maxbars: int = 100_000,
        build: int = 5200,
        accounts: dict[int, tuple[str, str]] | None = None,  # login -> (password, server); None accepts anyone
        download_s: float = 0.0,  # clock seconds a series' history takes to arrive after it is first asked for
        terminal_path: str = DEFAULT_PATH,  # the installed terminal; initialize(path=other) cannot start it
        installed: bool = True,  # False: no terminal to find, initialize() without a path fails
        pipe_wait: Callable[[float], None] | None = None,  # e.g. time.sleep: how initialize() waits for the pipe
    ):
        self.clock = clock or ManualClock(0.0)
        self.maxbars, self.build, self.accounts = maxbars, build, accounts
        self.download_s, self.terminal_path, self.installed = float(download_s), terminal_path, installed
        self.pipe_wait = pipe_wait
        self.calls: deque[tuple[str, tuple, dict]] = deque(maxlen=100_000)  # recent API calls, for tests
        self._lock = threading.RLock()
        self._series: dict[tuple[str, int], _Series] = {}
        self._symbols: dict[str, dict[str, Any]] = {}
        self._initialized = False
        self._initialized_at = float("-inf")  # clock time of the last successful initialize()
        self._login: int | None = None
        self._error, self._error_text = RES_S_OK, MESSAGES[RES_S_OK]
        self._fail_queue: list[tuple[int, frozenset[str] | None]] = []
        self._outages: list[tuple[float, float, int]] = []  # (start, end, code)
        self._disconnects: list[tuple[float, float]] = []

    def __getattr__(self, name: str) -> Any:  # module-level constants, like the real module
        value = globals().get(name)
        if value is not None and name.isupper():
            return value
        raise AttributeError(f"module 'MetaTrader5' has no attribute {name!r}")

    # --- building the market ---
    def add_symbol(self, symbol: str, *, digits: int = 5, description: str = "") -> None:
        with self._lock:
            self._symbols.setdefault(symbol, {"digits": digits, "description": description, "select": False})

    def add_bars(self, symbol: str, tf: str | int | Timeframe, bars: np.ndarray) -> None:
        """Bars of one symbol/timeframe; those with open time <= clock are history, later ones appear on the clock."""
        tf = timeframe(tf)
        with self._lock:
            self.add_symbol(symbol)
            self._series.setdefault((symbol, tf.code), _Series(tf)).add(bars)

    def tick(self, symbol: str, bid: float, *, volume: int = 1, spread: int = 0) -> None:
        """A price tick at the clock's time: updates the forming bar of every timeframe of the symbol, or closes it
        and opens a new bar when the tick falls in a later bar."""
        with self._lock:
            now = self.clock()
            for (sym, _), series in self._series.items():
                if sym != symbol:
                    continue
                k = series.revealed(now)
                if k < len(series.bars):
                    raise ValueError("tick() is for series without scheduled bars still to come")
                t_open = bar_open_time(int(np.floor(now)), series.tf)
                if k and t_open < series.bars["time"][k - 1]:
                    raise ValueError("the clock went back before the forming bar")
                if k and t_open == series.bars["time"][k - 1]:
                    bar = series.window(k - 1, k, now)[0]
                    bar["high"], bar["low"] = max(bar["high"], bid), min(bar["low"], bid)
                    bar["close"], bar["tick_volume"] = bid, int(bar["tick_volume"]) + volume
                    bar["spread"] = spread
                    series.bars[k - 1] = bar
                    series.exact_from = min(series.exact_from, k - 1)
                else:
                    new = empty_bars(1)
                    new[0] = (t_open, bid, bid, bid, bid, volume, spread, 0)
                    series.add(new)
                    series.exact_from = min(series.exact_from, k)

    def schedule_outage(self, start: float, end: float, code: int = RES_E_INTERNAL_FAIL_TIMEOUT) -> None:
        """Every call in [start, end) on the clock fails with `code` (an IPC code); the connection survives."""
        self._outages.append((start, end, code))

    def schedule_disconnect(self, start: float, end: float) -> None:
        """The terminal goes away in [start, end): calls fail with -10004, initialize() with -10003; after `end` calls
        keep failing with -10004 until initialize() is called again."""
        self._disconnects.append((start, end))

    def fail_next(self, n: int = 1, code: int = RES_E_INTERNAL_FAIL_TIMEOUT, functions: tuple[str, ...] = ()) -> None:
        """The next n calls (of `functions`, or of any function) fail with `code`."""
        self._fail_queue.extend([(code, frozenset(functions) or None)] * n)

    def _gate(self, name: str) -> object | None:
        now = self.clock()
        for i, (code, only) in enumerate(self._fail_queue):
            if only is None or name in only:
                del self._fail_queue[i]
                return self._set_fail(code)
        if self._away(now):
            self._initialized = False
            return None if name == "initialize" else self._set_fail(RES_E_INTERNAL_FAIL_CONNECT)
        if any(start <= now and self._initialized_at < end for start, end in self._disconnects):
            self._initialized = False  # the terminal went away since initialize(), even if nobody called meanwhile
        for start, end, code in self._outages:
            if start <= now < end:
                return self._set_fail(code)
        if name != "initialize" and not self._initialized:
            return self._set_fail(RES_E_INTERNAL_FAIL_CONNECT)
        return None

    def _away(self, now: float) -> bool:
        return any(start <= now < end for start, end in self._disconnects)

    def _set_fail(self, code: int) -> object:
        self._error, self._error_text = code, MESSAGES[code]
        return _FAIL

    # --- the MetaTrader5 API (market-data subset) ---
    @_api(fail_value=False)
    def initialize(self, path=None, *, login=None, password=None, server=None, timeout=None, portable=False):
        if path is not None and not isinstance(path, str):
            raise _Failure(RES_E_INVALID_PARAMS, 'Invalid "path" argument')
        self._initialized = False
        if path is not None and path.lower() != self.terminal_path.lower():  # Windows paths: case-insensitive
            raise _Failure(RES_E_INTERNAL_FAIL_INIT, INIT_FAILED + PROCESS_CREATE_FAILED.format(path))
        if path is None and not self.installed:
            raise _Failure(RES_E_INTERNAL_FAIL_INIT, INIT_FAILED + TERMINAL_NOT_FOUND)
        if self._away(self.clock()):  # the package waits `timeout` ms (default 60 s) for the terminal's pipe
            wait_s = (60_000 if timeout is None else int(timeout)) / 1000
            if self.pipe_wait is not None:
                self.pipe_wait(wait_s)
            raise _Failure(RES_E_INTERNAL_FAIL_INIT, INIT_FAILED + PIPE_TIMEOUT.format(int(wait_s)))
        if login is not None:
            self._authorize(login, password, server)
        self._initialized, self._initialized_at = True, self.clock()
        return True

    @_api(fail_value=False)
    def login(self, login, password=None, server=None, timeout=None):
        self._authorize(login, password, server)
        return True

    def _authorize(self, login: Any, password: Any, server: Any) -> None:
        if not isinstance(login, int) or isinstance(login, bool):
            raise _Failure(RES_E_INVALID_PARAMS, 'Invalid "login" argument')
        if self.accounts is not None:
            want = self.accounts.get(login)
            if want is None or want[0] != password or (server is not None and server != want[1]):
                raise _Failure(RES_E_AUTH_FAILED)
        self._login = login

    def shutdown(self):
        with self._lock:
            self.calls.append(("shutdown", (), {}))
            self._initialized = False
            return True

    def last_error(self):
        with self._lock:
            return (self._error, self._error_text)

    @_api()
    def version(self):
        return (500, self.build, "20 Nov 2025")

    @_api()
    def terminal_info(self):
        folder = self.terminal_path.rsplit("\\", 1)[0]
        return TerminalInfo((
            False, False, True, False, False, False, False, False, False, 0, self.build, self.maxbars, 0, 20_000,
            0.0, 0.0, "MetaQuotes Ltd.", "MetaTrader 5 (simulated)", "English", folder, folder + "\\data",
            folder + "\\common",
        ))

    @_api()
    def account_info(self):
        server = self.accounts[self._login][1] if self.accounts and self._login in self.accounts else "Simulated-Demo"
        return AccountInfo((self._login or 0, ACCOUNT_TRADE_MODE_DEMO, 100, 200, 0, True, True, 2, 2, False,
                            10_000.0, 0.0, 0.0, 10_000.0, 0.0, 10_000.0, 0.0, 50.0, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                            "Simulated", server, "USD", "MetaQuotes Ltd."))

    @_api()
    def symbols_total(self):
        return len(self._symbols)

    @_api(fail_value=False)
    def symbol_select(self, symbol, enable=True):
        self._symbol(symbol)["select"] = bool(enable)
        return True

    @_api()
    def symbol_info(self, symbol):
        info, tick = self._symbol(symbol), self._last(symbol)
        point = 10.0 ** -info["digits"]
        bid = float(tick["close"]) if tick is not None else 0.0
        spread = int(tick["spread"]) if tick is not None else 0
        return SymbolInfo((symbol, info["select"], info["select"], info["digits"], point, spread,
                           int(self.clock()), bid, bid + spread * point, info["description"], symbol))

    @_api()
    def symbol_info_tick(self, symbol):
        info, tick = self._symbol(symbol), self._last(symbol)
        if tick is None:
            raise _Failure(RES_E_FAIL)
        bid, now = float(tick["close"]), self.clock()
        ask = bid + int(tick["spread"]) * 10.0 ** -info["digits"]
        return Tick((int(now), bid, ask, 0.0, 0, int(now * 1000), 6, 0.0))

    @_api()
    def copy_rates_from_pos(self, symbol, timeframe, start_pos, count):
        series, now = self._chart(symbol, timeframe, start_pos, count), self.clock()
        k = series.revealed(now)
        hi = k - start_pos
        return self._ready(series, max(0, hi - count, k - self.maxbars), max(0, hi), now)

    @_api()
    def copy_rates_from(self, symbol, timeframe, date_from, count):
        series, now = self._chart(symbol, timeframe, 0, count), self.clock()
        k = series.revealed(now)
        hi = int(np.searchsorted(series.bars["time"][:k], _seconds(date_from), side="right"))
        self._outside(series, k, None, _seconds(date_from))  # the bars up to date_from
        return self._ready(series, max(0, hi - count, k - self.maxbars), hi, now)

    @_api()
    def copy_rates_range(self, symbol, timeframe, date_from, date_to):
        series, now = self._chart(symbol, timeframe, 0, 0), self.clock()
        k = series.revealed(now)
        times = series.bars["time"][:k]
        lo = max(int(np.searchsorted(times, _seconds(date_from), side="left")), k - self.maxbars, 0)
        hi = int(np.searchsorted(times, _seconds(date_to), side="right"))
        self._outside(series, k, _seconds(date_from), _seconds(date_to))
        return self._ready(series, lo, max(lo, hi), now)

    # --- helpers ---
    def _outside(self, series: _Series, k: int, start: int | None, end: int) -> None:
        """-1 for a time interval completely outside the chart's bars: before the oldest of the last maxbars, or after
        the forming bar (MQL5 docs, CopyRates: "If the interval of the requested data is completely outside the
        available data on the server, then the function returns false. If the data outside TERMINAL_MAXBARS ...
        is requested, the function also returns false."). An empty interval inside them gives an empty array."""
        times = series.bars["time"]
        if not k or end < times[max(0, k - self.maxbars)] or (start is not None and start > times[k - 1]):
            raise _Failure(RES_E_FAIL)

    def _ready(self, series: _Series, lo: int, hi: int, now: float) -> np.ndarray:
        """Bars [lo, hi) as far as the terminal has them ready: a short answer while the history is still
        downloading, and -1 "Call failed" when none of the requested bars is ready yet."""
        ready = series.ready_from(now, self.download_s)
        if hi > lo and hi <= ready:
            raise _Failure(RES_E_FAIL)
        return series.window(max(lo, ready) if hi > lo else lo, hi, now)

    def _symbol(self, symbol: Any) -> dict[str, Any]:
        if not isinstance(symbol, str):
            raise _Failure(RES_E_INVALID_PARAMS, "Invalid arguments")
        if symbol not in self._symbols:
            raise _Failure(RES_E_FAIL)
        return self._symbols[symbol]

    def _last(self, symbol: str) -> np.void | None:
        """The newest revealed bar of the symbol's finest timeframe, as a stand-in for the last tick."""
        now, best = self.clock(), None
        for (sym, _), series in sorted(self._series.items(), key=lambda kv: kv[1].tf.seconds, reverse=True):
            k = series.revealed(now) if sym == symbol else 0
            if k:
                best = series.window(k - 1, k, now)[0]
        return best

    def _chart(self, symbol: Any, tf: Any, start: Any, count: Any) -> _Series:
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (tf, start, count))
        if not ints or start < 0 or count < 0 or int(tf) not in {t.code for t in TIMEFRAMES.values()}:
            raise _Failure(RES_E_INVALID_PARAMS, "Invalid arguments")
        self._symbol(symbol)
        if count > self.maxbars:
            raise _Failure(RES_E_INVALID_PARAMS)
        series = self._series.get((symbol, int(tf)))
        if series is None:  # a symbol with no data on this timeframe: the terminal has no history for it yet
            raise _Failure(RES_E_FAIL)
        if series.asked_at is None:  # the first request for it: the terminal starts downloading its history
            series.asked_at, series.history = self.clock(), series.revealed(self.clock())
        return series


def _seconds(value: Any) -> int:
    """datetime (aware: its instant; naive: read as UTC, the package's documented convention) or seconds."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp()) if value.tzinfo else calendar.timegm(value.timetuple())
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return int(value)
    raise _Failure(RES_E_INVALID_PARAMS, "Invalid arguments")


@contextlib.contextmanager
def installed(sim: Mt5Simulator) -> Iterator[Mt5Simulator]:
    """Make `import MetaTrader5` return the simulator for the duration of the block."""
    previous = sys.modules.get("MetaTrader5", _FAIL)
    sys.modules["MetaTrader5"] = sim  # type: ignore[assignment]
    try:
        yield sim
    finally:
        if previous is _FAIL:
            sys.modules.pop("MetaTrader5", None)
        else:
            sys.modules["MetaTrader5"] = previous  # type: ignore[assignment]

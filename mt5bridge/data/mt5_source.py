"""Closed bars of one symbol and timeframe from a MetaTrader 5 terminal (the module-independent part of the adapter;
the foreign side, `MetaTrader5` and `rpyc`, is in mt5.py).

Only closed bars leave here: position 0 (the forming bar) is never requested by position, and range requests drop
every bar at or after the forming bar's open time. A terminal still downloading history answers short or with
None/-1 "Call failed" for a while (MQL5 docs, CopyRates: it "returns the amount that will be ready by the time the
timeout expires ... and returns more data during the next similar request"), which looks exactly like the oldest bar
or an empty window. Taking such an answer at its word leaves a permanent hole (later runs only append newer bars), so
any answer that could be one is asked again after a short pause and believed only once two answers in a row agree;
answers still changing after about 16 s raise a TemporaryError naming what is missing.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, TemporaryError
from .bars import as_bars, empty_bars, format_time
from .mt5_errors import IPC_CODES, NO_DATA, last_error, raise_error
from .mt5_session import Connector, ModuleConnector, Mt5Settings, parse_rpyc_spec, session_for
from .timeframes import Timeframe, timeframe
from .validation import check_bars, check_policy

_FIRST_PAGE = 16  # bars asked for first when catching up; pages grow x8 up to the page limit
# Pauses before asking again while answers may still be growing: 15.75 s in all, short enough for the daemon's loop,
# long enough for a terminal to finish what one request started (it keeps downloading between our requests).
SETTLE_DELAYS_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
log = logging.getLogger("mt5bridge.data")
Progress = Callable[[int, float | None], None]  # (bars so far, fraction done or None)
_NOT_YET = object()


class Mt5Source:
    """Closed bars of one symbol and timeframe from a MetaTrader 5 terminal, through the process' shared connection
    to it (mt5_session.py). `sleep` is how the source pauses before asking again (default: time.sleep as it is when
    the source is made; tests inject one that moves a simulated clock)."""

    def __init__(self, connector: Connector, symbol: str, tf: str | int | Timeframe,
                 settings: Mt5Settings | None = None, *, policy: str = "drop",
                 sleep: Callable[[float], None] | None = None):
        self.symbol, self.timeframe = symbol, timeframe(tf)
        self.settings = settings or Mt5Settings()
        self.policy = check_policy(policy)  # "drop": skip and log bad bars (live); "raise" for strict history pulls
        self.name = f"{connector.describe()} {symbol} {self.timeframe}"
        self._session = session_for(connector)
        self._sleep = sleep or time.sleep
        self._attached = False
        self._seen = 0  # the session generation this source's last call used (what a failure happened on)
        self._ready = 0  # the generation on which the symbol was selected and maxbars read
        self._mt5: Any = None
        self._tf_code = self.timeframe.code
        self._maxbars = 0
        self.dropped = 0  # bad bars skipped under the "drop" policy, since creation

    @classmethod
    def local(cls, symbol: str, tf: str | int | Timeframe, settings: Mt5Settings | None = None, **kw) -> "Mt5Source":
        from .mt5 import LocalConnector

        return cls(LocalConnector(), symbol, tf, settings, **kw)

    @classmethod
    def rpyc(cls, spec: str, symbol: str, tf: str | int | Timeframe, settings: Mt5Settings | None = None,
             **kw) -> "Mt5Source":
        from .mt5 import RpycConnector

        return cls(RpycConnector(*parse_rpyc_spec(spec)), symbol, tf, settings, **kw)

    @classmethod
    def from_module(cls, module: Any, symbol: str, tf: str | int | Timeframe, settings: Mt5Settings | None = None,
                    **kw) -> "Mt5Source":
        return cls(ModuleConnector(module), symbol, tf, settings, **kw)

    # --- connection ---
    def connect(self) -> None:
        self._module()

    def reconnect(self) -> None:
        """What to do after a TemporaryError: a new terminal connection (shutdown() and initialize()), unless another
        source of this terminal already made one after this source's failure; then select the symbol again."""
        self._attach()
        self._session.reconnect(self._seen, self.name)
        self._module()

    def close(self) -> None:
        """Detach from the shared connection; the last source to close shuts it down."""
        attached, self._attached = self._attached, False
        self._mt5, self._seen, self._ready = None, 0, 0
        if attached:
            self._session.detach()

    def __enter__(self) -> "Mt5Source":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- closed bars ---
    def closed_bars_after(self, t: int | None) -> np.ndarray:
        """All closed bars with time > t (all available if t is None), oldest first. (N,) RATES_DTYPE."""
        return self._checked(self._page_back(want=None, after=t))

    def last_closed_bars(self, n: int) -> np.ndarray:
        """The newest n closed bars (fewer if the terminal holds fewer: at most maxbars - 1), oldest first."""
        return self._checked(self._page_back(want=int(n), after=None)) if n > 0 else empty_bars(0)

    def closed_bars_range(self, start: int | None, end: int | None, progress: Progress | None = None) -> np.ndarray:
        """Closed bars with start <= time < end (None: unbounded) via copy_rates_range, in windows of at most a page,
        newest first: history becomes ready from the newest bar back, so the first window answered "nothing there"
        (twice) is where the terminal's history begins, and no older window is asked for."""
        forming = self._settled("copy_rates_from_pos", 0, 1, full=1)
        if forming is None:
            self._raise("copy_rates_from_pos(0, 1)")
        if not len(forming):
            return empty_bars(0)
        last = int(forming["time"][-1]) - 1 if end is None else min(int(end), int(forming["time"][-1])) - 1
        if start is None:
            bars = self._page_back(want=None, after=None)
            return self._checked(bars[bars["time"] <= last])
        spacing = 28 * 86400 if self.timeframe.monthly else self.timeframe.seconds
        window = max(1, self._page_size() - 1) * spacing
        pieces: list[np.ndarray] = []
        b = last
        while b >= start:
            a = max(int(start), b - window + 1)
            page = self._settled("copy_rates_range", a, b, since=a, before=b + 1, reaches=a,
                                 what=f"copy_rates_range({format_time(a)}, {format_time(b)})")
            if page is None:  # -1: "completely outside the available data" (CopyRates), said twice
                oldest = next((int(p["time"][0]) for p in reversed(pieces) if len(p)), b + 1)
                log.warning("%s: the terminal holds no bars before %s (asked from %s): its history begins there",
                            self.name, format_time(oldest), format_time(int(start)))
                break
            pieces.append(page)
            b = a - 1
            if progress:
                progress(sum(len(p) for p in pieces), min(1.0, (last + 1 - a) / max(1, last + 1 - int(start))))
        return self._checked(_merge(pieces))

    def forming_bar(self) -> np.ndarray:
        """The bar still forming (position 0), for diagnostics only: (0,) or (1,) RATES_DTYPE."""
        forming = self._ask("copy_rates_from_pos", 0, 1)
        if forming is None:
            self._raise("copy_rates_from_pos(0, 1)")
        return forming

    # --- internals ---
    def _attach(self) -> None:
        if not self._attached:
            self._session.attach(self.settings, self.name)
            self._attached = True

    def _module(self) -> Any:
        self._attach()
        mt5, generation = self._session.module(self.name)
        self._mt5, self._seen = mt5, generation
        if generation != self._ready:  # a new connection: select the symbol and read maxbars (again)
            self._setup(mt5)
            self._ready = generation
        return mt5

    def _setup(self, mt5: Any) -> None:
        if not mt5.symbol_select(self.symbol, True):
            code, message = last_error(mt5)
            if code in IPC_CODES:
                self._raise("symbol_select", (code, message))
            raise ConfigError(f"symbol {self.symbol!r} is not available on this terminal"
                              f"{' (server ' + self.settings.server + ')' if self.settings.server else ''}: "
                              f"{message} ({code}); check the name as the terminal's Market Watch spells it")
        info = mt5.terminal_info()
        if info is None:
            self._raise("terminal_info")
        self._maxbars = int(info.maxbars)
        self._tf_code = int(getattr(mt5, f"TIMEFRAME_{self.timeframe.name}", self.timeframe.code))
        log.info("%s: connected (build %s, maxbars %d)", self.name, getattr(info, "build", "?"), self._maxbars)

    def _page_size(self) -> int:
        self._module()
        return max(1, min(self.settings.page_bars, self._maxbars))

    def _ask(self, function: str, *args: Any) -> np.ndarray | None:
        """The terminal's bars, or None for "no bars there (yet)" (-1/-4); any other failure raises."""
        mt5 = self._module()
        result = getattr(mt5, function)(self.symbol, self._tf_code, *args)
        if result is not None:
            return as_bars(result)
        error = last_error(mt5)
        if error[0] not in NO_DATA:
            self._raise(f"{function}({', '.join(map(str, args))})", error)
        return None

    def _settled(self, function: str, *args: Any, full: int | None = None, reaches: int | None = None,
                 since: int | None = None, before: int | None = None, what: str | None = None) -> np.ndarray | None:
        """The answer to `function(symbol, tf, *args)` once it can be believed: at once when it is complete (`full`
        bars, or a first bar less than one bar after `reaches`, where no older bar of the window fits), else when
        two answers in a row agree. `since`/`before` bound the bars asked for, for the error message."""
        answer: Any = _NOT_YET
        waited = 0.0
        for delay in (0.0, *SETTLE_DELAYS_S):
            if delay:
                self._sleep(delay)
                waited += delay
            again = self._ask(function, *args)
            if self._complete(again, full, reaches) or (answer is not _NOT_YET and _same(answer, again)):
                return again
            answer = again
        oldest = int(answer["time"][0]) if answer is not None and len(answer) else before
        span = (f"from {format_time(since) if since is not None else 'the first bar'} to "
                f"{format_time(oldest) if oldest is not None else 'the newest bar'}")
        what = what or f"{function}({', '.join(map(str, args))})"
        raise TemporaryError(f"{self.name}: {what}: the terminal was still loading "
                             f"history after {waited:g} s of retries (its answers kept changing); missing: bars "
                             f"{span}; retry in a minute")

    def _complete(self, answer: np.ndarray | None, full: int | None, reaches: int | None) -> bool:
        if answer is None or not len(answer):
            return False
        if full is not None:
            return len(answer) == full
        # Bar times lie at least one bar apart (a month: 28 days or more), so none fits between `reaches` and a first
        # bar closer to it than that.
        spacing = 28 * 86400 if self.timeframe.monthly else self.timeframe.seconds
        return reaches is not None and int(answer["time"][0]) - reaches < spacing

    def _page_back(self, want: int | None, after: int | None) -> np.ndarray:
        """Closed bars by position from 1 backwards, in pages that grow from _FIRST_PAGE, until `want` bars, a bar at
        or before `after`, or the oldest bar. A bar opening between two pages shifts positions by one: the overlap
        is dropped by time. A short page or "no bars" may be history still arriving: settled before believed."""
        cap = self._page_size()
        pieces: list[np.ndarray] = []
        pos, got, size = 1, 0, (want if want is not None else _FIRST_PAGE)
        while True:
            size = min(size, cap, self._maxbars - pos, *([want - got] if want is not None else []))
            if size <= 0:
                break
            page = self._settled("copy_rates_from_pos", pos, size, full=size, since=after,
                                 before=int(pieces[0]["time"][0]) if pieces else None)
            if page is None:
                if not pieces:  # nothing at all, twice: no history here yet (or a timeframe the feed lacks)
                    self._raise(f"copy_rates_from_pos({pos}, {size})")
                break  # past the oldest bar (what some builds answer there), said twice
            pieces.append(page)
            got, pos = got + len(page), pos + size
            if len(page) < size or (after is not None and page["time"][0] <= after):
                break
            size *= 8
        bars = _merge(pieces)
        if after is not None:
            bars = bars[bars["time"] > after]
        return bars[-want:] if want else bars

    def _checked(self, bars: np.ndarray) -> np.ndarray:
        result = check_bars(bars, source=self.name, policy=self.policy)
        self.dropped += result.bad
        return result.bars

    def _raise(self, what: str, error: tuple[int, str] | None = None) -> None:
        error = error if error is not None else last_error(self._mt5)
        raise_error(self.name, what, error, self.settings, self.symbol, self.timeframe)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Two answers to one request agree: both "nothing", or the same bars (by time: the forming bar's values move)."""
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and bool(np.array_equal(a["time"], b["time"]))


def _merge(pieces: list[np.ndarray]) -> np.ndarray:
    """Pages (any order, overlapping) -> (N,) bars sorted by time, one bar per time."""
    if not pieces:
        return empty_bars(0)
    bars = np.concatenate(pieces)
    _, first = np.unique(bars["time"], return_index=True)  # sorted unique times
    return bars[first]

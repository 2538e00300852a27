"""The MetaTrader 5 adapter: the only module that touches the `MetaTrader5` package or `rpyc`, both imported lazily.

One code path serves three connections, because the adapter only needs a "module-like" object:
- `Mt5Source.local(...)`: the official package in this process (Windows);
- `Mt5Source.rpyc(...)`: `mt5rpyc://host:port`, a terminal under Wine reached through an RPyC classic server (what
  mt5linux and mt5-remote run on the Windows-Python side); results come back by value, never as netrefs;
- `Mt5Source.from_module(sim, ...)`: any stand-in, such as mt5bridge.testing.mt5sim.

Only closed bars leave this module: position 0 (the forming bar) is never requested by position, and range
requests drop every bar at or after the forming bar's open time. Errors are sorted by what happens next:
IPC failures (-10000...-10005) and unexplained None results raise TemporaryError (call `reconnect()`, then retry);
bad credentials, unknown symbols and rejected parameters raise ConfigError naming the setting, symbol or timeframe.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import threading
import time
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import numpy as np

from ..errors import ConfigError, TemporaryError
from .bars import RATES_DTYPE, as_bars, empty_bars, format_time
from .timeframes import Timeframe, timeframe
from .validation import check_bars, check_policy

ENV_PASSWORD = "MT5BRIDGE_MT5_PASSWORD"
RPYC_SCHEME = "mt5rpyc"
DEFAULT_RPYC_PORT = 18812
IPC_CODES = range(-10005, -9999)  # RES_E_INTERNAL_FAIL_* : the terminal or its pipe is not answering
_AUTH_FAILED, _INVALID_PARAMS, _NO_MEMORY = -6, -2, -3
_NO_DATA = (-1, -4)  # "Call failed" / "Not found" for a window past the oldest bar: no bars there, not an error
_FIRST_PAGE = 16  # bars asked for first when catching up; pages grow x8 up to the page limit
log = logging.getLogger("mt5bridge.data")
Progress = Callable[[int, float | None], None]  # (bars so far, fraction done or None)


@dataclass(frozen=True, kw_only=True)
class Mt5Settings:
    """How to reach the terminal. Unset values are not passed to initialize(), so the terminal's own are used."""

    path: str | None = None  # terminal64.exe to start or attach to; None: the running/last used terminal
    login: int | None = None  # trading account number
    password: str | None = field(default=None, repr=False)  # or the MT5BRIDGE_MT5_PASSWORD environment variable
    server: str | None = None  # trade server name, as in the terminal's login dialog
    timeout_ms: int = 60_000  # initialize() timeout; also the RPyC request timeout
    portable: bool = False  # start the terminal in portable mode
    page_bars: int = 50_000  # most bars asked for in one request (also capped by terminal_info().maxbars)

    def __post_init__(self) -> None:
        if self.login is not None and (not isinstance(self.login, int) or self.login <= 0):
            raise ConfigError(f"mt5 login = {self.login!r} must be a positive account number")
        if self.timeout_ms <= 0 or self.page_bars < 1:
            raise ConfigError("mt5 timeout_ms and page_bars must be positive")

    def initialize_args(self) -> tuple[tuple, dict[str, Any]]:
        kwargs: dict[str, Any] = {"timeout": self.timeout_ms}
        password = self.password or os.environ.get(ENV_PASSWORD) or None
        for key, value in (("login", self.login), ("password", password), ("server", self.server)):
            if value is not None:
                kwargs[key] = value
        if self.portable:
            kwargs["portable"] = True
        return ((self.path,) if self.path else ()), kwargs


def parse_rpyc_spec(spec: str) -> tuple[str, int]:
    """'mt5rpyc://host:port' -> (host, port); the port defaults to 18812 (mt5linux's and RPyC classic's default)."""
    parts = urlsplit(spec)
    if parts.scheme != RPYC_SCHEME or not parts.hostname:
        raise ConfigError(f"bad RPyC source {spec!r}; expected {RPYC_SCHEME}://HOST:PORT")
    try:
        return parts.hostname, parts.port or DEFAULT_RPYC_PORT
    except ValueError:
        raise ConfigError(f"bad port in RPyC source {spec!r}") from None


class Mt5Source:
    """Closed bars of one symbol and timeframe from a MetaTrader 5 terminal (see the module docstring)."""

    def __init__(self, connector: "_Connector", symbol: str, tf: str | int | Timeframe,
                 settings: Mt5Settings | None = None, *, policy: str = "drop"):
        self.symbol, self.timeframe = symbol, timeframe(tf)
        self.settings = settings or Mt5Settings()
        self.policy = check_policy(policy)  # "drop": skip and log bad bars (live); "raise" for strict history pulls
        self.name = f"{connector.describe()} {symbol} {self.timeframe}"
        self._connector = connector
        self._mt5: Any = None
        self._tf_code = self.timeframe.code
        self._maxbars = 0
        self.dropped = 0  # bad bars skipped under the "drop" policy, since creation

    @classmethod
    def local(cls, symbol: str, tf: str | int | Timeframe, settings: Mt5Settings | None = None, **kw) -> "Mt5Source":
        return cls(_LocalConnector(), symbol, tf, settings, **kw)

    @classmethod
    def rpyc(cls, spec: str, symbol: str, tf: str | int | Timeframe, settings: Mt5Settings | None = None,
             **kw) -> "Mt5Source":
        host, port = parse_rpyc_spec(spec)
        settings = settings or Mt5Settings()
        return cls(_RpycConnector(host, port, settings.timeout_ms / 1000), symbol, tf, settings, **kw)

    @classmethod
    def from_module(cls, module: Any, symbol: str, tf: str | int | Timeframe, settings: Mt5Settings | None = None,
                    **kw) -> "Mt5Source":
        return cls(_ModuleConnector(module), symbol, tf, settings, **kw)

    # --- connection ---
    def connect(self) -> None:
        mt5 = self._connector.open()
        args, kwargs = self.settings.initialize_args()
        if not mt5.initialize(*args, **kwargs):
            self._raise(mt5, "initialize")
        if not mt5.symbol_select(self.symbol, True):
            code, message = _last_error(mt5)
            if code in IPC_CODES:
                self._raise(mt5, "symbol_select", (code, message))
            raise ConfigError(f"symbol {self.symbol!r} is not available on this terminal"
                              f"{' (server ' + self.settings.server + ')' if self.settings.server else ''}: "
                              f"{message} ({code}); check the name as the terminal's Market Watch spells it")
        info = mt5.terminal_info()
        if info is None:
            self._raise(mt5, "terminal_info")
        self._maxbars = int(info.maxbars)
        self._tf_code = int(getattr(mt5, f"TIMEFRAME_{self.timeframe.name}", self.timeframe.code))
        self._mt5 = mt5
        log.info("%s: connected (build %s, maxbars %d)", self.name, getattr(info, "build", "?"), self._maxbars)

    def reconnect(self) -> None:
        """shutdown() and initialize() again: what to do after a TemporaryError."""
        self.close()
        self.connect()

    def close(self) -> None:
        mt5, self._mt5 = self._mt5, None
        if mt5 is not None:
            try:
                mt5.shutdown()
            except Exception as exc:  # the terminal may already be gone; closing must not fail
                log.debug("%s: shutdown failed: %r", self.name, exc)
        self._connector.close()

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
        """Closed bars with start <= time < end (None: unbounded) via copy_rates_range, in windows of at most a page."""
        forming = self._rates("copy_rates_from_pos", 0, 1)
        if forming is None:
            self._raise(self._mt5, "copy_rates_from_pos(0, 1)")
        if not len(forming):
            return empty_bars(0)
        last = int(forming["time"][-1]) - 1 if end is None else min(int(end), int(forming["time"][-1])) - 1
        if start is None:
            bars = self._page_back(want=None, after=None)
            return self._checked(bars[bars["time"] <= last])
        spacing = 28 * 86400 if self.timeframe.monthly else self.timeframe.seconds
        window = max(1, self._page_size() - 1) * spacing
        pieces, a = [], int(start)
        while a <= last:
            b = min(a + window - 1, last)
            page = self._rates("copy_rates_range", a, b)
            if page is None:
                code, message = _last_error(self._mt5)
                if code not in _NO_DATA:
                    self._raise(self._mt5, f"copy_rates_range({format_time(a)}, {format_time(b)})", (code, message))
                page = empty_bars(0)  # a window with no history
            pieces.append(page)
            a = b + 1
            if progress:
                progress(sum(len(p) for p in pieces), min(1.0, (a - start) / max(1, last + 1 - start)))
        return self._checked(_merge(pieces))

    def forming_bar(self) -> np.ndarray:
        """The bar still forming (position 0), for diagnostics only: (0,) or (1,) RATES_DTYPE."""
        forming = self._rates("copy_rates_from_pos", 0, 1)
        if forming is None:
            self._raise(self._mt5, "copy_rates_from_pos(0, 1)")
        return forming

    # --- internals ---
    def _module(self) -> Any:
        if self._mt5 is None:
            self.connect()
        return self._mt5

    def _page_size(self) -> int:
        self._module()
        return max(1, min(self.settings.page_bars, self._maxbars))

    def _rates(self, function: str, *args: Any) -> np.ndarray | None:
        result = getattr(self._module(), function)(self.symbol, self._tf_code, *args)
        return None if result is None else as_bars(result)

    def _page_back(self, want: int | None, after: int | None) -> np.ndarray:
        """Closed bars by position from 1 backwards, in pages that grow from _FIRST_PAGE, until `want` bars, a bar at
        or before `after`, or the oldest bar. A bar opening between two pages shifts positions by one: the overlap
        is dropped by time."""
        cap = self._page_size()
        pieces: list[np.ndarray] = []
        pos, got, size = 1, 0, (want if want is not None else _FIRST_PAGE)
        while True:
            size = min(size, cap, self._maxbars - pos, *([want - got] if want is not None else []))
            if size <= 0:
                break
            page = self._rates("copy_rates_from_pos", pos, size)
            if page is None and pieces and _last_error(self._mt5)[0] in _NO_DATA:
                # Past the oldest bar the terminal may answer None instead of an empty array; a passing "call
                # failed" would look the same and leave a hole in a catch-up, so ask once more before believing it.
                page = self._rates("copy_rates_from_pos", pos, size)
                if page is None and _last_error(self._mt5)[0] in _NO_DATA:
                    break
            if page is None:
                self._raise(self._mt5, f"copy_rates_from_pos({pos}, {size})")
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

    def _raise(self, mt5: Any, what: str, error: tuple[int, str] | None = None) -> None:
        code, message = error if error is not None else _last_error(mt5)
        where = f"{self.name}: {what} failed: {message} ({code})"
        if code in IPC_CODES:
            hint = f" (terminal path {self.settings.path})" if what == "initialize" and self.settings.path else ""
            raise TemporaryError(f"{where}{hint}; the terminal is not answering, reconnect and retry")
        if code == _AUTH_FAILED:
            raise ConfigError(f"{where}: check the login ({self.settings.login}), the server "
                              f"({self.settings.server!r}) and the password (or ${ENV_PASSWORD})")
        if code == _INVALID_PARAMS:
            raise ConfigError(f"{where}: the terminal rejected symbol {self.symbol!r} / timeframe {self.timeframe} "
                              f"/ these arguments")
        if code == _NO_MEMORY:
            raise ConfigError(f"{where}: ask for fewer bars per request (page_bars = {self.settings.page_bars})")
        if what == "initialize" or code in (-5, -7, -8):
            raise ConfigError(f"{where}: check the terminal (path {self.settings.path!r}) and the MetaTrader5 package")
        raise TemporaryError(f"{where}; the terminal may still be loading history, retry")


def _last_error(mt5: Any) -> tuple[int, str]:
    error = mt5.last_error()
    if not isinstance(error, tuple) or len(error) != 2:
        return (0, f"no error code ({error!r})")
    return int(error[0]), str(error[1])


def _merge(pieces: list[np.ndarray]) -> np.ndarray:
    """Pages (any order, overlapping) -> (N,) bars sorted by time, one bar per time."""
    if not pieces:
        return empty_bars(0)
    bars = np.concatenate(pieces)
    _, first = np.unique(bars["time"], return_index=True)  # sorted unique times
    return bars[first]


# --- connectors: where the module-like object comes from ---
class _Connector:
    def open(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> str:
        raise NotImplementedError


class _ModuleConnector(_Connector):
    def __init__(self, module: Any):
        self.module = module

    def open(self) -> Any:
        return self.module

    def describe(self) -> str:
        return "mt5(module)"


class _LocalConnector(_Connector):
    def open(self) -> Any:
        try:
            return importlib.import_module("MetaTrader5")
        except ImportError:
            raise ConfigError("the MetaTrader5 package is not installed (it exists for Windows only); "
                              f"on Linux use a terminal under Wine through {RPYC_SCHEME}://HOST:PORT") from None

    def describe(self) -> str:
        return "mt5"


class _RpycConnector(_Connector):
    def __init__(self, host: str, port: int, timeout_s: float):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._conn: Any = None

    def describe(self) -> str:
        return f"{RPYC_SCHEME}://{self.host}:{self.port}"

    def open(self) -> Any:
        try:
            import rpyc
        except ImportError:
            raise ConfigError(f"{self.describe()} needs the rpyc package: pip install rpyc") from None
        self.close()
        try:
            conn = rpyc.classic.connect(self.host, self.port)
        except OSError as exc:
            raise TemporaryError(f"{self.describe()}: cannot connect to the RPyC server: {exc}") from None
        conn._config["sync_request_timeout"] = self.timeout_s  # rpyc.classic.connect takes no config argument
        self._conn = conn
        try:
            module = conn.modules.MetaTrader5
        except ImportError as exc:
            raise ConfigError(f"{self.describe()}: the server's Python cannot import MetaTrader5: {exc}") from None
        except (EOFError, OSError) as exc:
            raise TemporaryError(f"{self.describe()}: connection lost: {exc!r}") from None
        return _RemoteModule(module, self.describe())

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken
                pass


class _RemoteModule:
    """The remote MetaTrader5 module seen through RPyC; every result is copied here by value."""

    def __init__(self, module: Any, where: str):
        self._remote, self._where = module, where

    def __getattr__(self, name: str) -> Any:
        try:
            value = getattr(self._remote, name)
        except (EOFError, OSError) as exc:
            raise TemporaryError(f"{self._where}: connection lost: {exc!r}") from None
        if value is None or isinstance(value, (bool, int, float, str, bytes)):
            return value  # constants: brine already sent them by value
        return functools.partial(self._call, value, name)

    def _call(self, function: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return _by_value(function(*args, **kwargs))
        except (EOFError, OSError) as exc:  # OSError covers rpyc's AsyncResultTimeout (a TimeoutError)
            raise TemporaryError(f"{self._where}: {name}() failed: {exc!r}") from None


def _by_value(value: Any) -> Any:
    """A remote result -> a local copy: primitives and tuples as they are, numpy arrays as bytes per field,
    structures (TerminalInfo, ...) field by field; anything else through rpyc.classic.obtain."""
    from rpyc.core.netref import BaseNetref

    if not isinstance(value, BaseNetref):
        return tuple(_by_value(v) for v in value) if type(value) is tuple else value
    if hasattr(value, "dtype") and hasattr(value, "tobytes"):
        return _array_by_value(value)
    if hasattr(value, "_fields"):
        fields = tuple(str(f) for f in value._fields)
        cls = namedtuple(str(type(value).__name__).rsplit(".", 1)[-1], fields)  # type: ignore[misc]
        return cls(*(_by_value(getattr(value, f)) for f in fields))
    import rpyc

    return rpyc.classic.obtain(value)


def _array_by_value(remote: Any) -> np.ndarray:
    names = remote.dtype.names
    if names is None:
        dtype = np.dtype(str(remote.dtype.str))
        return np.frombuffer(bytes(remote.tobytes()), dtype=dtype).reshape(tuple(remote.shape)).copy()
    names = tuple(str(n) for n in names)
    dtype = np.dtype([(n, str(remote.dtype[n].str)) for n in names])
    out = np.empty(int(len(remote)), dtype=dtype)
    for n in names:
        out[n] = np.frombuffer(bytes(remote[n].tobytes()), dtype=dtype[n])
    return out if set(names) != set(RATES_DTYPE.names) else as_bars(out)


@contextlib.contextmanager
def rpyc_classic_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """An RPyC classic server in a background thread, like the one mt5linux runs beside a terminal under Wine;
    its clients import whatever `MetaTrader5` means in this process. For tests and demos. Yields the bound port."""
    import rpyc
    from rpyc.utils.server import ThreadedServer

    server = ThreadedServer(rpyc.classic.ClassicService, hostname=host, port=port)
    thread = threading.Thread(target=server.start, name="rpyc-classic", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.active and time.monotonic() < deadline:  # start() begins listening in the thread
        time.sleep(0.005)
    try:
        yield int(server.port)
    finally:
        server.close()
        thread.join(timeout=5)

"""The MetaTrader 5 adapter: the only module that touches the `MetaTrader5` package or `rpyc`, both imported lazily.

One code path serves three connections, because the adapter only needs a "module-like" object:
- `Mt5Source.local(...)`: the official package in this process (Windows);
- `Mt5Source.rpyc(...)`: `mt5rpyc://host:port`, a terminal under Wine reached through an RPyC classic server (what
  mt5linux and mt5-remote run on the Windows-Python side); results come back by value, never as netrefs, and
  nothing is ever unpickled;
- `Mt5Source.from_module(sim, ...)`: any stand-in, such as mt5bridge.testing.mt5sim.

The rest lives in modules free of foreign imports: mt5_source.py (closed bars, paging, history still loading),
mt5_session.py (settings, and the one terminal connection per process that all sources share), mt5_errors.py (what a
failure means: TemporaryError to retry, ConfigError to fix). They are re-exported here.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import threading
import time
from collections import namedtuple
from typing import Any, Iterator

import numpy as np

from ..errors import ConfigError, TemporaryError
from .bars import RATES_DTYPE, as_bars
from .mt5_errors import ENV_PASSWORD, IPC_CODES
from .mt5_session import DEFAULT_RPYC_PORT, RPYC_SCHEME, Connector, Mt5Settings, parse_rpyc_spec
from .mt5_source import Mt5Source

__all__ = ["DEFAULT_RPYC_PORT", "ENV_PASSWORD", "IPC_CODES", "RPYC_SCHEME", "LocalConnector", "Mt5Settings",
           "Mt5Source", "RpycConnector", "parse_rpyc_spec", "rpyc_classic_server", "rpyc_request_timeout_s"]

# The RPyC request timeout must be comfortably longer than the initialize() timeout: initialize() blocks on the
# server until the terminal's pipe answers, up to `timeout_ms`, and then returns -10003 "Pipe server didn't answer".
# A client that waits exactly as long races that answer: it gives up ("result expired") at the moment the terminal
# answers, and the server's initialize() may even succeed after the client gave up (mt5linux issues #22, #55). Range
# requests while the terminal downloads history are slow too. So: at least 300 s (mt5linux's own default request
# timeout) and at least twice the initialize timeout.
RPYC_MIN_REQUEST_TIMEOUT_S = 300.0
# The rpyc major version: client and server must share it. rpyc 6 changed the wire format (a message starts with
# its type byte, then brine(seq, args); rpyc 5 sends brine((type, seq, args)), whose first byte is brine's tuple tag
# 18), so an rpyc 5 server answers an rpyc 6 client with "invalid message type: 18" at connect.
RPYC_MAJOR = 6


def rpyc_request_timeout_s(settings: Mt5Settings) -> float:
    return max(RPYC_MIN_REQUEST_TIMEOUT_S, 2 * settings.timeout_ms / 1000)


# --- connectors: where the module-like object comes from ---
class LocalConnector(Connector):
    key = ("mt5",)

    def open(self, settings: Mt5Settings) -> Any:
        try:
            return importlib.import_module("MetaTrader5")
        except ImportError:
            raise ConfigError("the MetaTrader5 package is not installed (it exists for Windows only); "
                              f"on Linux use a terminal under Wine through {RPYC_SCHEME}://HOST:PORT") from None

    def describe(self) -> str:
        return "mt5"


class RpycConnector(Connector):
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.key = ("rpyc", host, port)
        self._conn: Any = None

    def describe(self) -> str:
        return f"{RPYC_SCHEME}://{self.host}:{self.port}"

    def open(self, settings: Mt5Settings) -> Any:
        try:
            import rpyc
        except ImportError:
            raise ConfigError(f"{self.describe()} needs the rpyc package: pip install rpyc") from None
        self.close()
        try:
            conn = rpyc.classic.connect(self.host, self.port)
        except ValueError as exc:
            _raise_if_version_mismatch(exc, self.describe())
            raise
        except (EOFError, OSError) as exc:
            raise TemporaryError(f"{self.describe()}: cannot connect to the RPyC server: {exc!r}") from None
        conn._config["sync_request_timeout"] = rpyc_request_timeout_s(settings)  # connect() takes no config
        self._conn = conn
        try:
            module = conn.modules.MetaTrader5
        except ImportError as exc:
            raise ConfigError(f"{self.describe()}: the server's Python cannot import MetaTrader5: {exc}") from None
        except (EOFError, OSError) as exc:
            raise TemporaryError(f"{self.describe()}: connection lost: {exc!r}") from None
        return _RemoteModule(module, conn, self.describe())

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken
                pass


def _raise_if_version_mismatch(exc: ValueError, where: str) -> None:
    if "invalid message type" not in str(exc):
        return
    import rpyc

    raise ConfigError(
        f"{where}: the RPyC server speaks another rpyc protocol ({exc}): client and server need the same rpyc major "
        f"version, and this side has rpyc {rpyc.__version__}. The server runs rpyc 5 (mt5linux 0.1.x pins "
        f"rpyc==5.2.3): in the Windows Python beside the terminal run "
        f"`python -m pip install \"rpyc>={RPYC_MAJOR},<{RPYC_MAJOR + 1}\"` and restart its RPyC server "
        f"(docs/DATA.md, \"Linux: a terminal under Wine over RPyC\")") from None


class _RemoteModule:
    """The remote MetaTrader5 module seen through RPyC; every result is copied here by value."""

    def __init__(self, module: Any, conn: Any, where: str):
        self._remote, self._conn, self._where = module, conn, where

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
            return _by_value(function(*args, **kwargs), self._conn)
        except ValueError as exc:
            _raise_if_version_mismatch(exc, self._where)
            raise
        except (EOFError, OSError) as exc:  # OSError covers rpyc's AsyncResultTimeout (a TimeoutError)
            raise TemporaryError(f"{self._where}: {name}() failed: {exc!r}") from None


def _by_value(value: Any, conn: Any) -> Any:
    """A remote result -> a local copy, never by pickling: primitives and tuples as they are, numpy arrays as bytes per
    field, the package's result structures field by field through their `_asdict()`.

    Those structures (TerminalInfo, AccountInfo, SymbolInfo, Tick, ...) are C struct sequences: tuples with
    `_asdict()` but no `_fields`, whose types live in no module, so pickling them fails ("Can't pickle <class
    'TerminalInfo'>: attribute lookup TerminalInfo on builtins failed", mt5linux issue #57) and
    rpyc.classic.obtain() cannot copy them."""
    from rpyc.core.netref import BaseNetref

    if not isinstance(value, BaseNetref):
        return tuple(_by_value(v, conn) for v in value) if type(value) is tuple else value
    if hasattr(value, "dtype") and hasattr(value, "tobytes"):
        return _array_by_value(value)
    if hasattr(value, "_asdict"):
        # One round trip: the remote tuple() of the dict's items comes back by value when the fields are plain.
        items = conn.modules.builtins.tuple(value._asdict().items())
        fields = tuple(str(k) for k, _ in items)
        return _record_type(str(type(value).__name__).rsplit(".", 1)[-1], fields)(
            *(_by_value(v, conn) for _, v in items))
    kind = str(type(value).__name__).rsplit(".", 1)[-1]
    if kind in ("tuple", "list"):
        return tuple(_by_value(v, conn) for v in value)
    raise TypeError(f"cannot copy a remote {kind} by value (and results are never unpickled)")


@functools.lru_cache(maxsize=64)
def _record_type(name: str, fields: tuple[str, ...]) -> type:
    """A local stand-in for a remote structure: a namedtuple of the same name and fields (attribute access,
    `_asdict()`, and `_fields` too)."""
    return namedtuple(name, fields)  # type: ignore[misc]


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

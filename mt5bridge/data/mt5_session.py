"""The terminal connection behind every Mt5Source: one per terminal per process, shared by all its sources.

The MetaTrader5 package holds ONE terminal connection per process: initialize() and shutdown() act on the whole
module, so a shutdown() made for one stream breaks every other stream's calls (mt5sim reproduces this). Sources
therefore never call them: every source of one target (`mt5`, `mt5rpyc://HOST:PORT`, or one module object) shares a
`Mt5Session`, which
- connects (initialize) lazily, for the first source that needs it, and again after a failed attempt;
- counts the sources attached to it: the close() of the last one shuts the connection down;
- numbers its connections (`generation`): a source whose call failed during connection g asks `reconnect(g)`, which
  is a no-op when another source has reconnected since, so one failure seen by N streams costs one
  shutdown/initialize, not N (each of which would break the connection the others had just made).
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from .mt5_errors import ENV_PASSWORD, last_error, raise_error

RPYC_SCHEME = "mt5rpyc"
DEFAULT_RPYC_PORT = 18812


@dataclass(frozen=True, kw_only=True)
class Mt5Settings:
    """How to reach the terminal. Unset values are not passed to initialize(), so the terminal's own are used."""

    path: str | None = None  # terminal64.exe to start or attach to; None: the running/last used terminal
    login: int | None = None  # trading account number
    password: str | None = field(default=None, repr=False)  # or the MT5BRIDGE_MT5_PASSWORD environment variable
    server: str | None = None  # trade server name, as in the terminal's login dialog
    timeout_ms: int = 60_000  # initialize() timeout; the RPyC request timeout is larger (mt5.rpyc_request_timeout_s)
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


class Connector:
    """Where the module-like object comes from. `key` names the terminal: sources with equal keys share a session."""

    key: tuple = ()

    def open(self, settings: Mt5Settings) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> str:
        raise NotImplementedError


class ModuleConnector(Connector):
    def __init__(self, module: Any):
        self.module = module
        self.key = ("module", id(module))  # the session keeps the module alive, so the id stays its own

    def open(self, settings: Mt5Settings) -> Any:
        return self.module

    def describe(self) -> str:
        return "mt5(module)"


def _identity(settings: Mt5Settings) -> tuple:
    """What initialize() is given: two sources of one terminal must agree on it (page_bars is per source)."""
    args, kwargs = settings.initialize_args()
    return args, tuple(sorted(kwargs.items()))


class Mt5Session:
    """One terminal connection, shared (see the module docstring). Thread-safe."""

    def __init__(self, connector: Connector):
        self.connector = connector
        self.settings = Mt5Settings()
        self.users = 0  # attached sources
        self.generation = 0  # +1 at every successful initialize()
        self._mt5: Any = None  # the initialized module, None while down
        self._lock = threading.RLock()

    @property
    def connected(self) -> bool:
        return self._mt5 is not None

    def attach(self, settings: Mt5Settings, name: str) -> None:
        with self._lock:
            if self.users and _identity(settings) != _identity(self.settings):
                raise ConfigError(
                    f"{name}: another source of this process uses {self.connector.describe()} with other connection "
                    f"settings (path, login, server, password, timeout_ms or portable); the MetaTrader5 package holds "
                    f"one terminal connection per process, so all sources of one terminal need the same ones")
            if not self.users:
                self.settings = settings
            self.users += 1

    def detach(self) -> None:
        """One source less; the last one shuts the connection down."""
        with self._lock:
            self.users = max(0, self.users - 1)
            if not self.users:
                self._drop()

    def module(self, name: str) -> tuple[Any, int]:
        """The initialized module and its generation, connecting first if the connection is down."""
        with self._lock:
            if self._mt5 is None:
                self._connect(name)
            return self._mt5, self.generation

    def reconnect(self, seen: int, name: str) -> None:
        """shutdown() and initialize() again, unless another source already did so after connection `seen` (the one
        the caller's failed call used) and the connection is up: then the caller simply uses the new one."""
        with self._lock:
            if self._mt5 is not None and self.generation != seen:
                return
            self._drop()
            self._connect(name)

    def _connect(self, name: str) -> None:
        mt5 = self.connector.open(self.settings)
        args, kwargs = self.settings.initialize_args()
        if not mt5.initialize(*args, **kwargs):
            raise_error(name, "initialize", last_error(mt5), self.settings)
        self._mt5 = mt5
        self.generation += 1

    def _drop(self) -> None:
        mt5, self._mt5 = self._mt5, None
        if mt5 is not None:
            try:
                mt5.shutdown()
            except Exception:  # the terminal or the link may already be gone; dropping must not fail
                pass
        self.connector.close()


# Weak values: a session lives as long as a source holds it, so sources dropped without close() leave nothing here.
_sessions: "weakref.WeakValueDictionary[tuple, Mt5Session]" = weakref.WeakValueDictionary()
_sessions_lock = threading.Lock()


def session_for(connector: Connector) -> Mt5Session:
    """The process' session for the connector's terminal (created on first use)."""
    with _sessions_lock:
        session = _sessions.get(connector.key)
        if session is None:
            session = Mt5Session(connector)
            _sessions[connector.key] = session
        return session

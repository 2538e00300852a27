"""The daemon's configuration: a TOML file, then `MT5BRIDGE__SECTION__KEY` environment overrides, validated at
start. Unknown keys and bad values stop the daemon with the key named (exit status 2).

Example (docs/DAEMON.md has every key):

    [source]
    spec = "mt5"                      # or mt5rpyc://HOST:18812, replay:FILE?speed=3600, a bar file
    [[streams]]
    symbol = "EURUSD"
    timeframe = "H1"
    model = "models/eurusd.npz"
    [publisher]
    endpoint = "tcp://127.0.0.1:5556"
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..config import read_toml, typed_kwargs
from ..drift import DRIFT_THRESHOLD
from ..errors import ConfigError

ENV_PREFIX = "MT5BRIDGE__"


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    spec: str = "mt5"  # mt5 | mt5rpyc://HOST:PORT | replay:PATH?speed=..&start=.. | a bar file
    path: str = ""  # mt5: terminal64.exe to start or attach to ("" = the running one)
    login: int = 0  # mt5: account number (0 = the terminal's current account)
    server: str = ""  # mt5: trade server
    password_env: str = "MT5BRIDGE_MT5_PASSWORD"  # mt5: the environment variable holding the password
    portable: bool = False
    timeout_ms: int = 60_000


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    symbol: str  # as the terminal spells it
    timeframe: str  # M1 ... MN1
    model: str  # model file (mt5bridge train)
    allow_timeframe_mismatch: bool = False  # run a model trained on another timeframe anyway (logged)


@dataclass(frozen=True, kw_only=True)
class PublisherConfig:
    endpoint: str = "tcp://127.0.0.1:5556"
    heartbeat_interval_s: float = 5.0  # wire heartbeats (topic mt5bridge/heartbeat)
    sndhwm: int = 10_000  # messages queued per subscriber before it starts losing them
    zmq_heartbeat_ms: int = 10_000  # ZMTP PING interval (0 = off)
    history: int = 256  # recent messages kept per topic for re-sends after gaps
    curve_secret_file: str = ""  # the daemon's key pair (.key_secret), required for non-loopback endpoints
    curve_clients_dir: str = ""  # folder of allowed subscribers' public keys (*.key)
    insecure_bind: bool = False  # allow a non-loopback endpoint without CURVE (loud warning)


@dataclass(frozen=True, kw_only=True)
class DaemonConfig:
    state_dir: str = "mt5bridge-state"  # per-stream state, written after every bar
    warmup_bars: int = 500  # bars that warm a stream's model state before it publishes (after the features' warm-up)
    poll_interval_s: float = 1.0  # how often sources are asked for newly closed bars (MT5 has no push)
    backoff_initial_s: float = 1.0  # first retry delay after a terminal error; doubles, jittered
    backoff_max_s: float = 60.0
    device: str = "auto"  # compute device (mt5bridge devices)
    max_bars: int = 0  # stop after this many published bars (0 = run until stopped; the demo sets it)
    drift_threshold: float = DRIFT_THRESHOLD  # input-drift score (share of inputs outside training range) that warns


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    port: int = 0  # Prometheus metrics on http://127.0.0.1:PORT/metrics; 0 = off
    host: str = "127.0.0.1"


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    source: SourceConfig = field(default_factory=SourceConfig)
    streams: tuple[StreamConfig, ...] = ()
    publisher: PublisherConfig = field(default_factory=PublisherConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    base_dir: Path = Path(".")  # relative paths in the file are relative to the file's folder

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    def validate(self) -> None:
        if not self.streams:
            raise ConfigError("streams: at least one [[streams]] table (symbol, timeframe, model) is needed")
        seen = set()
        for i, s in enumerate(self.streams):
            key = (s.symbol, s.timeframe)
            if key in seen:
                raise ConfigError(f"streams[{i}]: {s.symbol} {s.timeframe} is configured twice")
            seen.add(key)
            from ..data.timeframes import timeframe

            try:
                timeframe(s.timeframe)
            except ConfigError as exc:
                raise ConfigError(f"streams[{i}].timeframe: {exc}") from None
            if not self.path(s.model).is_file():
                raise ConfigError(f"streams[{i}].model: {self.path(s.model)} does not exist")
        d, p = self.daemon, self.publisher
        for key, ok in (("daemon.warmup_bars", d.warmup_bars >= 1), ("daemon.poll_interval_s", d.poll_interval_s > 0),
                        ("daemon.backoff_initial_s", d.backoff_initial_s > 0),
                        ("daemon.backoff_max_s", d.backoff_max_s >= d.backoff_initial_s),
                        ("daemon.max_bars", d.max_bars >= 0),
                        ("daemon.drift_threshold", 0 < d.drift_threshold <= 1),
                        ("publisher.heartbeat_interval_s", 0 < p.heartbeat_interval_s <= 86400),
                        ("publisher.sndhwm", p.sndhwm >= 1), ("publisher.history", p.history >= 1),
                        ("publisher.zmq_heartbeat_ms", p.zmq_heartbeat_ms >= 0),
                        ("metrics.port", 0 <= self.metrics.port < 65536)):
            if not ok:
                raise ConfigError(f"{key} has a bad value")
        if bool(p.curve_secret_file) != bool(p.curve_clients_dir):
            raise ConfigError("publisher.curve_secret_file and publisher.curve_clients_dir go together")


_SECTIONS = {"source": SourceConfig, "publisher": PublisherConfig, "daemon": DaemonConfig, "metrics": MetricsConfig}


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """MT5BRIDGE__PUBLISHER__ENDPOINT=tcp://... overrides [publisher] endpoint, typed like the default."""
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        if len(parts) != 2 or parts[0] not in _SECTIONS:
            raise ConfigError(f"environment {name}: use {ENV_PREFIX}SECTION__KEY with a section in {sorted(_SECTIONS)}")
        section, key = parts
        fields = {f.name: f for f in dataclasses.fields(_SECTIONS[section])}
        if key not in fields:
            raise ConfigError(f"environment {name}: [{section}] has no key {key!r}; known: {sorted(fields)}")
        default = getattr(_SECTIONS[section](), key)
        data.setdefault(section, {})[key] = _parse_env(text, default, name)


def _parse_env(text: str, default: Any, name: str) -> Any:
    try:
        if isinstance(default, bool):
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise ConfigError(f"environment {name}={text!r}: expected {type(default).__name__}") from None
    return text


def load_run_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> RunConfig:
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    base = Path(".")
    if path is not None:
        path = Path(path)
        data = read_toml(path)
        base = path.parent
    where = f"config file {path}" if path else "configuration"
    unknown = sorted(set(data) - set(_SECTIONS) - {"streams"})
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {unknown}; known: {sorted([*_SECTIONS, 'streams'])}")
    _apply_env(data, environ)
    kwargs: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: [{section}] must be a table")
        kwargs[section] = cls(**typed_kwargs(cls, table, f"{where}: [{section}]"))
    streams = data.get("streams", [])
    if not isinstance(streams, list):
        raise ConfigError(f"{where}: streams must be an array of tables ([[streams]])")
    parsed = []
    required = {"symbol", "timeframe", "model"}
    known = {f.name for f in dataclasses.fields(StreamConfig)}
    for i, table in enumerate(streams):
        if not isinstance(table, Mapping) or set(table) - known or required - set(table):
            got = sorted(table) if isinstance(table, Mapping) else repr(table)
            raise ConfigError(f"{where}: streams[{i}] needs the keys {sorted(required)} (optional: "
                              f"{sorted(known - required)}), got {got}")
        for key in required:
            if not isinstance(table[key], str) or not table[key]:
                raise ConfigError(f"{where}: streams[{i}].{key} must be a non-empty string")
        if not isinstance(table.get("allow_timeframe_mismatch", False), bool):
            raise ConfigError(f"{where}: streams[{i}].allow_timeframe_mismatch must be true or false")
        parsed.append(StreamConfig(**table))
    config = RunConfig(streams=tuple(parsed), base_dir=base, **kwargs)
    try:
        config.validate()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return config

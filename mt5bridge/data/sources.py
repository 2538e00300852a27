"""The source interface (what the daemon and `history` need from any bar source) and the non-terminal sources.

| method | returns |
|---|---|
| `closed_bars_after(t)` | all closed bars with time > t (None: all), oldest first: catch-up after a restart or
  reconnect |
| `last_closed_bars(n)` | the newest n closed bars: warm start |
| `closed_bars_range(start, end, progress=None)` | closed bars with start <= time < end: history pulls |
| `reconnect()` | after a TemporaryError: drop the connection and make a new one (no-op for files) |
| `close()` | release the connection |

Every method returns (N,) RATES_DTYPE arrays, checked (see validation.py). Sources carry `symbol`, `timeframe` and a
`name` for messages. Mt5Source (mt5.py) implements the same interface for a terminal.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError
from .bars import RATES_DTYPE, empty_bars
from .files import read_bars
from .timeframes import Timeframe, timeframe

Progress = Callable[[int, "float | None"], None]


@runtime_checkable
class BarSource(Protocol):
    symbol: str
    timeframe: Timeframe
    name: str

    def closed_bars_after(self, t: int | None) -> np.ndarray: ...

    def last_closed_bars(self, n: int) -> np.ndarray: ...

    def closed_bars_range(self, start: int | None, end: int | None, progress: Progress | None = None) -> np.ndarray:
        ...

    def reconnect(self) -> None: ...

    def close(self) -> None: ...


class ArraySource:
    """Closed bars held in memory; subclasses decide how many of them have closed so far (`_closed_count`)."""

    def __init__(self, bars: np.ndarray, tf: str | int | Timeframe, *, symbol: str = "", name: str = "bars"):
        self.bars = np.asarray(bars, dtype=RATES_DTYPE)  # (N,) all bars, checked
        self.dropped = 0  # bad bars skipped under the "drop" policy
        self.timeframe, self.symbol, self.name = timeframe(tf), symbol, name

    def _closed_count(self) -> int:
        return len(self.bars)

    def _closed(self) -> np.ndarray:
        return self.bars[: self._closed_count()]

    def closed_bars_after(self, t: int | None) -> np.ndarray:
        closed = self._closed()
        if t is None:
            return closed.copy()
        return closed[np.searchsorted(closed["time"], t, side="right") :].copy()

    def last_closed_bars(self, n: int) -> np.ndarray:
        closed = self._closed()
        return closed[max(0, len(closed) - n) :].copy() if n > 0 else empty_bars(0)

    def closed_bars_range(self, start: int | None, end: int | None, progress: Progress | None = None) -> np.ndarray:
        closed = self._closed()
        lo = 0 if start is None else np.searchsorted(closed["time"], start, side="left")
        hi = len(closed) if end is None else np.searchsorted(closed["time"], end, side="left")
        out = closed[lo:hi].copy()
        if progress:
            progress(len(out), 1.0)
        return out

    def reconnect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "ArraySource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class FileSource(ArraySource):
    """A bar file (any format in files.py). Every bar in a file counts as closed: a file exported from a terminal
    while the market was open ends with the bar that was still forming, so cut that one off before use."""

    def __init__(self, path: str | Path, tf: str | int | Timeframe, *, symbol: str = "", format: str | None = None,
                 policy: str = "raise"):
        loaded = read_bars(path, format=format, policy=policy)
        super().__init__(loaded.bars, tf, symbol=symbol, name=str(path))
        self.file, self.dropped = loaded, loaded.bad
        check_spacing(self.bars["time"], self.timeframe, self.name)


class ReplaySource(ArraySource):
    """A bar series played as a live terminal: `start` bars are closed at first, then one more closes every
    timeframe.seconds / speed seconds of `clock` (speed=3600: an H1 bar per second), plus one per `step()`.
    Pacing counts bars, not calendar time, so weekends do not stall a replay. speed=0: only step() moves it."""

    def __init__(self, bars: np.ndarray, tf: str | int | Timeframe, *, symbol: str = "", speed: float = 3600.0,
                 start: int = 0, clock: Callable[[], float] = time.monotonic, name: str = "replay"):
        super().__init__(bars, tf, symbol=symbol, name=name)
        if speed < 0 or start < 0:
            raise ConfigError(f"replay speed ({speed}) and start ({start}) must be >= 0")
        self.speed, self.start, self.clock = float(speed), int(start), clock
        self._t0 = clock()
        self._steps = 0

    @classmethod
    def from_file(cls, path: str | Path, tf: str | int | Timeframe, *, format: str | None = None,
                  policy: str = "raise", **kwargs: Any) -> "ReplaySource":
        source = FileSource(path, tf, format=format, policy=policy)
        kwargs.setdefault("name", f"replay:{path}")
        return cls(source.bars, tf, **kwargs)

    def step(self, n: int = 1) -> int:
        """Close n more bars now; returns the number of closed bars."""
        self._steps += n
        return self._closed_count()

    def _closed_count(self) -> int:
        by_clock = 0
        if self.speed > 0:
            by_clock = math.floor(max(0.0, self.clock() - self._t0) * self.speed / self.timeframe.seconds)
        return min(len(self.bars), self.start + self._steps + by_clock)

    @property
    def exhausted(self) -> bool:
        return self._closed_count() >= len(self.bars)

    @property
    def next_bar_time(self) -> int | None:
        """Open time of the next bar to close (the replay's "forming" bar), None at the end."""
        k = self._closed_count()
        return int(self.bars["time"][k]) if k < len(self.bars) else None


def check_spacing(times: np.ndarray, tf: Timeframe, name: str) -> None:
    """ConfigError when the bars' most common spacing is not the stated timeframe (e.g. H1 bars read as M5)."""
    if tf.monthly or len(times) < 3:
        return
    steps, counts = np.unique(np.diff(times), return_counts=True)
    common = int(steps[np.argmax(counts)])
    if common != tf.seconds:
        raise ConfigError(f"{name}: bars are mostly {common} s apart, but the timeframe {tf} means {tf.seconds} s")


def parse_replay_spec(spec: str) -> tuple[str, dict[str, str]]:
    """'replay:PATH[?speed=3600&start=500]' -> (PATH, {option: text}); PATH exactly as written.

    Not urlsplit: it reads the drive letter of C:\\data\\x.csv as a URL scheme (losing it) and cuts a path at '#',
    a legal file-name character. The options follow the last '?', unless what follows it holds a path separator:
    then the '?' is part of the path (Windows' long-path prefix \\\\?\\C:\\...; Windows file names cannot contain
    '?', so there is no other case there).
    """
    body = spec[len("replay:"):]
    path, sep, query = body.rpartition("?")
    if not sep or "\\" in query or "/" in query:
        path, query = body, ""
    if not path:
        raise ConfigError(f"source {spec!r} names no file; use replay:PATH?speed=3600&start=500")
    options = {}
    for item in query.split("&") if query else ():
        key, eq, value = item.partition("=")
        if not key or not eq:
            raise ConfigError(f"bad replay option {item!r} in {spec!r}; use replay:PATH?speed=3600&start=500")
        options[key] = value
    return path, options


def open_source(spec: str, symbol: str, tf: str | int | Timeframe, *, settings: Any = None,
                format: str | None = None, policy: str = "raise",
                clock: Callable[[], float] | None = None) -> BarSource:
    """A source from its spec: 'mt5', 'mt5rpyc://host:port', 'replay:PATH[?speed=3600&start=500]' or a file path.

    policy applies to files and history; terminal sources skip and log bad bars when policy is "drop".
    """
    if spec == "mt5" or spec.startswith("mt5rpyc://"):
        from .mt5 import Mt5Source

        if spec == "mt5":
            return Mt5Source.local(symbol, tf, settings, policy=policy)
        return Mt5Source.rpyc(spec, symbol, tf, settings, policy=policy)
    if spec.startswith("replay:"):
        path, query = parse_replay_spec(spec)
        try:
            speed, start = float(query.pop("speed", 3600)), int(query.pop("start", 0))
        except ValueError:
            raise ConfigError(f"bad replay option in {spec!r}") from None
        if query:
            raise ConfigError(f"unknown replay option(s) {sorted(query)} in {spec!r}; known: speed, start")
        return ReplaySource.from_file(path, tf, format=format, policy=policy, symbol=symbol, speed=speed,
                                      start=start, clock=clock or time.monotonic)
    if "://" in spec:
        raise ConfigError(f"unknown source {spec!r}; use mt5, mt5rpyc://HOST:PORT, replay:PATH or a file path")
    if not Path(spec).is_file():
        raise ConfigError(f"source {spec!r} is not a file (nor mt5, mt5rpyc://HOST:PORT, replay:PATH)")
    return FileSource(spec, tf, symbol=symbol, format=format, policy=policy)

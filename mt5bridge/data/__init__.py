"""Market data: the bar model, sources (MT5 terminal, RPyC bridge, files, replay), checks and gap reports.

Only `mt5bridge.data.mt5` touches the `MetaTrader5` package and `rpyc`, and only when a terminal source is opened,
so this package imports on any machine.
"""

from __future__ import annotations

from pathlib import Path

from .bars import RATES_DTYPE, as_bars, empty_bars, from_frame, to_frame
from .files import FORMATS, BarFile, read_bars, write_parquet
from .gaps import GapReport, gap_report
from .timeframes import TIMEFRAMES, Timeframe, timeframe
from .validation import POLICIES, CheckResult, Problem, check_bars

_SAMPLES = Path(__file__).with_name("samples")


def sample_path(name: str = "XAUUSD_H1_sample.csv.gz") -> Path:
    """A bundled sample file: the last 10,000 H1 bars of a CC0 XAUUSD history (MT4 format). See samples/README.md."""
    path = _SAMPLES / name
    if not path.is_file():
        known = sorted(p.name for p in _SAMPLES.glob("*.gz"))
        raise FileNotFoundError(f"no bundled sample {name!r}; bundled: {known}")
    return path


__all__ = [
    "FORMATS",
    "POLICIES",
    "RATES_DTYPE",
    "TIMEFRAMES",
    "BarFile",
    "CheckResult",
    "GapReport",
    "Problem",
    "Timeframe",
    "as_bars",
    "check_bars",
    "empty_bars",
    "from_frame",
    "gap_report",
    "read_bars",
    "sample_path",
    "timeframe",
    "to_frame",
    "write_parquet",
]

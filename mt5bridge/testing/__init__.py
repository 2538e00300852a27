"""Test doubles shipped with the package, so the daemon's tests and the demo can run without a terminal:
a faithful stand-in for the `MetaTrader5` module (mt5sim), injectable clocks, and an RPyC server wrapper that plays
the Windows/Wine side of the Linux bridge (rpyc_server; imports rpyc lazily)."""

from .clock import ManualClock, SpeedClock
from .mt5sim import Mt5Simulator, installed
from .synthetic import synthetic_bars

__all__ = ["ManualClock", "Mt5Simulator", "SpeedClock", "installed", "synthetic_bars"]

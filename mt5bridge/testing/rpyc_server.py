"""The Windows/Wine side of the Linux bridge, played by the simulator: an RPyC classic server (what mt5linux and
mt5-remote run next to the terminal) in this process, with `MetaTrader5` resolving to a simulator.

Run `python -m mt5bridge.testing.rpyc_server --port 18812` for a demo terminal that replays the bundled sample at
3600x (an H1 bar per second); connect with the source spec `mt5rpyc://127.0.0.1:18812`, symbol XAUUSD, timeframe H1.
Test and demo code only; the server itself lives in mt5bridge.data.mt5 (the module that owns rpyc). It listens on
loopback unless told otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Iterator

from .mt5sim import Mt5Simulator, installed


@contextlib.contextmanager
def serving(sim: Mt5Simulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """Serve `sim` as `MetaTrader5` over RPyC classic in a background thread; yields the bound port."""
    from ..data.mt5 import rpyc_classic_server  # the one module that imports rpyc

    with installed(sim), rpyc_classic_server(host, port) as bound:
        yield bound


def main() -> None:
    from ..data import read_bars, sample_path
    from .clock import SpeedClock

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18812)
    parser.add_argument("--bars", default=str(sample_path()), help="bar file to replay (default: bundled sample)")
    parser.add_argument("--symbol", default="XAUUSD")
    parser.add_argument("--timeframe", default="H1")
    parser.add_argument("--history", type=int, default=1000, help="bars already closed at start")
    parser.add_argument("--speed", type=float, default=3600.0, help="server seconds per real second")
    args = parser.parse_args()
    bars = read_bars(args.bars).bars
    start = int(bars["time"][min(args.history, len(bars) - 1)])
    sim = Mt5Simulator(clock=SpeedClock(start, args.speed))
    sim.add_bars(args.symbol, args.timeframe, bars)
    with serving(sim, args.host, args.port) as port:
        print(f"simulated terminal: mt5rpyc://{args.host}:{port} {args.symbol} {args.timeframe}; Ctrl+C stops")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

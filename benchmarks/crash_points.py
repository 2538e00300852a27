"""The crash-point run of tests/test_daemon_crash_points.py, longer: ROUNDS runs of two streams over HOURS bars, each
killed at random hook calls (between compute, state write and send, the first start included), restarted from its
state file, and checked on the wire and at the reference subscriber.

    python benchmarks/crash_points.py [--rounds 60] [--hours 24] [--kills 12] [--seed 0]

Prints per round the kill points and the verdict, then the totals: kill points, rounds lost / duplicated / with a
protocol violation (each must be 0). Results go into docs/DAEMON.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.daemon_support import train_tiny  # noqa: E402
from tests.test_daemon_crash_points import KillAt, _check, _run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="mt5bridge-crash-"))
    model = train_tiny(root / "tiny.npz")
    points: Counter[str] = Counter()
    failures = 0
    started = time.perf_counter()
    for round_ in range(args.rounds):
        calls = set(rng.sample(range(1, 4 * args.hours), args.kills))
        kill = KillAt(calls)
        h, _ = _run(root / f"round{round_}", model, kill, hours=args.hours)
        try:
            _check(h)
            verdict = "ok"
        except AssertionError as exc:
            failures += 1
            verdict = f"FAILED: {str(exc)[:300]}"
        finally:
            h.close()
        points.update(kill.points)
        print(f"round {round_}: {len(kill.points)} kills {dict(Counter(kill.points))}: {verdict}", flush=True)
    seconds = time.perf_counter() - started
    print(f"{args.rounds} rounds, {sum(points.values())} kill points ({dict(points)}), {failures} failed rounds "
          f"(lost, duplicated or violated), {seconds:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

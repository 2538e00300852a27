"""Injectable clocks: callables returning seconds. ManualClock moves only when told (tests replay hours of bars in
milliseconds); SpeedClock runs a fake server time at `speed` times real time (demos)."""

from __future__ import annotations

import threading
import time
from typing import Callable


class ManualClock:
    def __init__(self, start: float = 0.0):
        self._now = float(start)
        self._lock = threading.Lock()  # the RPyC server reads it from another thread

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            self._now = float(when)

    def sleep(self, seconds: float) -> None:
        """A drop-in for time.sleep in loops under test: advances instead of waiting."""
        self.advance(max(0.0, seconds))


class SpeedClock:
    """start + (elapsed real seconds) * speed. speed=3600 turns one real second into one hour."""

    def __init__(self, start: float, speed: float = 1.0, real: Callable[[], float] = time.monotonic):
        self.start, self.speed, self._real = float(start), float(speed), real
        self._t0 = real()

    def __call__(self) -> float:
        return self.start + (self._real() - self._t0) * self.speed

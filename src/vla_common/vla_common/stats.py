"""Rolling statistics for diagnostics and benchmarks (plain Python, no ROS)."""
from __future__ import annotations

import collections
import math

import numpy as np


class RollingWindow:
    """The last ``size`` samples of a quantity, with percentiles.

    One thread may add while another reads: reads work on a copy taken in one C call.
    """

    def __init__(self, size: int = 200) -> None:
        self._buf: collections.deque[float] = collections.deque(maxlen=size)

    def add(self, value: float) -> None:
        if math.isfinite(value):
            self._buf.append(float(value))

    def __len__(self) -> int:
        return len(self._buf)

    def values(self) -> np.ndarray:
        return np.array(list(self._buf), dtype=float)   # list(deque) copies atomically under the GIL

    def percentile(self, q: float) -> float:
        v = self.values()
        return float(np.percentile(v, q)) if v.size else math.nan

    def mean(self) -> float:
        v = self.values()
        return float(np.mean(v)) if v.size else math.nan


class RateMeter:
    """Measures the real rate of a periodic event from its timestamps (seconds)."""

    def __init__(self, size: int = 100) -> None:
        self._periods = RollingWindow(size)
        self.count = 0
        self._last: float | None = None

    def tick(self, now: float) -> None:
        self.count += 1
        if self._last is not None:
            self._periods.add(now - self._last)
        self._last = now

    @property
    def rate_hz(self) -> float:
        m = self._periods.mean()
        return 1.0 / m if m and math.isfinite(m) and m > 0 else 0.0

    @property
    def period_p99(self) -> float:
        return self._periods.percentile(99)

    def jitter_p99(self, target_period: float) -> float:
        """99th percentile of |period - target_period| over the window, s."""
        if not len(self._periods):
            return math.nan
        p = self._periods.values()
        return float(np.percentile(np.abs(p - target_period), 99))


def percentiles(values, qs=(50, 99)) -> dict[str, float]:
    """{'p50': ..., 'p99': ...} of ``values`` (NaN when empty)."""
    arr = np.asarray(list(values), dtype=float)
    return {f'p{q:g}': (float(np.percentile(arr, q)) if arr.size else math.nan) for q in qs}

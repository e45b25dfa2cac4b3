"""Pure helpers of the ROS node: real-time pacing and sensor schedules (the command timeout is
vla_common.command_timeout, shared with the Gazebo bringup).

No ROS and no clock reads: every function takes the times it needs, so each is unit-tested
without a node (STYLE: pass time in).
"""
from __future__ import annotations

import math


class RealTimePacer:
    """How many physics steps bring simulated time level with ``real_time_factor`` x wall time.

    When the CPU cannot keep up (more than ``max_lag`` s behind), the pacer gives up the
    backlog instead of running ever further behind, and counts it in ``slips``, as Gazebo does.
    """

    def __init__(self, timestep: float, real_time_factor: float = 1.0, max_lag: float = 0.25) -> None:
        if timestep <= 0 or real_time_factor <= 0 or max_lag <= 0:
            raise ValueError('RealTimePacer needs timestep > 0, real_time_factor > 0 and max_lag > 0')
        self.timestep = timestep
        self.real_time_factor = real_time_factor
        self.max_lag = max_lag
        self._wall0: float | None = None
        self._sim0 = 0.0
        self.slips = 0

    def restart(self, wall_now: float, sim_time: float) -> None:
        self._wall0, self._sim0 = wall_now, sim_time

    def set_real_time_factor(self, factor: float, wall_now: float, sim_time: float) -> None:
        if factor <= 0:
            raise ValueError(f'real_time_factor must be > 0, got {factor}')
        self.real_time_factor = factor
        self.restart(wall_now, sim_time)

    def steps_due(self, wall_now: float, sim_time: float) -> int:
        """Physics steps to take now (0 when simulated time is ahead)."""
        if self._wall0 is None:
            self.restart(wall_now, sim_time)
            return 0
        target = self._sim0 + (wall_now - self._wall0) * self.real_time_factor
        behind = target - sim_time
        if behind > self.max_lag * self.real_time_factor:
            self.slips += 1
            self.restart(wall_now - self.max_lag, sim_time)   # keep at most max_lag of backlog
            behind = self.max_lag * self.real_time_factor
        return max(0, int(math.floor(behind / self.timestep + 1e-9)))


class RateSchedule:
    """Fires at ``rate`` Hz of simulated time: ``due(t)`` is True once per period."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f'rate must be > 0 Hz, got {rate}')
        self.period = 1.0 / rate
        self._next = 0.0

    def reset(self, sim_time: float = 0.0) -> None:
        self._next = sim_time

    def due(self, sim_time: float) -> bool:
        if sim_time + 1e-9 < self._next:
            return False
        # next slot after now; skipped slots are dropped (a late sensor does not burst)
        self._next += self.period * max(1, math.floor((sim_time - self._next) / self.period + 1e-9) + 1)
        return True

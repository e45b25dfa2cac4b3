"""The base command a robot-side consumer applies: the newest twist, or zero once it is stale.

One rule for every consumer we ship (the embedded simulator node, the Gazebo bringup's relay),
the rule ros2_control's diff_drive_controller applies with ``cmd_vel_timeout``: when gated
commands stop (vla_safety killed, the network gone), the base stops by itself. Pure: the caller
passes the times.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TwistCommand:
    """The newest velocity command and when it arrived (wall time, s)."""

    vx: float = 0.0
    vy: float = 0.0
    wz: float = 0.0
    received: float = -math.inf

    def stale(self, wall_now: float, timeout: float) -> bool:
        """Older than ``timeout`` (0 = never stale); a command never received is stale."""
        return timeout > 0 and wall_now - self.received > timeout

    def current(self, wall_now: float, timeout: float) -> tuple[float, float, float]:
        """The command, or zero when it is stale."""
        if self.stale(wall_now, timeout):
            return 0.0, 0.0, 0.0
        return self.vx, self.vy, self.wz

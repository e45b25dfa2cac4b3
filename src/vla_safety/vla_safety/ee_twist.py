"""Gating of end-effector velocity proposals (pure Python, no ROS).

An embodiment with ``ee_twist`` targets (e.g. OpenVLA-style end-effector deltas) proposes a
6-D end-effector twist for a downstream servo (MoveIt Servo). The safety node passes it only
while the main gate lets the robot move; the linear and angular parts are each scaled as a
vector to their speed limit (direction kept); anything non-finite or absurd is refused.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

ZERO = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class EeLimits:
    """max_linear: |v| limit, m/s. max_angular: |w| limit, rad/s. out_of_range_factor: a value
    beyond this many times its limit is refused rather than scaled."""

    max_linear: float = 0.25
    max_angular: float = 1.0
    out_of_range_factor: float = 10.0

    def __post_init__(self) -> None:
        for name in ('max_linear', 'max_angular', 'out_of_range_factor'):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f'EeLimits.{name} must be a finite number >= 0, got {v!r}')


def gate_ee_twist(ee, blocked: bool, limits: EeLimits) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """(twist to send, reasons). ``ee``: the proposed (vx, vy, vz, wx, wy, wz) or None;
    ``blocked``: the main gate stopped the robot (STOP/ESTOP) -> zero."""
    if ee is None or blocked:
        return ZERO, ()
    try:
        v = [float(x) for x in ee]
    except (TypeError, ValueError):
        return ZERO, ('malformed_ee_twist',)
    if len(v) != 6:
        return ZERO, ('malformed_ee_twist',)
    if not all(math.isfinite(x) for x in v):
        return ZERO, ('non_finite_ee_twist',)
    lin, ang = math.hypot(*v[:3]), math.hypot(*v[3:])
    f = limits.out_of_range_factor
    if lin > f * max(limits.max_linear, 1e-9) or ang > f * max(limits.max_angular, 1e-9):
        return ZERO, ('out_of_range_ee_twist',)
    reasons = ()
    if lin > limits.max_linear:
        s = limits.max_linear / lin
        v[:3] = [x * s for x in v[:3]]
        reasons = ('ee_velocity_limited',)
    if ang > limits.max_angular:
        s = limits.max_angular / ang
        v[3:] = [x * s for x in v[3:]]
        reasons = ('ee_velocity_limited',)
    return tuple(v), reasons

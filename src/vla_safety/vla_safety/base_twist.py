"""Rules 3 to 8 of the gate (gate.py's doc): the base twist that goes out. No ROS imports.

    gate_base_twist(previous, proposed, move, estop, obstacles, params, dt) -> BaseCommand
        previous  the previous output (vx, vy, wz); proposed: the proposal's 6-D twist
        move      False when the base must stop (a full stop, or a required source is missing):
                  the twist then ramps to zero within the decel limits
    BaseCommand(twist (vx, vy, wz), reasons, stop: time to collision scaled the twist to 0)
    limit_axis(prev, target, accel, decel, dt) -> float     the acceleration rule, per axis
    fit(v, caps) -> (v, changed)                             the velocity rule
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .gate_types import Reason
from .obstacles import Obstacles
from .params import SafetyParams

_EPS = 1e-12
_STILL = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class BaseCommand:
    twist: tuple[float, float, float]    # vx m/s, vy m/s, wz rad/s
    reasons: tuple[str, ...] = ()
    stop: bool = False                   # time to collision scaled it to 0: a STOP, not a SLOWDOWN


def gate_base_twist(previous: Sequence[float], proposed: Sequence[float], move: bool, estop: bool,
                    obstacles: Obstacles, params: SafetyParams, dt: float) -> BaseCommand:
    """Limit (3), slow down (4), ramp (5), then the overrides that may stop at once (6-8)."""
    caps = (params.max_linear_x, params.max_linear_y, params.max_angular_z)
    desired, shaping = _target(proposed, obstacles, params, caps) if move else ([0.0, 0.0, 0.0], [])
    out = _ramp(previous, desired, params, dt)
    if any(abs(o - d) > _EPS for o, d in zip(out, desired)):
        shaping.append(Reason.ACCELERATION_LIMITED)
    out, reasons, shaped, stop = _override(out, desired, estop, obstacles, params)
    if shaped:
        reasons += shaping       # when an override zeroes the twist, the shaping did not shape it
    out, _ = fit(out, caps)      # a no-op unless the limits shrank while moving; velocity limits win
    vx, vy, wz = (v + 0.0 for v in out)   # no -0.0
    return BaseCommand((vx, vy, wz), tuple(reasons), stop)


def _target(proposed: Sequence[float], obstacles: Obstacles, params: SafetyParams,
            caps: tuple[float, float, float]) -> tuple[list[float], list[str]]:
    """Rules 3 and 4: the planar twist scaled to the velocity limits, and to the slowdown ratio of
    them in the SLOWDOWN zone; the reasons that shaped it."""
    vx, vy, vz, wx, wy, wz = proposed
    desired, clipped = fit([vx, vy, wz], caps)
    shaping = []
    if clipped or vz != 0.0 or wx != 0.0 or wy != 0.0:
        shaping.append(Reason.VELOCITY_LIMITED)
    if obstacles.in_slowdown and not obstacles.in_stop and any(desired):
        desired, _ = fit(desired, tuple(params.slowdown_ratio * c for c in caps))
        shaping.append(Reason.OBSTACLE_SLOWDOWN_ZONE)
    return desired, shaping


def _ramp(previous: Sequence[float], desired: Sequence[float], params: SafetyParams, dt: float) -> list[float]:
    """Rule 5: each axis moves towards the target within the accel / decel limits."""
    lin_a, lin_d = params.max_linear_accel, params.max_linear_decel
    ang_a, ang_d = params.max_angular_accel, params.max_angular_decel
    return [limit_axis(previous[0], desired[0], lin_a, lin_d, dt),
            limit_axis(previous[1], desired[1], lin_a, lin_d, dt),
            limit_axis(previous[2], desired[2], ang_a, ang_d, dt)]


def _override(out: list[float], desired: Sequence[float], estop: bool, obstacles: Obstacles,
              params: SafetyParams) -> tuple[list[float], list[str], bool, bool]:
    """Rules 6 to 8, which may slow down faster than the decel limits: the e-stop and the STOP zone
    zero the twist, time to collision scales it. (twist, reasons, shaping still stands, stop)."""
    shaped = True
    if estop:
        out, shaped = list(_STILL), False
    if obstacles.in_stop and (any(desired) or any(out)):
        return list(_STILL), [Reason.OBSTACLE_STOP_ZONE], False, False
    if obstacles.points is not None and params.time_to_collision > 0.0 and any(out):
        frac = params.footprint_shape.safe_fraction(
            obstacles.points, out[0], out[1], out[2], params.time_to_collision, params.collision_time_step,
            params.stop_margin, params.min_points)
        if frac < 1.0:
            return [v * frac for v in out], [Reason.TIME_TO_COLLISION], shaped, frac == 0.0
    return out, [], shaped, False


def limit_axis(prev: float, target: float, accel: float, decel: float, dt: float) -> float:
    """Move from ``prev`` towards ``target`` by at most accel*dt when speeding up and decel*dt
    when slowing down; a change of sign first comes to rest."""
    if prev * target < 0.0:
        target = 0.0
    step = (accel if abs(target) > abs(prev) else decel) * dt
    return min(max(target, prev - step), prev + step)


def fit(v: list[float], caps: tuple[float, float, float]) -> tuple[list[float], bool]:
    """Scale (vx, vy, wz) as a whole so |v_i| <= caps_i; axes with a 0 cap are zeroed."""
    changed = False
    scale = 1.0
    for i in range(3):
        if caps[i] <= 0.0:
            if v[i] != 0.0:
                v[i] = 0.0
                changed = True
        elif abs(v[i]) > caps[i]:
            scale = min(scale, caps[i] / abs(v[i]))
    if scale < 1.0:
        changed = True
        v = [min(max(x * scale, -c), c) for x, c in zip(v, caps)]
    return v, changed

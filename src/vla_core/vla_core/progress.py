"""Progress check: a policy whose base commands the base does not carry out is not in control.

Plain Python (no rclpy). Like navigation2's progress checker, but on what the policy proposes:
over the last ``window`` seconds of an instruction, the base motion the proposals asked for
(commanded) is set against the motion the odometry measured (made). Motion is travel in metres
plus ``TURN_RADIUS`` metres per radian turned, so a turn in place counts as well as a walk.

When the proposals asked for at least ``min_commanded`` metres and the base made less than
``min_fraction`` of it, the instruction has *stalled*: the base is blocked (vla_safety's stop zone
in front of an object, a lidar dropout, a wall) while the policy keeps pushing. For the next
``window`` seconds the runner gives the instruction's chunks confidence 0
(:class:`vla_core.runner.PolicyRunner`, refusal 'no_progress'): the proposal says the policy is not
doing what was asked, and vla_safety holds the robot. Then the record starts afresh and the policy
gets another window: a robot that was blocked walks on once the way is clear (as navigation2's
collision monitor lets it), and one that stays blocked stalls again.

    check = ProgressCheck(window=3.0, min_commanded=0.3, min_fraction=0.2)
    check.commanded(now, twist, dt)     # each control tick's proposed base twist
    check.measured(stamp, (x, y, yaw))   # each policy call's odometry
    stall = check.judge(now)            # a Stall (what was asked, what was made) or None
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

#: metres of motion per radian turned (about a humanoid base's half-width)
TURN_RADIUS = 0.3
#: defaults (RunnerConfig's and the node's): the window, s; the motion a window must ask for before
#: it is judged, m (0.1 m/s on average: a walk, not the creep of a policy that has arrived); and
#: the fraction of it below which the base has stalled
WINDOW, MIN_COMMANDED, MIN_FRACTION = 3.0, 0.3, 0.2


def motion(travel: float, turn: float) -> float:
    """Base motion in metres: ``travel`` m plus ``turn`` rad x :data:`TURN_RADIUS`."""
    return abs(travel) + TURN_RADIUS * abs(turn)


@dataclass(frozen=True)
class Stall:
    """Over ``window`` s the proposals asked for ``commanded`` m of motion; the base made ``made`` m."""

    window: float
    commanded: float
    made: float

    def describe(self) -> str:
        return (f'no progress: in {self.window:.1f} s the proposals asked for {self.commanded:.2f} m of base '
                f'motion (turns at {TURN_RADIUS} m/rad), the odometry measured {self.made:.2f} m')


class ProgressCheck:
    """One instruction's record of commanded and measured base motion; see the module docstring.
    ``window`` 0 turns the check off."""

    def __init__(self, window: float = WINDOW, min_commanded: float = MIN_COMMANDED,
                 min_fraction: float = MIN_FRACTION) -> None:
        self.window = float(window)
        self.min_commanded = float(min_commanded)
        self.min_fraction = float(min_fraction)
        self._commanded: deque = deque()      # (stamp, motion m) per tick
        self._poses: deque = deque()          # (stamp, x, y, yaw) per measurement
        self._start: float | None = None
        self._stall: Stall | None = None
        self._held_until = -math.inf

    def reset(self, now: float) -> None:
        """A new instruction at ``now`` (or a new window after a stall): forget the record."""
        self._commanded.clear()
        self._poses.clear()
        self._start = float(now)
        self._stall, self._held_until = None, -math.inf

    @property
    def held(self) -> Stall | None:
        """The stall the newest :meth:`judge` held the instruction for, else None."""
        return self._stall

    def judge(self, now: float) -> Stall | None:
        """The stall that holds the instruction at ``now``, else None: a stall found now
        (:meth:`stall`) holds it for ``window`` s, after which the record starts afresh."""
        if self._stall is not None:
            if now < self._held_until - 1e-9:
                return self._stall
            self.reset(self._held_until)
        stall = self.stall(now)
        if stall is not None:
            self._stall, self._held_until = stall, now + self.window
        return stall

    def commanded(self, now: float, twist, dt: float) -> None:
        """The base twist (vx, vy, vz, wx, wy, wz) proposed for the ``dt`` s up to ``now``."""
        if self.window <= 0 or dt <= 0:
            return
        travel = math.hypot(float(twist[0]), float(twist[1])) * dt
        value = motion(travel, float(twist[5]) * dt)
        if math.isfinite(value):
            self._commanded.append((float(now), value))
            self._trim(now)

    def measured(self, stamp: float, pose) -> None:
        """The base pose x, y, yaw measured at ``stamp`` (None: nothing measured, nothing recorded)."""
        if self.window <= 0 or pose is None:
            return
        x, y, yaw = (float(v) for v in pose)
        if not all(math.isfinite(v) for v in (x, y, yaw)):
            return
        if self._poses and stamp < self._poses[-1][0]:
            return                                 # out of order: keep the record monotonic
        self._poses.append((float(stamp), x, y, yaw))
        self._trim(stamp)

    def _trim(self, now: float) -> None:
        horizon = now - self.window - 1.0          # keep a second more than the window
        while self._commanded and self._commanded[0][0] < horizon:
            self._commanded.popleft()
        while len(self._poses) > 2 and self._poses[1][0] < horizon:
            self._poses.popleft()

    def stall(self, now: float) -> Stall | None:
        """The record's verdict (no holding, see :meth:`judge`): a Stall when, over the window up to ``now``, the base made less than ``min_fraction`` of
        at least ``min_commanded`` m asked for; None otherwise, or before a window of record."""
        if self.window <= 0 or self._start is None or now - self._start < self.window - 1e-9:
            return None
        since = now - self.window
        poses = [p for p in self._poses if p[0] >= since - 1e-9]
        if len(poses) < 2 or poses[-1][0] - poses[0][0] < 0.8 * self.window:
            return None                            # odometry too sparse to judge
        t0, t1 = poses[0][0], poses[-1][0]
        asked = sum(m for t, m in self._commanded if t0 < t <= t1 + 1e-9)
        if asked < self.min_commanded:
            return None
        made = 0.0
        for (_, x0, y0, a0), (_, x1, y1, a1) in zip(poses, poses[1:]):
            turn = math.remainder(a1 - a0, math.tau)
            made += motion(math.hypot(x1 - x0, y1 - y0), turn)
        if made >= self.min_fraction * asked:
            return None
        return Stall(t1 - t0, asked, made)

"""Tasks: an instruction, a success predicate on the simulator's true state, and a time limit.

Each task kind lives in :data:`TASKS` under its name and makes :class:`Task`s for a world
(:meth:`TaskKind.sample` picks the target object and one of the instruction's phrasings from
a seed). A :class:`SuccessCheck` is fed the :class:`~vla_sim.sim.SimState` once per control
step and says whether the task is accomplished; checks that need a condition to *hold*
(a turn that has stopped, an arm kept up) say so in ``hold``.

    world = sim.reset(seed=4)
    task = make_task('walk_to', world, seed=4)      # e.g. "walk to the red box"
    check = task.new_check(); check.reset(sim.state())
    ... each control step: if check.update(sim.state()): success
"""
from __future__ import annotations

import abc
import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from vla_sim.sim import COMMANDED_JOINTS, SimState
from vla_sim.world import World


class SuccessCheck(abc.ABC):
    """Success predicate over a sequence of states. ``hold``: seconds the condition must last."""

    hold: float = 0.0

    def reset(self, state: SimState) -> None:
        """Remember the start of the episode (base pose, time...)."""
        self._since: float | None = None
        self.start = state

    @abc.abstractmethod
    def condition(self, state: SimState) -> bool:
        """Whether the goal is met in ``state`` (may update internal history)."""

    def update(self, state: SimState) -> bool:
        """Feed the next state; True once the condition has held for ``hold`` seconds."""
        if not self.condition(state):
            self._since = None
            return False
        if self._since is None:
            self._since = state.time
        return state.time - self._since >= self.hold - 1e-9


@dataclass(frozen=True)
class Task:
    """One thing to do. ``target``: the object the instruction names (walk_to, look_at).

    ``initial_twist``: the base already moves like this at the start (the 'stop' task).
    ``initial_joints``: (joint, rad) pairs of the start posture over the rest pose, e.g. an arm
    still raised from the previous command.
    """

    name: str
    instruction: str
    time_limit: float
    target: str | None = None
    initial_twist: tuple[float, float, float] = (0.0, 0.0, 0.0)
    initial_joints: tuple[tuple[str, float], ...] = ()
    params: dict = field(default_factory=dict, compare=False)

    def new_check(self) -> SuccessCheck:
        return TASKS[self.name].make_check(self)

    def new_keep_check(self) -> SuccessCheck:
        """Whether the state the task reached is kept, fed the states after its success (reset
        at the success): :meth:`TaskKind.make_keep_check`."""
        return TASKS[self.name].make_keep_check(self)


class TaskKind(abc.ABC):
    """A family of tasks: a name, phrasings, a time limit, and how success is judged."""

    name: str = ''
    templates: tuple[str, ...] = ()
    time_limit: float = 10.0
    description: str = ''

    def sample(self, world: World, rng: np.random.Generator) -> Task:
        return Task(self.name, str(rng.choice(self.templates)), self.time_limit)

    @abc.abstractmethod
    def make_check(self, task: Task) -> SuccessCheck:
        """A fresh success predicate for ``task``."""

    def make_keep_check(self, task: Task) -> SuccessCheck:
        """After the success, until the next command: the task's state is kept when this check,
        reset at the success, is true at the end. The success predicate again by default (still
        near the object, still looking at it, the arm still up, still at rest); a turn stays where
        it ended, a wave is still swinging (a reversal in the last 2 s)."""
        return self.make_check(task)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


# -- walk to -------------------------------------------------------------------------------------
class _WalkToCheck(SuccessCheck):
    def __init__(self, target: str, max_distance: float, max_bearing: float) -> None:
        self.target, self.max_distance, self.max_bearing = target, max_distance, max_bearing

    def condition(self, s: SimState) -> bool:
        o = s.world.get(self.target)
        return (o.surface_distance(s.base_pose[:2]) <= self.max_distance
                and abs(s.bearing(o.position)) <= self.max_bearing)


class WalkTo(TaskKind):
    name = 'walk_to'
    templates = ('walk to the {obj}', 'go to the {obj}', 'move to the {obj}', 'approach the {obj}')
    time_limit = 30.0
    description = 'end with base_footprint within 0.6 m of the object and facing it (within 0.5 rad)'
    max_distance = 0.6
    max_bearing = 0.5

    def sample(self, world: World, rng: np.random.Generator) -> Task:
        if not world.objects:
            raise ValueError("walk_to needs a world with objects; this one has none")
        o = world.objects[int(rng.integers(len(world.objects)))]
        return Task(self.name, str(rng.choice(self.templates)).format(obj=o.label), self.time_limit, target=o.name)

    def make_check(self, task: Task) -> SuccessCheck:
        return _WalkToCheck(task.target, self.max_distance, self.max_bearing)


# -- turn ----------------------------------------------------------------------------------------
class _TurnCheck(SuccessCheck):
    hold = 0.3

    def __init__(self, goal: float, tolerance: float, max_drift: float) -> None:
        self.goal, self.tolerance, self.max_drift = goal, tolerance, max_drift

    def reset(self, state: SimState) -> None:
        super().reset(state)
        self.turned = 0.0
        self._last = float(state.base_pose[2])

    def condition(self, s: SimState) -> bool:
        yaw = float(s.base_pose[2])
        self.turned += _wrap(yaw - self._last)
        self._last = yaw
        drift = float(np.linalg.norm(s.base_pose[:2] - self.start.base_pose[:2]))
        return (abs(self.turned - self.goal) <= self.tolerance and abs(s.base_twist[2]) < 0.1
                and drift <= self.max_drift)


class Turn(TaskKind):
    time_limit = 6.0

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self.name = f'turn_{direction}'
        self.templates = (f'turn {direction}', f'turn to your {direction}', f'rotate {direction}',
                          f'turn {direction} 90 degrees')
        self.description = (f'turn {"counter-" if direction == "left" else ""}clockwise by 90 deg +- 20 deg, '
                            'come to rest (|wz| < 0.1 rad/s) within 0.3 m of the start, hold 0.3 s')

    def make_check(self, task: Task) -> SuccessCheck:
        return _TurnCheck(math.pi / 2 * (1 if self.direction == 'left' else -1), math.radians(20), 0.3)

    def make_keep_check(self, task: Task) -> SuccessCheck:
        return _TurnCheck(0.0, math.radians(20), 0.3)      # no further turn from where it ended, at rest


# -- raise arms --------------------------------------------------------------------------------
def _arm_up(s: SimState, side: str) -> bool:
    """Hand above the top of the head."""
    return s.hands[side][2] >= s.head_top[2] + 0.05


def _arm_down(s: SimState, side: str) -> bool:
    """Hand below its shoulder."""
    return s.hands[side][2] < s.shoulders[side][2]


class _RaiseCheck(SuccessCheck):
    hold = 0.3

    def __init__(self, up: tuple[str, ...]) -> None:
        self.up = up

    def condition(self, s: SimState) -> bool:
        return (all(_arm_up(s, side) for side in self.up)
                and all(_arm_down(s, side) for side in ('left', 'right') if side not in self.up))


class RaiseArms(TaskKind):
    time_limit = 5.0

    def __init__(self, which: str) -> None:
        self.which = which
        if which == 'both':
            self.name = 'raise_both_arms'
            self.templates = ('raise both arms', 'raise both your arms', 'put both hands up', 'hands up')
            self.description = 'both hands 5 cm above the top of the head, held 0.3 s'
        else:
            self.name = f'raise_{which}_arm'
            self.templates = (f'raise your {which} arm', f'lift your {which} arm', f'put your {which} hand up',
                              f'raise the {which} arm')
            other = 'right' if which == 'left' else 'left'
            self.description = (f'{which} hand 5 cm above the top of the head and {other} hand below its '
                                'shoulder, held 0.3 s')

    def make_check(self, task: Task) -> SuccessCheck:
        return _RaiseCheck(('left', 'right') if self.which == 'both' else (self.which,))


# -- wave ----------------------------------------------------------------------------------------
class _WaveCheck(SuccessCheck):
    """Counts side-to-side reversals of a raised hand (base-frame y, with hysteresis)."""

    def __init__(self, reversals: int, amplitude: float) -> None:
        self.reversals, self.amplitude = reversals, amplitude

    def reset(self, state: SimState) -> None:
        super().reset(state)
        self.count = {'left': 0, 'right': 0}
        self._extreme: dict[str, float | None] = {'left': None, 'right': None}
        self._dir = {'left': 0, 'right': 0}

    def condition(self, s: SimState) -> bool:
        for side in ('left', 'right'):
            raised = s.hands[side][2] >= s.shoulders[side][2] + 0.15
            if not raised:
                self.count[side], self._extreme[side], self._dir[side] = 0, None, 0
                continue
            y = float(s.to_base(s.hands[side])[1])
            ext = self._extreme[side]
            if ext is None:
                self._extreme[side] = y
                continue
            d = self._dir[side]
            if d == 0:                                      # ext is where the hand was raised
                if abs(y - ext) >= self.amplitude:
                    self._dir[side], self._extreme[side] = (1 if y > ext else -1), y
            elif d * (y - ext) > 0:
                self._extreme[side] = y                     # still swinging the same way
            elif abs(y - ext) >= self.amplitude:
                self.count[side] += 1                       # swung back by a full amplitude
                self._dir[side], self._extreme[side] = -d, y
        return max(self.count.values()) >= self.reversals


class _StillWavingCheck(_WaveCheck):
    """A wave still going on: the hand raised and its last reversal at most ``within`` s ago."""

    def __init__(self, amplitude: float, within: float) -> None:
        super().__init__(reversals=1, amplitude=amplitude)
        self.within = within

    def reset(self, state: SimState) -> None:
        super().reset(state)
        self._last_reversal = -math.inf

    def condition(self, s: SimState) -> bool:
        before = sum(self.count.values())
        super().condition(s)
        if sum(self.count.values()) > before:
            self._last_reversal = s.time
        raised = any(s.hands[side][2] >= s.shoulders[side][2] + 0.15 for side in ('left', 'right'))
        return raised and s.time - self._last_reversal <= self.within


class Wave(TaskKind):
    name = 'wave'
    templates = ('wave', 'wave your hand', 'wave hello', 'wave at me')
    time_limit = 10.0
    description = ('a hand raised 15 cm above its shoulder swings side to side: a first swing, then 4 reversals, '
                   'each of >= 10 cm')

    def make_check(self, task: Task) -> SuccessCheck:
        return _WaveCheck(reversals=4, amplitude=0.10)

    def make_keep_check(self, task: Task) -> SuccessCheck:
        return _StillWavingCheck(amplitude=0.10, within=2.0)    # still swinging: a reversal in the last 2 s


# -- look at -------------------------------------------------------------------------------------
class _LookAtCheck(SuccessCheck):
    hold = 0.3

    def __init__(self, target: str, max_angle: float) -> None:
        self.target, self.max_angle = target, max_angle

    def condition(self, s: SimState) -> bool:
        return look_error(s, self.target) <= self.max_angle


def look_error(s: SimState, target: str) -> float:
    """Angle (rad) between the camera's optical axis and the direction to the object's centre."""
    v = s.world.get(target).position - s.camera_position
    v = v / np.linalg.norm(v)
    return float(math.acos(max(-1.0, min(1.0, float(v @ s.camera_rotation[:, 2])))))


class LookAt(TaskKind):
    name = 'look_at'
    templates = ('look at the {obj}', 'look toward the {obj}', 'turn your head to the {obj}',
                 'point your camera at the {obj}')
    time_limit = 8.0
    description = "object's centre within 0.12 rad (7 deg) of the camera's optical axis, held 0.3 s"
    max_angle = 0.12

    def sample(self, world: World, rng: np.random.Generator) -> Task:
        if not world.objects:
            raise ValueError("look_at needs a world with objects; this one has none")
        o = world.objects[int(rng.integers(len(world.objects)))]
        return Task(self.name, str(rng.choice(self.templates)).format(obj=o.label), self.time_limit, target=o.name)

    def make_check(self, task: Task) -> SuccessCheck:
        return _LookAtCheck(task.target, self.max_angle)


# -- stop ----------------------------------------------------------------------------------------
class _StopCheck(SuccessCheck):
    hold = 1.0

    def condition(self, s: SimState) -> bool:
        return (float(np.hypot(*s.base_twist[:2])) < 0.02 and abs(s.base_twist[2]) < 0.05
                and all(abs(s.joint_velocities[j]) < 0.05 for j in COMMANDED_JOINTS))


class Stop(TaskKind):
    name = 'stop'
    templates = ('stop', 'stop moving', 'halt', 'freeze')
    time_limit = 4.0
    description = 'starting while walking: base and commanded joints at rest (< 2 cm/s, < 0.05 rad/s) for 1 s'

    def sample(self, world: World, rng: np.random.Generator) -> Task:
        twist = (float(rng.uniform(0.2, 0.5)), float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.6, 0.6)))
        return Task(self.name, str(rng.choice(self.templates)), self.time_limit, initial_twist=twist)

    def make_check(self, task: Task) -> SuccessCheck:
        return _StopCheck()


TASKS: dict[str, TaskKind] = {k.name: k for k in (
    WalkTo(), Turn('left'), Turn('right'), RaiseArms('left'), RaiseArms('right'), RaiseArms('both'),
    Wave(), LookAt(), Stop())}


def task_names() -> list[str]:
    return list(TASKS)


def make_task(name: str, world: World, seed: int | None = None) -> Task:
    """A task of kind ``name`` for ``world``; ``seed`` picks the target object and the phrasing."""
    kind = TASKS.get(name)
    if kind is None:
        raise ValueError(f"unknown task '{name}'; tasks: {', '.join(TASKS)}")
    rng = np.random.default_rng(None if seed is None else [seed, zlib.crc32(name.encode())])
    return kind.sample(world, rng)

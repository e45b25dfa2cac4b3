"""Acceptance figures of a safety stop, from time series: the pure core of the scenario benchmark.

No ROS, no simulator: the benchmark records one :class:`Sample` per look at the simulator's
true state and hands the series to :func:`score`. Like nav2's collision-monitor acceptance on
replayed bags, but judged from the true state of a closed-loop simulation.

Each sample says what was required at that instant:

* ``limit``: the speed the base must be under (0 = stopped), or None when nothing is required;
* ``move``: the base should be moving (it is commanded to, and nothing justifies a stop);
  neither is set in the "don't care" bands (an obstacle near the path, where slowing down or
  stopping is the gate's choice; the time between a fault and the moment a stop becomes due).

Figures (``STOPPED_BELOW`` = 0.02 m/s is "stopped", anything faster "moving"):

time to stop     at the command level, as nav2 measures its collision monitor: per requirement
                 episode (a run of samples with the same ``limit``), from its first sample
                 until the command in force on cmd_vel (the newest one the gate published)
                 first complies (commanded speed <= limit + STOPPED_BELOW); 0 if the command
                 in force already did; inf if none does within the episode. Only with
                 ``commands``, and only for episodes whose first sample has ``command_level``
                 (not where no gate can command the stop, e.g. it was killed and the base's
                 own cmd_vel timeout must). The acceptance target applies to this one.
time to still    the physical one beside it: per requirement episode, from its first sample
                 until the base's true speed first complies (speed <= limit + STOPPED_BELOW);
                 inf if it never does within the episode. It adds the base's response to the
                 command (in the scenario benchmark about 0.1 s from 0.25 m/s, delivery to the
                 simulator included) and the sampling. The worst episode is reported for both.
stopped share    share of required time (time-weighted) that the speed complied, not counting
                 the first ``stop_allowance`` s of each episode (that part is scored by time to
                 stop); 1.0 when nothing was required long enough.
time to resume   per move episode but the first (the run's start): motion is expected again
                 (the obstacle left, the sensor came back, the fresh command after an e-stop
                 reset or a node restart was sent); from its first sample until the base
                 moves; 0 if it never stopped.
false stops      share of move time (time-weighted) that the base was stopped, not counting the
                 first ``resume_allowance`` s of each move episode (scored by time to resume).
contacts         number of times a contact with the robot began; which objects.
min clearance    the smallest true distance between the robot's footprint and an obstacle, m.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

#: a base slower than this (m/s, planar) is stopped; at or above it, it moves
STOPPED_BELOW = 0.02


@dataclass(frozen=True)
class Targets:
    """Acceptance targets (issue #14): stricter than nav2's collision monitor (0.6 s, 90 %, 0.6 s, 5 %)."""

    time_to_stop: float = 0.3        # s, at most
    stopped_share: float = 0.99      # at least
    time_to_resume: float = 0.6      # s, at most
    false_stops: float = 0.02        # at most
    contacts: int = 0                # at most
    #: vla_safety SIGKILLed while walking: the base still within this (s) ...
    still_after_safety_kill: float = 0.5
    #: ... and zero commands on cmd_vel again within this (s)
    zeros_again_after_safety_kill: float = 3.0


@dataclass(frozen=True)
class Sample:
    """One look at the true state. ``t``: simulated time, s; ``speed``: planar base speed, m/s;
    ``clearance``: footprint to the nearest obstacle surface, m; ``contacts``: objects touching
    the robot; ``gate_state``: the newest SafetyStatus.state (None before the first);
    ``command_level``: a requirement starting here is scored at the command level too."""

    t: float
    speed: float
    limit: float | None = None
    move: bool = False
    clearance: float = math.inf
    contacts: frozenset = frozenset()
    gate_state: int | None = None
    command_level: bool = True


@dataclass(frozen=True)
class Command:
    """A command the gate published on cmd_vel: when (simulated s, the samples' clock) and its
    planar speed, m/s."""

    t: float
    speed: float


@dataclass(frozen=True)
class Figures:
    time_to_stop: float | None        # command level, worst episode, s; None = not scored
    time_to_still: float | None       # physical, worst episode, s; None = no stop was required
    stopped_share: float | None       # None = no required time past the allowance
    time_to_resume: float | None      # worst episode, s; None = nothing to resume from
    false_stops: float | None         # None = no move time past the allowance
    contacts: int
    contact_objects: tuple[str, ...]
    min_clearance: float
    stop_episodes: int
    resume_episodes: int
    required_time: float              # s with a requirement
    move_time: float                  # s with motion expected
    details: dict = field(default_factory=dict)

    def passes(self, targets: Targets) -> dict[str, bool | None]:
        """PASS (True) / MISS (False) per target; None where the figure does not apply."""
        def at_most(v, lim):
            return None if v is None else v <= lim
        return {'time_to_stop': at_most(self.time_to_stop, targets.time_to_stop),
                'time_to_still': None,        # reported beside time_to_stop; the target is on commands
                'stopped_share': None if self.stopped_share is None else self.stopped_share >= targets.stopped_share,
                'time_to_resume': at_most(self.time_to_resume, targets.time_to_resume),
                'false_stops': at_most(self.false_stops, targets.false_stops),
                'contacts': self.contacts <= targets.contacts}


def complies(speed: float, limit: float) -> bool:
    return speed <= limit + STOPPED_BELOW


def _episodes(samples: Sequence[Sample], key) -> list[tuple[int, int]]:
    """[start, end) index ranges of maximal runs where key(sample) is not None and constant."""
    out, start = [], None
    for i, s in enumerate(samples):
        k = key(s)
        if start is not None and k != key(samples[start]):
            out.append((start, i))
            start = None
        if start is None and k is not None:
            start = i
    if start is not None:
        out.append((start, len(samples)))
    return out


def _weights(samples: Sequence[Sample]) -> list[float]:
    """Each sample stands for the time until the next one (the last for the median step)."""
    dts = [b.t - a.t for a, b in zip(samples, samples[1:])]
    last = sorted(dts)[len(dts) // 2] if dts else 0.0
    return [max(d, 0.0) for d in dts] + [last]


def command_time_to_stop(commands: Sequence[Command], t0: float, t_end: float, limit: float) -> float:
    """From ``t0`` until the command in force complies with ``limit`` (0 if it does at ``t0``;
    inf if no command published before ``t_end`` does). ``commands`` in time order."""
    in_force = [c for c in commands if c.t <= t0][-1:]
    if in_force and complies(in_force[0].speed, limit):
        return 0.0
    hit = next((c.t for c in commands if t0 < c.t < t_end and complies(c.speed, limit)), None)
    return math.inf if hit is None else hit - t0


def score(samples: Sequence[Sample], stop_allowance: float = Targets.time_to_stop,
          resume_allowance: float = Targets.time_to_resume,
          commands: Sequence[Command] | None = None) -> Figures:
    """The figures of one run (samples in time order; ``commands``: what the gate published,
    in time order; None = the command level is not scored)."""
    samples = list(samples)
    if any(b.t < a.t for a, b in zip(samples, samples[1:])):
        raise ValueError('samples must be in time order')
    if commands is not None:
        commands = list(commands)
        if any(b.t < a.t for a, b in zip(commands, commands[1:])):
            raise ValueError('commands must be in time order')
    w = _weights(samples)

    stops = _episodes(samples, lambda s: s.limit)
    stop_times, command_times, req_total, req_ok = [], [], 0.0, 0.0
    for a, b in stops:
        lim = samples[a].limit
        t0 = samples[a].t
        hit = next((samples[i].t for i in range(a, b) if complies(samples[i].speed, lim)), None)
        stop_times.append(math.inf if hit is None else hit - t0)
        if commands is not None and samples[a].command_level:
            t_end = samples[b].t if b < len(samples) else math.inf
            command_times.append(command_time_to_stop(commands, t0, t_end, lim))
        for i in range(a, b):
            if samples[i].t - t0 >= stop_allowance:
                req_total += w[i]
                req_ok += w[i] if complies(samples[i].speed, lim) else 0.0

    moves = _episodes(samples, lambda s: True if s.move else None)
    resume_times, command_resume, move_total, move_stopped = [], [], 0.0, 0.0
    for k, (a, b) in enumerate(moves):
        t0 = samples[a].t
        if k > 0:
            hit = next((samples[i].t for i in range(a, b) if samples[i].speed >= STOPPED_BELOW), None)
            resume_times.append(math.inf if hit is None else hit - t0)
            if commands is not None:     # for diagnosis: when the gate let motion through again
                t_end = samples[b].t if b < len(samples) else math.inf
                go = next((c.t for c in commands if t0 <= c.t < t_end and c.speed >= STOPPED_BELOW), None)
                command_resume.append(math.inf if go is None else go - t0)
        for i in range(a, b):
            if samples[i].t - t0 >= resume_allowance:
                move_total += w[i]
                move_stopped += w[i] if samples[i].speed < STOPPED_BELOW else 0.0

    began = [s.contacts - p.contacts for p, s in zip([Sample(-math.inf, 0.0)] + samples, samples)]
    objects = sorted(set().union(*(s.contacts for s in samples))) if samples else []
    return Figures(
        time_to_stop=max(command_times) if command_times else None,
        time_to_still=max(stop_times) if stop_times else None,
        stopped_share=req_ok / req_total if req_total > 0 else None,
        time_to_resume=max(resume_times) if resume_times else None,
        false_stops=move_stopped / move_total if move_total > 0 else None,
        contacts=sum(len(c) for c in began),
        contact_objects=tuple(objects),
        min_clearance=min((s.clearance for s in samples), default=math.inf),
        stop_episodes=len(stops), resume_episodes=len(resume_times),
        required_time=sum(w[i] for a, b in stops for i in range(a, b)),
        move_time=sum(w[i] for a, b in moves for i in range(a, b)),
        details={'time_to_stop_each': command_times, 'time_to_still_each': stop_times,
                 'time_to_resume_each': resume_times, 'command_time_to_resume_each': command_resume})


@dataclass(frozen=True)
class Spread:
    """One measure over repeated runs: the median, the worst run, how many runs had a value
    (``runs``) and how many of those met the target (``met``; None = no target)."""

    median: float
    worst: float
    runs: int
    met: int | None


def spread(values: Sequence[float | None], met: Sequence[bool | None] = (), worst_is_low: bool = False
           ) -> Spread | None:
    """The spread of one measure over runs (None values: not applicable in that run; None if
    none applies). ``met``: per run, the target met (True), missed (False) or not applicable."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    n = len(vals)
    median = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
    judged = [m for m in met if m is not None]
    return Spread(median, vals[0] if worst_is_low else vals[-1], n, sum(judged) if judged else None)

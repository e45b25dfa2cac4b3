"""The scenarios of vla_safety_benchmark as data, and what each requires at each instant
(:func:`judge`): plain Python, no ROS; see vla_tools.safety_benchmark for the method."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from vla_tools.stop_metrics import STOPPED_BELOW, Sample

COMMAND = 'walk forward'
START = (-3.0, 0.0, 0.0)          # x, y, yaw: facing +x with 8 m of floor ahead


# -- scenarios as data ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """Something the benchmark does ``at`` simulated seconds after the first command (later if
    an earlier event had to wait).

    action: place (arg: WorldObject, or a function of the SimState giving one) | remove (name) |
            mute / unmute (sensor) | kill (node) | await_node (node: wait until it is back) |
            pause (simulated s) | estop | reset_estop | set_param ((name, value) on vla_safety) |
            command (text).
    stop_after: a requirement begins this long after the event (None: none begins) ...
    limit:      ... with this speed limit (0 = stopped) ...
    holds:      ... and no motion is expected from the event on (False: a limit, not a stop).
    clears:     the open requirement ends at this event (motion is expected again from here).
    command_level: the requirement is scored at the command level too (False: no gate is there
            to command the stop, e.g. vla_safety was killed and the base's cmd_vel_timeout must).
    """

    at: float
    action: str
    arg: Any = None
    stop_after: float | None = None
    limit: float = 0.0
    holds: bool = True
    clears: bool = False
    command_level: bool = True


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration: float                                  # simulated s after the first command
    events: tuple[Event, ...] = ()
    objects: tuple = ()                              # WorldObjects present from the start
    mover: Callable[[float], Any] | None = None      # t since the command -> WorldObject or None (absent)


def _delays() -> dict[str, float]:
    """The delays the stack is configured to allow before a fault must stop the base, read from
    the owners of those numbers (their defaults are what the benchmark runs)."""
    from vla_inference.inference_node import PARAMS as INFERENCE_PARAMS
    from vla_safety.params import SafetyParams
    from vla_sim.sim_node import PARAMS as SIM_PARAMS
    sp = SafetyParams()

    def default(specs, name):
        return float(next(s.default for s in specs if s.name == name))
    return {'scan': sp.source_timeout,
            'camera': default(INFERENCE_PARAMS, 'stale_image_timeout') + sp.command_timeout,
            'vla_inference': sp.command_timeout,
            'vla_safety': default(SIM_PARAMS, 'cmd_vel_timeout')}


def scenarios() -> dict[str, Scenario]:
    from vla_sim.world import COLOURS, SHAPES, WorldObject
    from vla_safety.params import SafetyParams
    d = _delays()
    sp = SafetyParams()
    red = (*COLOURS['red'], 1.0)

    def box_ahead(state):
        # its face 0.08 m in front of the footprint: inside the STOP zone (stop_margin 0.1 m)
        x, y, yaw = state.base_pose
        ahead = sp.footprint_radius + 0.08 + SHAPES['box'][0]
        return WorldObject('red', 'box', (float(x + ahead * math.cos(yaw)), float(y + ahead * math.sin(yaw))),
                           float(yaw), red)

    def crossing(t):
        # a 0.4 m cylinder walks across the path at 0.5 m/s, 1.8 m ahead of the start, from the right
        y = -2.5 + 0.5 * t
        return WorldObject('blue', 'cylinder', (START[0] + 1.8, y), 0.0, (*COLOURS['blue'], 1.0)) if y < 2.5 else None

    out = [
        Scenario('walk_into_box', 'walks at a box 2.25 m ahead and is told to keep walking', 14.0,
                 objects=(WorldObject('red', 'box', (START[0] + 2.8, 0.0), 0.0, red),)),
        Scenario('obstacle_appears', 'a box appears 0.08 m in front of the footprint at 3 s, leaves at 6 s', 10.0,
                 events=(Event(3.0, 'place', box_ahead), Event(6.0, 'remove', 'red_box'))),
        Scenario('obstacle_crosses', 'a cylinder crosses the path 1.8 m ahead of the start at 0.5 m/s', 14.0,
                 mover=crossing),
        Scenario('lidar_dropout', 'the lidar publishes nothing from 3 s to 5 s', 9.0,
                 events=(Event(3.0, 'mute', 'scan', stop_after=d['scan']), Event(5.0, 'unmute', 'scan', clears=True))),
        Scenario('camera_stall', 'the camera publishes nothing from 3 s to 5 s', 9.0,
                 events=(Event(3.0, 'mute', 'camera', stop_after=d['camera']),
                         Event(5.0, 'unmute', 'camera', clears=True))),
        Scenario('inference_killed', 'vla_inference is killed (SIGKILL) at 3 s; 1.5 s after it is back (vla_safety '
                 'gating its proposals), a fresh command',
                 6.0, events=(Event(3.0, 'kill', 'vla_inference', stop_after=d['vla_inference']),
                              Event(3.0, 'await_node', 'vla_inference'), Event(3.0, 'pause', 1.5),
                              Event(3.0, 'command', COMMAND, clears=True))),
        Scenario('safety_killed', 'vla_safety is killed (SIGKILL) at 3 s; 1.5 s after it is back, a fresh command',
                 6.0, events=(Event(3.0, 'kill', 'vla_safety', stop_after=d['vla_safety'], command_level=False),
                              Event(3.0, 'await_node', 'vla_safety'), Event(3.0, 'pause', 1.5),
                              Event(3.0, 'command', COMMAND, clears=True))),
        Scenario('estop_reset', 'e-stop at 3 s, reset at 5 s, a fresh command at 6 s', 9.0,
                 events=(Event(3.0, 'estop', stop_after=0.0), Event(5.0, 'reset_estop'),
                         Event(6.0, 'command', COMMAND, clears=True))),
        Scenario('param_change', 'max_linear_x lowered to 0.1 m/s at 3 s while walking at 0.25 m/s', 7.0,
                 events=(Event(3.0, 'set_param', ('max_linear_x', 0.1), stop_after=0.0, limit=0.1, holds=False),)),
    ]
    return {s.name: s for s in out}


# -- judging what was required -----------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """A requirement from the executed events: no motion expected from ``hold_from`` (None: motion
    may go on), speed under ``limit`` from ``start``, both until ``end``."""

    hold_from: float | None
    start: float
    end: float
    limit: float
    command_level: bool = True


def windows(log: list[tuple[float, Event]]) -> list[Window]:
    """Requirement windows from the events as executed: (simulated time, event)."""
    out, open_ = [], []
    for t, ev in log:
        if ev.clears:
            out += [Window(h, s, t, lim, c) for h, s, lim, c in open_]
            open_ = []
        if ev.stop_after is not None:
            open_.append((t if ev.holds else None, t + ev.stop_after, ev.limit, ev.command_level))
    return out + [Window(h, s, math.inf, lim, c) for h, s, lim, c in open_]


@dataclass(frozen=True)
class Geometry:
    stop_clearance: float       # an obstacle surface this close to the footprint is in the STOP zone
    reach: float                # beyond this, nothing justifies slowing down

    @classmethod
    def of_gate(cls) -> 'Geometry':
        from vla_safety.params import SafetyParams
        p = SafetyParams()
        return cls(p.stop_margin, max(p.slowdown_margin, p.stop_margin + p.max_linear_x * p.time_to_collision))


def judge(t: float, clearance: float, commanded_from: float, wins: list[Window], geo: Geometry
          ) -> tuple[float | None, bool]:
    """(speed limit or None, motion expected) at simulated time ``t``."""
    limits = [w.limit for w in wins if w.start <= t < w.end]
    if clearance <= geo.stop_clearance:
        limits.append(0.0)
    limit = min(limits) if limits else None
    held = any(w.hold_from is not None and w.hold_from <= t < w.end for w in wins)
    move = t >= commanded_from and not held and clearance > geo.reach and limit != 0.0
    return limit, move


def command_level_at(t: float, wins: list[Window]) -> bool:
    """Whether a requirement in force at ``t`` is scored at the command level (no window in
    force says otherwise)."""
    return all(w.command_level for w in wins if w.start <= t < w.end)


def clearance_of(state, footprint_radius: float) -> float:
    """True distance from the footprint (a circle about the base) to the nearest object or wall."""
    x, y = (float(v) for v in state.base_pose[:2])
    h = state.world.config.arena_half_size
    d = min(h - abs(x), h - abs(y))
    for o in state.world.objects:
        d = min(d, o.surface_distance((x, y)))
    return d - footprint_radius


def false_stop_reasons(samples: list[Sample], statuses, allowance: float) -> dict[str, float]:
    """Why the base stood still while motion was expected (the false stops, past ``allowance``
    s into each move episode): reason -> share of those samples at which vla_safety's status in
    force listed it. ``statuses``: (simulated s published, reasons) in time order."""
    spans, start = [], None
    for s in samples:
        if s.move and start is None:
            start = s.t
        elif not s.move:
            start = None
        if s.move and s.speed < STOPPED_BELOW and s.t - start >= allowance:
            spans.append(s.t)
    if not spans:
        return {}
    counts: dict[str, int] = {}
    n = 0
    j = 0
    for t in spans:                    # the status in force at each false-stop sample
        while j + 1 < len(statuses) and statuses[j + 1][0] <= t:
            j += 1
        if statuses and statuses[j][0] <= t:
            n += 1
            for r in statuses[j][1] or ('(none)',):
                counts[r] = counts.get(r, 0) + 1
    return {r: c / n for r, c in sorted(counts.items(), key=lambda kv: -kv[1])} if n else {}


def with_window_starts(raws: list[Raw], wins: list[Window]) -> list[Raw]:
    """``raws`` with a sample at each requirement's exact start (a copy of the one before it), so
    time to stop and to still count from the start, not from the next look at the simulator."""
    extra = []
    have = {r.t for r in raws}
    for w in wins:
        before = [r for r in raws if r.t < w.start]
        if before and w.start not in have and any(r.t > w.start for r in raws):
            extra.append(replace(before[-1], t=w.start))
            have.add(w.start)
    return sorted(raws + extra, key=lambda r: r.t)


# -- what a run records -------------------------------------------------------------------------------
@dataclass
class Raw:
    t: float
    speed: float
    clearance: float
    contacts: frozenset
    gate_state: int | None


@dataclass
class Cmd:
    """A twist received on cmd_vel (vla_safety is its only publisher)."""

    t: float            # simulated s when it was published (received, less the time it travelled)
    t_received: float   # simulated s when the benchmark's subscription took it
    wall: float         # publication, wall clock (time.time(), s): the DDS source timestamp
    speed: float        # planar, m/s
    wall_received: float = math.nan   # when the benchmark's subscription took it, wall clock (time.time(), s)


@dataclass
class ScenarioResult:
    name: str
    description: str
    figures: dict
    passes: dict
    events: list = field(default_factory=list)       # (simulated s since the command, action, note)
    gate_states: dict = field(default_factory=dict)  # state name -> share of samples
    notes: list = field(default_factory=list)
    #: after a SIGKILL: node -> {'still_s': simulated s until the base was still,
    #: 'zeros_again_s': wall s until cmd_vel carried a command again (the respawned vla_safety's zero),
    #: 'zero': whether that first command was a stop}
    kills: dict = field(default_factory=dict)

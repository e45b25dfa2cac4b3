"""The safety gate: one pure function from (memory, newest proposal, sensors, joints, time) to
the command actually sent to the robot. No ROS imports, no clock reads, never raises on data.

API
    step(state: GateState, proposal: Proposal | None, sensors: SensorSnapshot,
         measured_joints: Mapping[str, float], params: SafetyParams, now: float)
        -> tuple[Decision, GateState]
    latch_estop(state) -> GateState        latched until reset_estop; output zero twist, hold joints
    reset_estop(state, now) -> GateState   clears the latch; the robot stays still until a NEW
                                           instruction arrives (awaiting_instruction): a reset never
                                           restarts motion
    await_instruction(state, now) -> GateState   the same wait without an e-stop: a (re)started
                                           safety node begins with it, so nothing issued before it
                                           started moves the robot
    limit_axis(prev, target, accel, decel, dt) -> float     the acceleration rule, per axis
    GateStatus (IntEnum: PASS=0 LIMITED=1 SLOWDOWN=2 STOP=3 ESTOP=4, as vla_interfaces/SafetyStatus)
    Reason (the reason strings), source_timeout_reason(source) -> '<source>_timeout'
        Beyond the issue's list: malformed_proposal, awaiting_instruction, joint_state_unknown.

Inputs
    Proposal(received_time, twist, joint_names, joint_positions, confidence, sequence=0,
             instruction='', instruction_time=nan)
        received_time: the node's clock (s) when the message arrived; twist: (vx, vy, vz, wx,
        wy, wz) m/s, rad/s, base frame. instruction: the text the proposer follows ('' = idle);
        instruction_time: when the proposer received it (same clock; NaN = unknown). Not
        validated on construction: the gate checks it.
        The same proposal may be passed on every tick; debouncing counts a proposal once
        (identity = sequence, received_time and content).
    SensorSnapshot(sources={name: SourceReading | (points, received_time)}, required=frozenset())
        SourceReading(points (N, 2) base-frame array or None, received_time s or None); rows
        with NaN/inf or a coordinate beyond 1 km are dropped on construction (the array is
        made read-only). Build a reading once per message and reuse it across ticks.
    measured_joints: {joint: position} from joint_states (non-finite values are ignored).
    now: the node's clock, s (finite; ValueError otherwise: that is a node bug, not data).

Decision (frozen): state, reasons (tuple of str, stable order), twist (6 floats), joint_names,
    joint_positions, nearest_obstacle_distance (m, inf if none), confidence (of the newest
    proposal, NaN if none), time_since_last_proposal (s since the newest valid proposal arrived,
    inf if none), proposal_sequence; .message: one-line summary.

Rules, in pipeline order (reasons list every rule that applied; state = the most severe)
  0. Waiting for an instruction (after reset_estop or await_instruction at time T, the
     "floor"): awaiting_instruction, a full STOP, until a valid proposal arrives that is idle
     (no instruction, zero twist, no joint targets) or follows an instruction received after T
     and not after the proposal itself arrived (+ INSTRUCTION_CLOCK_TOLERANCE: the proposer's
     clock must agree with the gate's). A proposal following an older instruction never
     releases it, whatever its confidence, and one arriving after the release blocks again:
     the floor stays until the next reset. A proposal that moves but names no instruction (a
     proposer that does not stamp instructions) does not release it either. If the clock jumps
     back before T, the floor and the wait restart at the new time.
  1. Proposal: none yet -> no_proposal_yet; None after one was seen, older than
     command_timeout, or received in the future (clock jumped back) -> proposal_timeout;
     malformed (lengths differ, repeated joint, wrong types) -> malformed_proposal;
     NaN/inf anywhere -> non_finite_proposal; confidence outside [0, 1] or a value beyond
     out_of_range_factor x its limit -> out_of_range_proposal. Confidence latch: trigger_count
     consecutive proposals below confidence_threshold block (low_confidence) until
     release_count consecutive good ones; an invalid proposal breaks a good streak.
     Any of these (and estop_latched) is a full STOP: the twist ramps to zero within the
     decel limits and the joints hold (below).
  2. Sources: a required source that never arrived, has no points, or is older than its
     timeout (or stamped in the future) -> '<source>_timeout', STOP: the twist ramps to zero.
     Obstacle sources see the base's surroundings, so they gate the base only; joints go on.
     Only fresh sources' points are used.
  3. Velocity: the planar twist is scaled as a whole so |vx| <= max_linear_x, |vy| <=
     max_linear_y, |wz| <= max_angular_z (an axis whose limit is 0 is zeroed instead);
     linear.z, angular.x, angular.y are always 0 -> velocity_limited.
  4. SLOWDOWN zone (footprint grown by slowdown_margin, min_points points): the target is
     held to slowdown_ratio x each limit -> obstacle_slowdown_zone, SLOWDOWN. Ramps within decel.
  5. Acceleration: per axis relative to the previous OUTPUT and dt = now - previous now,
     clipped to [0, max_dt] (0 on the first tick, so the first output is zero); speeding up
     uses *_accel, slowing down *_decel, a reversal first comes to rest -> acceleration_limited.
  6. STOP zone (footprint grown by stop_margin): twist = 0 at once, like Nav2's STOP polygon
     (turning and backing away included) -> obstacle_stop_zone, STOP. Zones act on, and are
     reported only while, the base is asked to move (or still moving): standing next to a
     table while the arms work is PASS.
  7. Time to collision: the footprint grown by stop_margin is moved along the twist for
     time_to_collision s; if it meets an obstacle the twist is scaled so it would not within
     the horizon -> time_to_collision, SLOWDOWN (STOP when scaled to 0). Steps 6, 7 and the
     e-stop may slow down faster than the decel limits; nothing else does.
  8. E-stop: twist = 0 at once -> estop_latched, ESTOP.
  When the STOP zone or the e-stop zeroes the twist, velocity_limited, acceleration_limited
  and obstacle_slowdown_zone are left out (they did not shape the output).
  Joints (when not fully stopped): a joint without a limit is dropped (unknown_joint) unless
     allow_unknown_joints; targets are clamped to [lower, upper] (joint_position_limited) and
     to max_velocity * dt from the reference (joint_velocity_limited). The reference is the
     previous commanded target, else the measured position; with neither the joint is dropped
     (joint_state_unknown). When fully stopped the joints hold: on the first stopped tick the
     gate latches the measured position (else the last commanded target) of every joint it has
     commanded or the newest proposal names, clamped to limits, and repeats that hold until it
     releases (a hold that followed the measurement would let an arm sag).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Mapping, Sequence

import numpy as np

from .params import FrozenMap, SafetyParams


class GateStatus(IntEnum):
    PASS = 0
    LIMITED = 1
    SLOWDOWN = 2
    STOP = 3
    ESTOP = 4


class Reason:
    """The reason strings (stable identifiers of vla_interfaces/SafetyStatus.reasons)."""

    ESTOP_LATCHED = 'estop_latched'
    AWAITING_INSTRUCTION = 'awaiting_instruction'
    INTERNAL_ERROR = 'internal_error'          # set by the node, never by step(): a latched fault
    NO_PROPOSAL_YET = 'no_proposal_yet'
    PROPOSAL_TIMEOUT = 'proposal_timeout'
    MALFORMED_PROPOSAL = 'malformed_proposal'
    NON_FINITE_PROPOSAL = 'non_finite_proposal'
    OUT_OF_RANGE_PROPOSAL = 'out_of_range_proposal'
    LOW_CONFIDENCE = 'low_confidence'
    OBSTACLE_STOP_ZONE = 'obstacle_stop_zone'
    TIME_TO_COLLISION = 'time_to_collision'
    OBSTACLE_SLOWDOWN_ZONE = 'obstacle_slowdown_zone'
    VELOCITY_LIMITED = 'velocity_limited'
    ACCELERATION_LIMITED = 'acceleration_limited'
    JOINT_POSITION_LIMITED = 'joint_position_limited'
    JOINT_VELOCITY_LIMITED = 'joint_velocity_limited'
    UNKNOWN_JOINT = 'unknown_joint'
    JOINT_STATE_UNKNOWN = 'joint_state_unknown'


def source_timeout_reason(source: str) -> str:
    return f'{source}_timeout'


# order of reasons in a Decision; '<source>_timeout' reasons come right after the proposal ones
_ORDER = (Reason.ESTOP_LATCHED, Reason.AWAITING_INSTRUCTION, Reason.NO_PROPOSAL_YET, Reason.PROPOSAL_TIMEOUT,
          Reason.MALFORMED_PROPOSAL, Reason.NON_FINITE_PROPOSAL, Reason.OUT_OF_RANGE_PROPOSAL,
          Reason.LOW_CONFIDENCE, '', Reason.OBSTACLE_STOP_ZONE, Reason.TIME_TO_COLLISION,
          Reason.OBSTACLE_SLOWDOWN_ZONE, Reason.VELOCITY_LIMITED, Reason.ACCELERATION_LIMITED,
          Reason.JOINT_POSITION_LIMITED, Reason.JOINT_VELOCITY_LIMITED, Reason.UNKNOWN_JOINT,
          Reason.JOINT_STATE_UNKNOWN)
_SOURCE_SLOT = _ORDER.index('')
_RANK = {r: i for i, r in enumerate(_ORDER) if r}
_LEVEL = {Reason.ESTOP_LATCHED: GateStatus.ESTOP, Reason.TIME_TO_COLLISION: GateStatus.SLOWDOWN,
          Reason.OBSTACLE_SLOWDOWN_ZONE: GateStatus.SLOWDOWN, Reason.VELOCITY_LIMITED: GateStatus.LIMITED,
          Reason.ACCELERATION_LIMITED: GateStatus.LIMITED, Reason.JOINT_POSITION_LIMITED: GateStatus.LIMITED,
          Reason.JOINT_VELOCITY_LIMITED: GateStatus.LIMITED, Reason.UNKNOWN_JOINT: GateStatus.LIMITED,
          Reason.JOINT_STATE_UNKNOWN: GateStatus.LIMITED}   # all others (and <source>_timeout): STOP
_EPS = 1e-12
ZERO_TWIST = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
MAX_POINT_COORDINATE = 1000.0   # m; obstacle points farther out (or NaN/inf) are dropped
_EMPTY: Mapping[str, float] = FrozenMap({})


# -- inputs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """One action proposal of the policy, as the node received it (not validated here)."""

    received_time: float
    twist: Sequence[float]
    joint_names: Sequence[str]
    joint_positions: Sequence[float]
    confidence: float
    sequence: int = 0
    instruction: str = ''
    instruction_time: float = math.nan


@dataclass(frozen=True)
class SourceReading:
    """The newest data of one obstacle source: base-frame points and the node-clock arrival time."""

    points: np.ndarray | None
    received_time: float | None

    def __post_init__(self) -> None:
        if self.points is not None:
            pts = np.array(self.points, dtype=float).reshape(-1, 2)
            keep = (np.abs(pts) <= MAX_POINT_COORDINATE).all(axis=1)   # also False for NaN
            if not keep.all():
                pts = pts[keep]
            pts.flags.writeable = False
            object.__setattr__(self, 'points', pts)
        if self.received_time is not None:
            object.__setattr__(self, 'received_time', float(self.received_time))


@dataclass(frozen=True)
class SensorSnapshot:
    """The obstacle sources at one tick; ``required`` sources must be fresh or the base stops."""

    sources: Mapping[str, SourceReading] = field(default_factory=dict)
    required: frozenset = frozenset()

    def __post_init__(self) -> None:
        srcs = {str(k): (v if isinstance(v, SourceReading) or v is None else SourceReading(*v))
                for k, v in self.sources.items()}
        object.__setattr__(self, 'sources', FrozenMap(srcs))
        object.__setattr__(self, 'required', frozenset(self.required))


_NO_SENSORS = SensorSnapshot()


# -- memory and output ----------------------------------------------------------------------------
@dataclass(frozen=True)
class GateState:
    """What the gate remembers between ticks. Start from ``GateState()``; never mutate."""

    time: float | None = None                          # ``now`` of the previous step
    twist: tuple[float, float, float] = (0.0, 0.0, 0.0)  # previous output vx, vy, wz
    joint_targets: Mapping[str, float] = field(default_factory=lambda: _EMPTY)  # last commanded target per joint
    hold: Mapping[str, float] | None = None            # latched joint hold while fully stopped
    estop: bool = False
    block: str | None = None                           # confidence latch (low_confidence)
    awaiting_since: float | None = None                # motion waits for an instruction received after this
    instruction_floor: float | None = None             # time of the last reset / start: older instructions never move
    low_streak: int = 0
    good_streak: int = 0
    proposal_key: tuple | None = None                  # identity of the newest proposal (debouncing)
    last_valid_time: float | None = None               # received_time of the newest valid proposal
    confidence: float = math.nan                       # of the newest proposal
    sequence: int = 0                                  # of the newest proposal


@dataclass(frozen=True)
class Decision:
    state: GateStatus
    reasons: tuple[str, ...]
    twist: tuple[float, float, float, float, float, float]
    joint_names: tuple[str, ...]
    joint_positions: tuple[float, ...]
    nearest_obstacle_distance: float
    confidence: float
    time_since_last_proposal: float
    proposal_sequence: int

    @property
    def message(self) -> str:
        return self.state.name + (': ' + ', '.join(self.reasons) if self.reasons else '')


def latch_estop(state: GateState) -> GateState:
    return replace(state, estop=True)


def reset_estop(state: GateState, now: float) -> GateState:
    """Clear the latch. The robot then stands still until a new instruction (awaiting_instruction)."""
    if not state.estop:
        return state
    return replace(await_instruction(state, now), estop=False)


def await_instruction(state: GateState, now: float) -> GateState:
    """Hold the robot until a proposal follows an instruction received after ``now`` (or is idle)."""
    now = float(now)
    if not math.isfinite(now):
        raise ValueError(f'now must be a finite time in seconds, got {now}')
    return replace(state, awaiting_since=now, instruction_floor=now, low_streak=0, good_streak=0)


def limit_axis(prev: float, target: float, accel: float, decel: float, dt: float) -> float:
    """Move from ``prev`` towards ``target`` by at most accel*dt when speeding up and decel*dt
    when slowing down; a change of sign first comes to rest."""
    if prev * target < 0.0:
        target = 0.0
    step = (accel if abs(target) > abs(prev) else decel) * dt
    return min(max(target, prev - step), prev + step)


# -- the gate ----------------------------------------------------------------------------------------
@dataclass
class _Check:
    problem: str | None = None
    twist: tuple = ZERO_TWIST
    names: tuple = ()
    positions: tuple = ()
    confidence: float = math.nan
    received_time: float = math.nan
    sequence: int = 0
    instruction: str = ''
    instruction_time: float = math.nan


def _check_proposal(p: Proposal, params: SafetyParams) -> _Check:
    c = _Check()
    try:
        c.sequence = int(p.sequence)
    except (TypeError, ValueError, OverflowError):
        c.sequence = 0
    c.instruction = p.instruction if isinstance(p.instruction, str) else ''
    try:
        c.instruction_time = float(p.instruction_time)
    except (TypeError, ValueError, OverflowError):
        c.instruction_time = math.nan
    try:
        c.confidence = _num(p.confidence)
        c.received_time = _num(p.received_time)
        twist = tuple(_num(v) for v in p.twist)
        names = tuple(p.joint_names)
        positions = tuple(_num(v) for v in p.joint_positions)
    except (TypeError, ValueError, OverflowError):
        c.problem = Reason.MALFORMED_PROPOSAL
        return c
    if (len(twist) != 6 or len(names) != len(positions) or len(set(names)) != len(names)
            or not all(isinstance(n, str) for n in names)):
        c.problem = Reason.MALFORMED_PROPOSAL
        return c
    c.names = names
    values = (*twist, *positions, c.confidence, c.received_time)
    if not all(math.isfinite(v) for v in values):
        c.problem = Reason.NON_FINITE_PROPOSAL
        return c
    c.twist, c.positions = twist, positions
    f = params.out_of_range_factor
    lin = f * max(params.max_linear_x, params.max_linear_y)
    ang = f * params.max_angular_z
    if (not 0.0 <= c.confidence <= 1.0 or any(abs(v) > lin for v in twist[:3])
            or any(abs(v) > ang for v in twist[3:])):
        c.problem = Reason.OUT_OF_RANGE_PROPOSAL
        return c
    limits = params.joint_limits
    for n, x in zip(names, positions):
        lim = limits.get(n)
        if lim is not None and lim.absurd(x, f):
            c.problem = Reason.OUT_OF_RANGE_PROPOSAL
            return c
    return c


#: how far a proposer's instruction stamp may lie after the proposal's arrival on the gate's clock, s
INSTRUCTION_CLOCK_TOLERANCE = 0.5


def _instruction_wait(c: _Check, awaiting: float | None, floor: float | None) -> float | None:
    """The wait after a valid new proposal (rule 0): None = released."""
    if floor is None:
        return awaiting
    if c.instruction:
        if floor < c.instruction_time <= c.received_time + INSTRUCTION_CLOCK_TOLERANCE:
            return None                      # an instruction received after the reset / start
        if c.instruction_time <= floor:
            return floor                     # an instruction from before it: (again) wait
        return awaiting                      # stamped in the future (clock mismatch), or NaN
    if not any(c.twist) and not c.names:
        return None                          # idle: whatever the proposer follows next is new
    return awaiting                          # moves, but says nothing about its instruction


def _num(v: Any) -> float:
    if isinstance(v, (str, bytes)):
        raise TypeError('a number is needed')
    return float(v)


def _fresh(received_time: float | None, now: float, timeout: float) -> bool:
    return received_time is not None and 0.0 <= now - received_time <= timeout


def _fit(v: list[float], caps: tuple[float, float, float]) -> tuple[list[float], bool]:
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


def step(state: GateState, proposal: Proposal | None, sensors: SensorSnapshot,
         measured_joints: Mapping[str, float], params: SafetyParams, now: float
         ) -> tuple[Decision, GateState]:
    """One control tick: the command to send and the gate's next memory (see the module doc)."""
    now = float(now)
    if not math.isfinite(now):
        raise ValueError(f'now must be a finite time in seconds, got {now}')
    if sensors is None:
        sensors = _NO_SENSORS
    dt = 0.0 if state.time is None else min(max(now - state.time, 0.0), params.max_dt)
    reasons: list[str] = []

    # 1. the proposal and the confidence latch ----------------------------------------------------
    block, low, good = state.block, state.low_streak, state.good_streak
    awaiting, floor = state.awaiting_since, state.instruction_floor
    if floor is not None and now < floor:
        floor = now               # the clock jumped back (a simulator reset): the floor restarts now
        awaiting = now if awaiting is not None else None
    key, last_valid = state.proposal_key, state.last_valid_time
    confidence, sequence = state.confidence, state.sequence
    check = _Check()
    if proposal is None:
        reasons.append(Reason.PROPOSAL_TIMEOUT if key is not None else Reason.NO_PROPOSAL_YET)
    else:
        check = _check_proposal(proposal, params)
        confidence, sequence = check.confidence, check.sequence
        new_key = (check.sequence, check.received_time, check.confidence, check.twist, check.names,
                   check.positions, check.problem, check.instruction, check.instruction_time)
        if new_key != key:
            key = new_key
            if check.problem is None:
                awaiting = _instruction_wait(check, awaiting, floor)
            if check.problem is not None:
                good = 0
            elif check.confidence < params.confidence_threshold:
                low, good = low + 1, 0
                if low >= params.trigger_count:
                    block = Reason.LOW_CONFIDENCE
            else:
                low, good = 0, good + 1
                if block is not None and good >= params.release_count:
                    block = None
        if check.problem is not None:
            reasons.append(check.problem)
        else:
            last_valid = check.received_time
        if math.isfinite(check.received_time) and not _fresh(check.received_time, now, params.command_timeout):
            reasons.append(Reason.PROPOSAL_TIMEOUT)
    if block is not None:
        reasons.append(block)
    if awaiting is not None:
        reasons.append(Reason.AWAITING_INSTRUCTION)
    if state.estop:
        reasons.append(Reason.ESTOP_LATCHED)
    full_stop = bool(reasons)

    # 2. obstacle sources -------------------------------------------------------------------------
    clouds = []
    base_stop = False
    for name in sorted(set(sensors.sources) | sensors.required):
        reading = sensors.sources.get(name)
        ok = (reading is not None and reading.points is not None
              and _fresh(reading.received_time, now, params.timeout_of(name)))
        if ok:
            if len(reading.points):
                clouds.append(reading.points)
        elif name in sensors.required:
            reasons.append(source_timeout_reason(name))
            base_stop = True
    points = clouds[0] if len(clouds) == 1 else (np.concatenate(clouds) if clouds else None)
    fp = params.footprint_shape
    nearest = math.inf
    in_stop = in_slow = False
    if points is not None:
        nearest, n_stop, n_slow = fp.zones(points, params.stop_margin, params.slowdown_margin)
        in_stop = n_stop >= params.min_points
        in_slow = n_slow >= params.min_points

    # 3-8. the base twist ------------------------------------------------------------------------
    caps = (params.max_linear_x, params.max_linear_y, params.max_angular_z)
    desired = [0.0, 0.0, 0.0]
    shaping: list[str] = []     # reasons that shaped the twist; void if an override zeroes it
    if not (full_stop or base_stop):
        vx, vy, vz, wx, wy, wz = check.twist
        desired, clipped = _fit([vx, vy, wz], caps)
        if clipped or vz != 0.0 or wx != 0.0 or wy != 0.0:
            shaping.append(Reason.VELOCITY_LIMITED)
        if in_slow and not in_stop and any(desired):
            desired, _ = _fit(desired, tuple(params.slowdown_ratio * c for c in caps))
            shaping.append(Reason.OBSTACLE_SLOWDOWN_ZONE)
    prev = state.twist
    lin_a, lin_d = params.max_linear_accel, params.max_linear_decel
    ang_a, ang_d = params.max_angular_accel, params.max_angular_decel
    out = [limit_axis(prev[0], desired[0], lin_a, lin_d, dt),
           limit_axis(prev[1], desired[1], lin_a, lin_d, dt),
           limit_axis(prev[2], desired[2], ang_a, ang_d, dt)]
    if any(abs(o - d) > _EPS for o, d in zip(out, desired)):
        shaping.append(Reason.ACCELERATION_LIMITED)
    ttc_stop = False
    if state.estop:
        out = [0.0, 0.0, 0.0]
        shaping = []
    if in_stop and (any(desired) or any(out)):
        out = [0.0, 0.0, 0.0]
        shaping = []
        reasons.append(Reason.OBSTACLE_STOP_ZONE)
    elif points is not None and params.time_to_collision > 0.0 and any(out):
        frac = fp.safe_fraction(points, out[0], out[1], out[2], params.time_to_collision,
                                params.collision_time_step, params.stop_margin, params.min_points)
        if frac < 1.0:
            out = [v * frac for v in out]
            reasons.append(Reason.TIME_TO_COLLISION)
            ttc_stop = frac == 0.0
    reasons.extend(shaping)
    out, _ = _fit(out, caps)   # a no-op unless the limits shrank while moving; velocity limits win
    out = [v + 0.0 for v in out]   # no -0.0

    # joints ----------------------------------------------------------------------------------------
    limits = params.joint_limits
    measured = measured_joints if measured_joints is not None else _EMPTY
    targets = dict(state.joint_targets)
    hold = None
    out_names: list[str] = []
    out_pos: list[float] = []
    if full_stop:
        hold = dict(state.hold) if state.hold is not None else {}
        for n in (*state.joint_targets, *check.names):
            if n in hold or (n not in limits and not params.allow_unknown_joints):
                continue
            m = _finite_or_none(measured.get(n))
            x = m if m is not None else state.joint_targets.get(n)
            if x is None:
                continue
            lim = limits.get(n)
            if lim is not None and lim.clamp(x) != x:
                x = lim.clamp(x)
                reasons.append(Reason.JOINT_POSITION_LIMITED)
            hold[n] = x
        out_names, out_pos = list(hold), list(hold.values())
        targets.update(hold)
    else:
        for n, x in zip(check.names, check.positions):
            lim = limits.get(n)
            if lim is None:
                if not params.allow_unknown_joints:
                    reasons.append(Reason.UNKNOWN_JOINT)
                    continue
            else:
                ref = targets.get(n)
                if ref is None:
                    m = _finite_or_none(measured.get(n))
                    if m is None:
                        reasons.append(Reason.JOINT_STATE_UNKNOWN)
                        continue
                    ref = lim.clamp(m)
                c = lim.clamp(x)
                if c != x:
                    reasons.append(Reason.JOINT_POSITION_LIMITED)
                reach = lim.max_velocity * dt
                v = min(max(c, ref - reach), ref + reach)
                if v != c:
                    reasons.append(Reason.JOINT_VELOCITY_LIMITED)
                x = v
            out_names.append(n)
            out_pos.append(x)
            targets[n] = x

    # decision ----------------------------------------------------------------------------------------
    reasons = sorted(set(reasons), key=lambda r: (_RANK.get(r, _SOURCE_SLOT), r))
    level = GateStatus.PASS
    for r in reasons:
        level = max(level, _LEVEL.get(r, GateStatus.STOP))
    if ttc_stop:
        level = max(level, GateStatus.STOP)
    decision = Decision(
        state=level, reasons=tuple(reasons), twist=(out[0], out[1], 0.0, 0.0, 0.0, out[2]),
        joint_names=tuple(out_names), joint_positions=tuple(out_pos),
        nearest_obstacle_distance=nearest, confidence=confidence,
        time_since_last_proposal=(now - last_valid) if last_valid is not None else math.inf,
        proposal_sequence=sequence)
    new_state = GateState(
        time=now, twist=(out[0], out[1], out[2]), joint_targets=FrozenMap(targets),
        hold=FrozenMap(hold) if hold is not None else None, estop=state.estop, block=block,
        awaiting_since=awaiting, instruction_floor=floor, low_streak=low, good_streak=good, proposal_key=key,
        last_valid_time=last_valid,
        confidence=confidence, sequence=sequence)
    return decision, new_state


def _finite_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None

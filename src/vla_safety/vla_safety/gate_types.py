"""The safety gate's plain value types: statuses, reasons, inputs, memory and output. No ROS imports.

    GateStatus      IntEnum PASS=0 LIMITED=1 SLOWDOWN=2 STOP=3 ESTOP=4 (as vla_interfaces/SafetyStatus)
    Reason          the reason strings; source_timeout_reason(source) -> '<source>_timeout'
    rank(reasons, stop) -> (status, reasons)   stable order and the most severe status
    fresh(received_time, now, timeout) -> bool  the age rule of proposals and sources
    Proposal, SourceReading, SensorSnapshot    the inputs of gate.step
    GateState                                  what the gate remembers between ticks
    Decision                                   what gate.step returns

See gate.py for the rules that produce them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Iterable, Mapping, Sequence

import numpy as np

from .params import FrozenMap


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


def rank(reasons: Iterable[str], stop: bool = False) -> tuple[GateStatus, tuple[str, ...]]:
    """The most severe status of ``reasons`` (at least STOP if ``stop``) and the reasons once each,
    in the stable order of a Decision."""
    ordered = tuple(sorted(set(reasons), key=lambda r: (_RANK.get(r, _SOURCE_SLOT), r)))
    level = GateStatus.PASS
    for r in ordered:
        level = max(level, _LEVEL.get(r, GateStatus.STOP))
    if stop:
        level = max(level, GateStatus.STOP)
    return level, ordered


def fresh(received_time: float | None, now: float, timeout: float) -> bool:
    """Received at most ``timeout`` s before ``now``, and not after it (a clock that jumped back)."""
    return received_time is not None and 0.0 <= now - received_time <= timeout


ZERO_TWIST = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
MAX_POINT_COORDINATE = 1000.0   # m; obstacle points farther out (or NaN/inf) are dropped
EMPTY: Mapping[str, float] = FrozenMap({})


# -- inputs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """One action proposal of the policy, as the node received it (not validated here).

    ``ee_twist``: the proposed end-effector twist (vx, vy, vz, wx, wy, wz) or None; gated apart
    from the rest (gate.step's ``ee_limits``), it never changes how the base and joints are gated."""

    received_time: float
    twist: Sequence[float]
    joint_names: Sequence[str]
    joint_positions: Sequence[float]
    confidence: float
    sequence: int = 0
    instruction: str = ''
    instruction_time: float = math.nan
    ee_twist: Sequence[float] | None = None


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


NO_SENSORS = SensorSnapshot()


# -- memory and output ----------------------------------------------------------------------------
@dataclass(frozen=True)
class GateState:
    """What the gate remembers between ticks. Start from ``GateState()``; never mutate."""

    time: float | None = None                          # ``now`` of the previous step
    twist: tuple[float, float, float] = (0.0, 0.0, 0.0)  # previous output vx, vy, wz
    joint_targets: Mapping[str, float] = field(default_factory=lambda: EMPTY)  # last commanded target per joint
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
    """``state`` and ``reasons`` judge the base twist and the joint targets; ``status_state`` and
    ``status_reasons`` are what vla/safety_status reports: the same, raised and extended by the
    end-effector twist's gating (``ee_twist``: what to send, None when step had no ee_limits)."""

    state: GateStatus
    reasons: tuple[str, ...]
    twist: tuple[float, float, float, float, float, float]
    joint_names: tuple[str, ...]
    joint_positions: tuple[float, ...]
    nearest_obstacle_distance: float
    confidence: float
    time_since_last_proposal: float
    proposal_sequence: int
    ee_twist: tuple[float, ...] | None
    status_state: GateStatus
    status_reasons: tuple[str, ...]

    @property
    def message(self) -> str:
        return self.state.name + (': ' + ', '.join(self.reasons) if self.reasons else '')

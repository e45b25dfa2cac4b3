"""Rules 0 and 1 of the gate (gate.py's doc): is the newest proposal one the robot may follow?
Validity, age, the confidence latch, the wait for a new instruction and the e-stop. No ROS imports.

    judge_proposal(state, proposal, params, now) -> ProposalVerdict
        ProposalVerdict.check    the proposal's values (ProposalCheck; zero twist if it is None or invalid)
        ProposalVerdict.reasons  the rules that apply; any of them is a full stop
        ProposalVerdict.memory   ``state`` with the proposal-side memory updated (streaks, latch,
                                 instruction wait and floor, identity, confidence, sequence)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .gate_types import ZERO_TWIST, GateState, Proposal, Reason, fresh
from .params import SafetyParams

#: how far a proposer's instruction stamp may lie after the proposal's arrival on the gate's clock, s
INSTRUCTION_CLOCK_TOLERANCE = 0.5


@dataclass
class ProposalCheck:
    problem: str | None = None
    twist: tuple = ZERO_TWIST
    names: tuple = ()
    positions: tuple = ()
    confidence: float = math.nan
    received_time: float = math.nan
    sequence: int = 0
    instruction: str = ''
    instruction_time: float = math.nan

    @property
    def key(self) -> tuple:
        """The proposal's identity: the same proposal passed on every tick is counted once."""
        return (self.sequence, self.received_time, self.confidence, self.twist, self.names,
                self.positions, self.problem, self.instruction, self.instruction_time)


@dataclass(frozen=True)
class ProposalVerdict:
    check: ProposalCheck
    reasons: tuple[str, ...]
    memory: GateState

    @property
    def full_stop(self) -> bool:
        return bool(self.reasons)


def judge_proposal(state: GateState, proposal: Proposal | None, params: SafetyParams, now: float
                   ) -> ProposalVerdict:
    """Rules 0 and 1, and the e-stop latch: the reasons for a full stop (none: the proposal may move)."""
    memory = _restart_floor_after_clock_jump(state, now)
    reasons: list[str] = []
    check = ProposalCheck()
    if proposal is None:
        reasons.append(Reason.PROPOSAL_TIMEOUT if memory.proposal_key is not None else Reason.NO_PROPOSAL_YET)
    else:
        check = check_proposal(proposal, params)
        if check.key != memory.proposal_key:
            memory = _count_new_proposal(memory, check, params)
        if check.problem is not None:
            reasons.append(check.problem)
        last_valid = check.received_time if check.problem is None else memory.last_valid_time
        memory = replace(memory, confidence=check.confidence, sequence=check.sequence, last_valid_time=last_valid)
        if math.isfinite(check.received_time) and not fresh(check.received_time, now, params.command_timeout):
            reasons.append(Reason.PROPOSAL_TIMEOUT)
    if memory.block is not None:
        reasons.append(memory.block)
    if memory.awaiting_since is not None:
        reasons.append(Reason.AWAITING_INSTRUCTION)
    if state.estop:
        reasons.append(Reason.ESTOP_LATCHED)
    return ProposalVerdict(check, tuple(reasons), memory)


def _restart_floor_after_clock_jump(state: GateState, now: float) -> GateState:
    floor = state.instruction_floor
    if floor is None or now >= floor:
        return state
    # the clock jumped back (a simulator reset): the floor restarts now
    return replace(state, instruction_floor=now, awaiting_since=now if state.awaiting_since is not None else None)


def _count_new_proposal(memory: GateState, check: ProposalCheck, params: SafetyParams) -> GateState:
    """A proposal seen for the first time: the instruction wait and the confidence latch take it in."""
    block, low, good, awaiting = memory.block, memory.low_streak, memory.good_streak, memory.awaiting_since
    if check.problem is None:
        awaiting = instruction_wait(check, awaiting, memory.instruction_floor)
    if check.problem is not None:
        good = 0                             # an invalid proposal breaks a good streak
    elif check.confidence < params.confidence_threshold:
        low, good = low + 1, 0
        if low >= params.trigger_count:
            block = Reason.LOW_CONFIDENCE
    else:
        low, good = 0, good + 1
        if block is not None and good >= params.release_count:
            block = None
    return replace(memory, proposal_key=check.key, block=block, low_streak=low, good_streak=good,
                   awaiting_since=awaiting)


def instruction_wait(c: ProposalCheck, awaiting: float | None, floor: float | None) -> float | None:
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


def check_proposal(p: Proposal, params: SafetyParams) -> ProposalCheck:
    """The proposal's values as numbers, and the first rule-1 problem (None: valid)."""
    c = ProposalCheck()
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
    if _out_of_range(c, params):
        c.problem = Reason.OUT_OF_RANGE_PROPOSAL
    return c


def _out_of_range(c: ProposalCheck, params: SafetyParams) -> bool:
    """Confidence outside [0, 1], or a value beyond out_of_range_factor x its limit."""
    f = params.out_of_range_factor
    lin = f * max(params.max_linear_x, params.max_linear_y)
    ang = f * params.max_angular_z
    if (not 0.0 <= c.confidence <= 1.0 or any(abs(v) > lin for v in c.twist[:3])
            or any(abs(v) > ang for v in c.twist[3:])):
        return True
    limits = params.joint_limits
    for n, x in zip(c.names, c.positions):
        lim = limits.get(n)
        if lim is not None and lim.absurd(x, f):
            return True
    return False


def _num(v: Any) -> float:
    if isinstance(v, (str, bytes)):
        raise TypeError('a number is needed')
    return float(v)

"""The safety gate: one pure function from (memory, newest proposal, sensors, joints, time) to
the command actually sent to the robot. No ROS imports, no clock reads, never raises on data.

API
    step(state: GateState, proposal: Proposal | None, sensors: SensorSnapshot,
         measured_joints: Mapping[str, float], params: SafetyParams, now: float,
         ee_limits: EeLimits | None = None) -> tuple[Decision, GateState]
        ee_limits: gate the proposal's end-effector twist too (ee_twist.py); None: not at all
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
             instruction='', instruction_time=nan, ee_twist=None)
        received_time: the node's clock (s) when the message arrived; twist: (vx, vy, vz, wx,
        wy, wz) m/s, rad/s, base frame. instruction: the text the proposer follows ('' = idle);
        instruction_time: when the proposer received it (same clock; NaN = unknown). Not
        validated on construction: the gate checks it.
        ee_twist: the end-effector twist (vx, vy, vz, wx, wy, wz) or None (not part of the
        identity, and never a reason to stop the base or the joints).
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
    inf if none), proposal_sequence; .message: one-line summary (of state and reasons);
    ee_twist (6 floats to send, None without ee_limits); status_state, status_reasons: what
    vla/safety_status reports: state and reasons, raised and extended by the end-effector twist's
    reasons (ee_velocity_limited: at least LIMITED; a refused ee twist: STOP).

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
  End-effector twist (with ee_limits): zero while the state is STOP or ESTOP; otherwise its
     linear and angular parts are scaled to their limits (ee_velocity_limited), and a malformed,
     non-finite or absurd one is refused (zero twist, status STOP).

Pipeline (step): judge_proposal (proposal_rules.py: rules 0, 1, e-stop) -> read_obstacles
(obstacles.py: rule 2, zones) -> gate_base_twist (base_twist.py: rules 3-8) -> the joints
(joint_targets.py) -> rank (gate_types.py: order and status) -> the end-effector twist
(ee_twist.py) -> the Decision and the next GateState.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Mapping

from .base_twist import BaseCommand, gate_base_twist, limit_axis
from .ee_twist import EeLimits, gate_ee_twist
from .gate_types import (EMPTY, MAX_POINT_COORDINATE, NO_SENSORS, ZERO_TWIST, Decision, GateState, GateStatus,
                         Proposal, Reason, SensorSnapshot, SourceReading, rank, source_timeout_reason)
from .joint_targets import JointCommand, follow_joints, hold_joints
from .obstacles import read_obstacles
from .params import SafetyParams
from .proposal_rules import INSTRUCTION_CLOCK_TOLERANCE, ProposalVerdict, judge_proposal

__all__ = [
    'Decision', 'GateState', 'GateStatus', 'INSTRUCTION_CLOCK_TOLERANCE', 'MAX_POINT_COORDINATE', 'Proposal',
    'Reason', 'SensorSnapshot', 'SourceReading', 'ZERO_TWIST', 'await_instruction', 'latch_estop', 'limit_axis',
    'reset_estop', 'source_timeout_reason', 'step',
]


def latch_estop(state: GateState) -> GateState:
    return replace(state, estop=True)


def reset_estop(state: GateState, now: float) -> GateState:
    """Clear the latch. The robot then stands still until a new instruction (awaiting_instruction)."""
    if not state.estop:
        return state
    return replace(await_instruction(state, now), estop=False)


def await_instruction(state: GateState, now: float) -> GateState:
    """Hold the robot until a proposal follows an instruction received after ``now`` (or is idle)."""
    now = _finite_time(now)
    return replace(state, awaiting_since=now, instruction_floor=now, low_streak=0, good_streak=0)


def step(state: GateState, proposal: Proposal | None, sensors: SensorSnapshot,
         measured_joints: Mapping[str, float], params: SafetyParams, now: float,
         ee_limits: EeLimits | None = None) -> tuple[Decision, GateState]:
    """One control tick: the command to send and the gate's next memory (see the module doc)."""
    now = _finite_time(now)
    dt = 0.0 if state.time is None else min(max(now - state.time, 0.0), params.max_dt)
    verdict = judge_proposal(state, proposal, params, now)
    obstacles = read_obstacles(sensors if sensors is not None else NO_SENSORS, params, now)
    base = gate_base_twist(state.twist, verdict.check.twist, not (verdict.full_stop or obstacles.base_stop),
                           state.estop, obstacles, params, dt)
    joints = _gate_joints(state, verdict, measured_joints, params, dt)
    level, reasons = rank((*verdict.reasons, *obstacles.reasons, *base.reasons, *joints.reasons), base.stop)
    ee_twist, status_state, status_reasons = _gate_ee_twist(proposal, level, reasons, ee_limits)
    memory = verdict.memory
    vx, vy, wz = base.twist
    decision = Decision(
        state=level, reasons=reasons, twist=(vx, vy, 0.0, 0.0, 0.0, wz),
        joint_names=joints.names, joint_positions=joints.positions,
        nearest_obstacle_distance=obstacles.nearest, confidence=memory.confidence,
        time_since_last_proposal=(now - memory.last_valid_time) if memory.last_valid_time is not None else math.inf,
        proposal_sequence=memory.sequence, ee_twist=ee_twist, status_state=status_state,
        status_reasons=status_reasons)
    return decision, _remember(memory, now, base, joints)


def _gate_joints(state: GateState, verdict: ProposalVerdict, measured_joints: Mapping[str, float] | None,
                 params: SafetyParams, dt: float) -> JointCommand:
    """Follow the proposal's joint targets within the limits, or hold the joints when fully stopped
    (obstacle sources gate the base only)."""
    measured = measured_joints if measured_joints is not None else EMPTY
    check = verdict.check
    if verdict.full_stop:
        return hold_joints(state.hold, state.joint_targets, check.names, measured, params)
    return follow_joints(check.names, check.positions, state.joint_targets, measured, params, dt)


def _gate_ee_twist(proposal: Proposal | None, level: GateStatus, reasons: tuple[str, ...],
                   limits: EeLimits | None) -> tuple[tuple[float, ...] | None, GateStatus, tuple[str, ...]]:
    """(ee twist to send, status state, status reasons): the end-effector twist moves only while the
    robot may (below STOP); a limited one is LIMITED, a refused one stops the arm (STOP)."""
    if limits is None:
        return None, level, reasons
    ee_twist, ee_reasons = gate_ee_twist(proposal.ee_twist if proposal is not None else None,
                                         level >= GateStatus.STOP, limits)
    if not ee_reasons:
        return ee_twist, level, reasons
    raised = GateStatus.LIMITED if ee_reasons == ('ee_velocity_limited',) else GateStatus.STOP
    return ee_twist, max(level, raised), reasons + ee_reasons


def _remember(memory: GateState, now: float, base: BaseCommand, joints: JointCommand) -> GateState:
    """The next memory: the proposal side (judge_proposal's) with this tick's time and outputs."""
    return replace(memory, time=now, twist=base.twist, joint_targets=joints.targets, hold=joints.hold)


def _finite_time(now: float) -> float:
    now = float(now)
    if not math.isfinite(now):
        raise ValueError(f'now must be a finite time in seconds, got {now}')
    return now

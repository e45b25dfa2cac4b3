"""The joint rules of the gate (gate.py's doc): follow the proposal within the limits, or hold. No ROS imports.

    follow_joints(names, positions, targets, measured, params, dt) -> JointCommand
        targets clamped to the position limits and to max_velocity * dt from the reference (the
        previous commanded target, else the measured position)
    hold_joints(previous_hold, targets, names, measured, params) -> JointCommand
        while fully stopped: the joints hold where they were when the stop began
    JointCommand(names, positions, targets, hold, reasons)
        targets: every joint's last commanded target (the gate's memory); hold: the latched hold
        (None when not stopped)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .gate_types import Reason
from .params import FrozenMap, SafetyParams


@dataclass(frozen=True)
class JointCommand:
    names: tuple[str, ...]
    positions: tuple[float, ...]
    targets: Mapping[str, float]
    hold: Mapping[str, float] | None = None
    reasons: tuple[str, ...] = ()


def follow_joints(names: Sequence[str], positions: Sequence[float], targets: Mapping[str, float],
                  measured: Mapping[str, float], params: SafetyParams, dt: float) -> JointCommand:
    """A joint without a limit is dropped (unknown_joint) unless allow_unknown_joints; one with
    neither a previous target nor a measured position is dropped (joint_state_unknown)."""
    limits = params.joint_limits
    targets = dict(targets)
    reasons: list[str] = []
    out_names: list[str] = []
    out_pos: list[float] = []
    for n, x in zip(names, positions):
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
    return JointCommand(tuple(out_names), tuple(out_pos), FrozenMap(targets), None, tuple(reasons))


def hold_joints(previous_hold: Mapping[str, float] | None, targets: Mapping[str, float], names: Sequence[str],
                measured: Mapping[str, float], params: SafetyParams) -> JointCommand:
    """On the first stopped tick latch the measured position (else the last commanded target) of
    every joint commanded before or named in ``names``, clamped to limits; then repeat that hold
    (a hold that followed the measurement would let an arm sag)."""
    limits = params.joint_limits
    hold = dict(previous_hold) if previous_hold is not None else {}
    reasons: list[str] = []
    for n in (*targets, *names):
        if n in hold or (n not in limits and not params.allow_unknown_joints):
            continue
        m = _finite_or_none(measured.get(n))
        x = m if m is not None else targets.get(n)
        if x is None:
            continue
        lim = limits.get(n)
        if lim is not None and lim.clamp(x) != x:
            x = lim.clamp(x)
            reasons.append(Reason.JOINT_POSITION_LIMITED)
        hold[n] = x
    return JointCommand(tuple(hold), tuple(hold.values()), FrozenMap({**targets, **hold}), FrozenMap(hold),
                        tuple(reasons))


def _finite_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None

"""KeywordPolicy: a rule-based language baseline (no learning, no vision).

It maps instructions onto base velocities and joint targets through a phrase table, for any
embodiment: targets are addressed by Twist field ('linear.x') and joint role ('head_pan' matches
a joint named 'head_pan' or 'head_pan_joint'); dimensions an embodiment lacks are ignored.

====================================================  =========================================
Phrase (examples; case and punctuation ignored)        Command
====================================================  =========================================
stop, halt, freeze, stand still, don't move, wait      zero twist, hold joints, ``done=True``
walk/go/move forward, go straight, ahead, come here    linear.x = +speed * max
go back, back up, move backward(s), reverse            linear.x = -speed * max
turn/rotate left (right), turn around (= left)         angular.z = +(-) turn_speed * max
strafe/sidestep/step/move left (right)                 linear.y = +(-) speed * max
look left / right / up / down, look straight ahead     head_pan = +0.8 / -0.8, head_tilt = -0.4 / +0.5, centre
raise your left / right / both arm(s), hands up        shoulder pitch -2.6 rad (up), elbow 0.1
lower your arms, put your hands down                   arm joints back to nominal (0)
wave (with your left hand), say hello                  arm out sideways, elbow oscillating at 1 Hz
====================================================  =========================================

Clauses joined by "and", "then", commas, ... run together (a turn and a forward walk make an
arc; for a dimension set twice, the later clause wins); "stop" anywhere wins over everything.
An instruction with a clause the table does not know ("make me a sandwich"), a negation
("don't turn left"), or nothing the embodiment can execute ("raise your arm" on a wheeled base)
is *unmatched*: zero twist, joints held, confidence ``unknown_confidence`` (default 0), so the
safety gate stops the robot. Matched instructions report ``confidence`` (default 1).

Pose commands (look, raise, lower) report ``done`` once every targeted joint is measured within
``done_tolerance`` of its target. Time enters only through ``obs.stamp`` (the wave's phase).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import TWIST_FIELDS, Embodiment
from vla_policy.policies.common import (check_chunk, check_fraction, find_joint, held_joint_positions,
                                        joint_bounds, nominal_joint_positions, twist_bounds)

# Joint targets in radians, in the conventions of the suite's humanoid (vla_description):
# head_pan + = left, head_tilt + = down, shoulder_pitch - = forward/up, left roll + = outward,
# right roll - = outward, elbow + = flex. They are clipped into each embodiment's bounds.
LOOK_PAN = 0.8
LOOK_UP_TILT = -0.4
LOOK_DOWN_TILT = 0.5
ARM_RAISED = {'shoulder_pitch': -2.6, 'shoulder_roll': 0.2, 'elbow': 0.1}   # roll sign: outward
ARM_LOWERED = {'shoulder_pitch': 0.0, 'shoulder_roll': 0.0, 'elbow': 0.0}
WAVE_POSE = {'shoulder_pitch': -0.3, 'shoulder_roll': 1.4, 'elbow': 1.2}    # roll sign: outward
WAVE_ELBOW_AMPLITUDE = 0.4   # rad
WAVE_FREQUENCY = 1.0         # Hz


@dataclass
class Command:
    """What an instruction asks for, independent of any embodiment.

    twist:   Twist field -> signed fraction of that field's limit (-1..1) before the speed options.
    joints:  joint role -> target position, rad.
    wave:    'left' / 'right' to wave that arm (its elbow oscillates), else None.
    stop:    the instruction is "stop" (done at once).
    intents: names of the matched phrases, in order (for logs and tests).
    """

    twist: dict[str, float] = field(default_factory=dict)
    joints: dict[str, float] = field(default_factory=dict)
    wave: str | None = None
    stop: bool = False
    intents: list[str] = field(default_factory=list)

    def merge(self, other: 'Command') -> None:
        self.twist.update(other.twist)
        self.joints.update(other.joints)
        if other.wave:
            for jn in [j for j in self.joints if j.startswith(tuple(f'{s}_' for s in _sides(other.wave)))]:
                del self.joints[jn]
            self.wave = other.wave
        self.stop = self.stop or other.stop
        self.intents += other.intents


def _sides(side: str) -> tuple[str, ...]:
    return ('left', 'right') if side == 'both' else (side,)


def _arm(side: str, pose: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for s in _sides(side):
        for part, v in pose.items():
            out[f'{s}_{part}'] = -v if (part == 'shoulder_roll' and s == 'right') else v
    return out


def _side(text: str, default: str) -> str:
    left, right = re.search(r'\bleft\b', text), re.search(r'\bright\b', text)
    if re.search(r'\bboth\b', text) or (left and right):
        return 'both'
    if left:
        return 'left'
    if right:
        return 'right'
    return default


def _arms_side(text: str) -> str:
    return _side(text, 'both' if re.search(r'\b(arms|hands)\b', text) else 'right')


_ARM = r'(arm|arms|hand|hands)'
_LOOK = r'(look|glance|gaze|turn (your |the )?head|pan (your |the )?head|tilt (your |the )?head)'
_TURN = r'(turn|rotate|spin|yaw|pivot)'
_STRAFE = r'(strafe|sidestep|side step|slide|shuffle|step|move|go|walk)'

# (name, pattern, command factory). Ordered: the first pattern that matches a clause wins.
_RULES: list[tuple[str, re.Pattern, object]] = [(n, re.compile(p), f) for n, p, f in [
    ('look_ahead', rf'\b{_LOOK}\b.*\b(straight|ahead|forward|front|center|centre)\b|\bcent(er|re) (your |the )?head\b',
     lambda t: Command(joints={'head_pan': 0.0, 'head_tilt': 0.0})),
    ('look_left', rf'\b{_LOOK}\b.*\bleft\b', lambda t: Command(joints={'head_pan': LOOK_PAN})),
    ('look_right', rf'\b{_LOOK}\b.*\bright\b', lambda t: Command(joints={'head_pan': -LOOK_PAN})),
    ('look_up', rf'\b{_LOOK}\b.*\bup(ward|wards)?\b', lambda t: Command(joints={'head_tilt': LOOK_UP_TILT})),
    ('look_down', rf'\b{_LOOK}\b.*\bdown(ward|wards)?\b', lambda t: Command(joints={'head_tilt': LOOK_DOWN_TILT})),
    ('wave', r'\b(wave|waving|say (hi|hello|hey|bye|goodbye)|greet)\b', lambda t: Command(wave=_side(t, 'right'))),
    ('lower_arms', rf'\b(lower|drop)\b.*\b{_ARM}\b|\b{_ARM} down\b',
     lambda t: Command(joints=_arm(_arms_side(t), ARM_LOWERED))),
    ('raise_arms', rf'\b(raise|lift)\b.*\b{_ARM}\b|\b{_ARM} up\b|\b{_ARM} (in the air|above your head)\b',
     lambda t: Command(joints=_arm(_arms_side(t), ARM_RAISED))),
    ('turn_left', rf'\b{_TURN}\b.*\bleft\b|\bturn around\b', lambda t: Command(twist={'angular.z': 1.0})),
    ('turn_right', rf'\b{_TURN}\b.*\bright\b', lambda t: Command(twist={'angular.z': -1.0})),
    ('strafe_left', rf'\b{_STRAFE}\b.*\bleft\b', lambda t: Command(twist={'linear.y': 1.0})),
    ('strafe_right', rf'\b{_STRAFE}\b.*\bright\b', lambda t: Command(twist={'linear.y': -1.0})),
    ('backward', r'\b(back up|backward|backwards|reverse|retreat|(go|move|walk|step|drive|head) back)\b|^back$',
     lambda t: Command(twist={'linear.x': -1.0})),
    ('forward', r'\b(forward|forwards|ahead|straight|come here|come to me|approach|advance)\b'
                r'|^(walk|go|move|drive|proceed)$',
     lambda t: Command(twist={'linear.x': 1.0})),
]]
_STOP = re.compile(r'\b(stop|halt|freeze|stand still|hold still|stay still|stay put|stay there|'
                   r'dont move|do not move|wait|cancel|abort)\b')
_NEGATION = re.compile(r'\b(dont|do not|never|no|not)\b')
_CLAUSE_SPLIT = re.compile(r'\b(?:and then|then|and|while|after that|also)\b|[,;.!?]')


def normalize_instruction(text: str) -> str:
    """Lowercase ASCII words separated by single spaces; apostrophes dropped ("don't" -> "dont")."""
    text = text[:2000].casefold().replace("'", '').replace('\u2019', '')
    text = re.sub(r'[^a-z0-9,;.!?]+', ' ', text)
    return re.sub(r'\b(left and right|right and left)\b', 'both', text).strip()


def parse_instruction(text: str) -> Command | None:
    """The command an instruction asks for, or None when it is not (entirely) in the phrase table."""
    norm = normalize_instruction(text)
    if _STOP.search(norm):
        return Command(stop=True, intents=['stop'])
    if not norm or _NEGATION.search(norm):
        return None
    out = Command()
    clauses = [c.strip() for c in _CLAUSE_SPLIT.split(norm) if c and c.strip()]
    if not clauses:
        return None
    for clause in clauses:
        for name, pattern, make in _RULES:
            if pattern.search(clause):
                cmd = make(clause)
                cmd.intents = [name]
                out.merge(cmd)
                break
        else:
            return None
    return out


class KeywordPolicy(Policy):
    """Rule-based language baseline; see the module docstring for the phrase table.

    Args:
        confidence: confidence reported for a matched instruction (default 1.0).
        unknown_confidence: confidence for an unmatched one (default 0.0).
        speed: fraction of the embodiment's linear speed limit used for walking (0..1).
        turn_speed: fraction of the angular speed limit used for turning (0..1).
        chunk_size, step_dt: shape of the returned chunk (the wave moves along it).
        hold: joints the instruction does not move are held at their 'measured' position
            (falling back to nominal) or at 'nominal'.
        done_tolerance: rad; a pose command is done when all its joints are this close.
        nominal: joint name -> rest position overriding 0 (clipped into bounds).
    """

    name = 'keyword'
    #: the arena's colours and objects: instructions naming others are refused
    vocabulary = 'vla_arena'

    def __init__(self, embodiment: Embodiment, *, confidence: float = 1.0, unknown_confidence: float = 0.0,
                 speed: float = 0.5, turn_speed: float = 0.5, chunk_size: int = 10, step_dt: float = 0.1,
                 hold: str = 'measured', done_tolerance: float = 0.05,
                 nominal: Mapping[str, float] | None = None) -> None:
        self.embodiment = embodiment
        self.confidence = check_fraction('confidence', confidence)
        self.unknown_confidence = check_fraction('unknown_confidence', unknown_confidence)
        self.speed = check_fraction('speed', speed)
        self.turn_speed = check_fraction('turn_speed', turn_speed)
        self.chunk_size, self.step_dt = check_chunk(chunk_size, step_dt)
        if hold not in ('measured', 'nominal'):
            raise ValueError(f"hold must be 'measured' or 'nominal', got {hold!r}")
        self.hold = hold
        self.done_tolerance = check_fraction('done_tolerance', done_tolerance, 0.0, math.pi)
        self.nominal = nominal_joint_positions(embodiment, nominal)
        self._joint_bounds = joint_bounds(embodiment)
        self._twist_bounds = twist_bounds(embodiment)

    # -- parsing against this embodiment --------------------------------------------------------
    def parse(self, instruction: str) -> Command | None:
        """The instruction's command, or None when unmatched or when nothing of it is executable here."""
        cmd = parse_instruction(instruction)
        if cmd is None or cmd.stop:
            return cmd
        executable = (any(f in self._twist_bounds for f in cmd.twist)
                      or any(find_joint(self.embodiment, r) for r in cmd.joints)
                      or (cmd.wave is not None and any(find_joint(self.embodiment, r)
                                                       for r in _arm(cmd.wave, WAVE_POSE))))
        return cmd if executable else None

    def _twist(self, cmd: Command) -> list[float]:
        twist = [0.0] * 6
        for f, frac in cmd.twist.items():
            if f not in self._twist_bounds:
                continue
            lo, hi = self._twist_bounds[f]
            scale = self.turn_speed if f.startswith('angular') else self.speed
            v = frac * scale * (hi if frac >= 0 else abs(lo))
            twist[TWIST_FIELDS.index(f)] = float(np.clip(v, lo, hi))
        return twist

    def _clip_joint(self, jn: str, v: float) -> float:
        lo, hi = self._joint_bounds[jn]
        return float(np.clip(v, lo, hi))

    # -- Policy ---------------------------------------------------------------------------------
    def infer(self, obs: Observation) -> PolicyOutput:
        cmd = self.parse(obs.instruction)
        held = held_joint_positions(self.nominal, obs.joint_positions) if self.hold == 'measured' \
            else dict(self.nominal)
        if cmd is None:
            return self._output([0.0] * 6, [held], self.unknown_confidence, done=False)
        if cmd.stop:
            return self._output([0.0] * 6, [held], self.confidence, done=True)

        targets = dict(held)
        posed: dict[str, float] = {}
        for role, v in cmd.joints.items():
            jn = find_joint(self.embodiment, role)
            if jn is not None:
                targets[jn] = posed[jn] = self._clip_joint(jn, v)
        steps = [targets]
        if cmd.wave:
            steps = self._wave_steps(cmd.wave, targets, obs.stamp)
        done = bool(posed) and not cmd.twist and not cmd.wave and all(
            jn in obs.joint_positions and abs(float(obs.joint_positions[jn]) - v) <= self.done_tolerance
            for jn, v in posed.items())
        return self._output(self._twist(cmd), steps, self.confidence, done=done)

    def _wave_steps(self, side: str, base: dict[str, float], stamp: float) -> list[dict[str, float]]:
        pose = {}
        for role, v in _arm(side, WAVE_POSE).items():
            jn = find_joint(self.embodiment, role)
            if jn is not None:
                pose[jn] = self._clip_joint(jn, v)
        elbows = [jn for jn in (find_joint(self.embodiment, f'{s}_elbow') for s in _sides(side)) if jn]
        stamp = stamp if math.isfinite(stamp) else 0.0
        steps = []
        for k in range(self.chunk_size):
            step = dict(base)
            step.update(pose)
            swing = WAVE_ELBOW_AMPLITUDE * math.sin(2 * math.pi * WAVE_FREQUENCY * (stamp + k * self.step_dt))
            for elbow in elbows:
                step[elbow] = self._clip_joint(elbow, WAVE_POSE['elbow'] + swing)
            steps.append(step)
        return steps

    def _output(self, twist: list[float], steps: list[dict[str, float]], confidence: float,
                done: bool) -> PolicyOutput:
        rows = [self.embodiment.encode(twist, s) for s in steps]
        if len(rows) == 1:
            rows = rows * self.chunk_size
        actions = np.clip(np.stack(rows), -1.0, 1.0).astype(np.float32)
        return PolicyOutput(actions, confidence, step_dt=self.step_dt, done=done)

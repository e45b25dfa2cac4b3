"""Joint limits for the safety gate: from the URDF (read by vla_description) or YAML, and clamping. No ROS imports.

API
    JointLimit(lower, upper, max_velocity)          frozen; rad or m, rad/s or m/s
        .clamp(x) -> float                          x limited to [lower, upper]
        .absurd(x, factor) -> bool                  x is beyond ``factor`` x the limit (a broken policy)
        .continuous -> bool                         no position limits (lower=-inf, upper=+inf)
    parse_urdf_limits(urdf_xml: str) -> dict[str, JointLimit]
    limits_from_dict(data: Mapping[str, Mapping]) -> dict[str, JointLimit]
    combine_limits(*maps) -> dict[str, JointLimit]  intersection: the tightest limit of every joint
    JointLimitError(UrdfError)                      the message says what to fix (a ValueError)

URDF rules: the URDF is read by vla_description.urdf_info (the suite's one URDF reader), whose
errors come out of parse_urdf_limits as JointLimitError. The gate then takes
  * every revolute, prismatic and continuous joint that does not ``<mimic>`` another (fixed,
    floating and planar joints and mimic joints are not commandable: the gate treats them as
    unknown joints); each needs ``<limit velocity=...>``, the gate's speed limit;
  * the position limits tightened by ``<safety_controller soft_lower_limit soft_upper_limit>``
    (where ROS controllers start to push back, inside the hard ones; soft limits never widen).

YAML form (also what the node reads from ``joint_limits.<joint>.<field>`` parameters)::

    head_pan_joint: {lower: -1.2, upper: 1.2, max_velocity: 3.0}
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from vla_description.urdf_info import UrdfError, parse_joints

YAML_FIELDS = ('lower', 'upper', 'max_velocity')


class JointLimitError(UrdfError):
    """A joint limit description (URDF or YAML) is malformed; the message says how to fix it."""


@dataclass(frozen=True)
class JointLimit:
    """Position limits (rad or m) and the speed limit (rad/s or m/s) of one joint."""

    lower: float
    upper: float
    max_velocity: float

    def __post_init__(self) -> None:
        for name in YAML_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise JointLimitError(f'{name} must be a number, got {value!r}')
            object.__setattr__(self, name, float(value))
        if math.isnan(self.lower) or math.isnan(self.upper):
            raise JointLimitError('lower/upper must not be NaN; use -.inf/.inf for a continuous joint')
        if self.lower > self.upper:
            raise JointLimitError(f'lower ({self.lower}) is above upper ({self.upper}); swap them')
        if self.lower == math.inf or self.upper == -math.inf:
            raise JointLimitError(f'[{self.lower}, {self.upper}] contains no position')
        if not (math.isfinite(self.max_velocity) and self.max_velocity > 0.0):
            raise JointLimitError(f'max_velocity must be finite and > 0, got {self.max_velocity}')

    @property
    def continuous(self) -> bool:
        return math.isinf(self.lower) and math.isinf(self.upper)

    def clamp(self, x: float) -> float:
        return min(max(x, self.lower), self.upper)

    def absurd(self, x: float, factor: float) -> bool:
        """True when ``x`` lies beyond ``factor`` times the largest limit magnitude (or range).

        Finite bounds only; a joint with an infinite bound is never absurd.
        """
        if math.isinf(self.lower) or math.isinf(self.upper):
            return False
        scale = max(abs(self.lower), abs(self.upper), self.upper - self.lower)
        return abs(x) > factor * scale


def parse_urdf_limits(urdf_xml: str) -> dict[str, JointLimit]:
    """Limits of every commandable joint of a URDF document (e.g. ``robot_description``).

    Raises JointLimitError when the text is not a URDF or a commandable joint's limits are
    unusable (no velocity, velocity <= 0, lower > upper); the message names the joint.
    """
    try:
        joints = parse_joints(urdf_xml)
    except UrdfError as exc:
        raise JointLimitError(str(exc)) from None
    limits: dict[str, JointLimit] = {}
    for j in joints.values():
        if not j.movable or j.mimic is not None:
            continue
        where = f"joint '{j.name}' ({j.type})"
        if not math.isfinite(j.velocity):
            raise JointLimitError(f'{where} has no speed limit: the gate needs <limit velocity="..."> '
                                  'on every commanded joint; add it')
        lower, upper = j.lower, j.upper
        if j.soft_lower is not None:
            lower, upper = max(lower, j.soft_lower), min(upper, j.soft_upper)
        try:
            limits[j.name] = JointLimit(lower, upper, j.velocity)
        except JointLimitError as exc:
            hint = ' (after applying <safety_controller> soft limits)' if j.soft_lower is not None else ''
            raise JointLimitError(f'{where}{hint}: {exc}') from None
    return limits


def limits_from_dict(data: Mapping[str, Mapping]) -> dict[str, JointLimit]:
    """{joint: {lower, upper, max_velocity}} (YAML / ROS parameters) -> {joint: JointLimit}."""
    if not isinstance(data, Mapping):
        raise JointLimitError('joint limits must be a mapping {joint: {lower, upper, max_velocity}}, '
                              f'got {type(data).__name__}')
    out: dict[str, JointLimit] = {}
    for joint, entry in data.items():
        if isinstance(entry, JointLimit):
            out[str(joint)] = entry
            continue
        if not isinstance(entry, Mapping):
            raise JointLimitError(f"joint_limits.{joint} must be a mapping with {', '.join(YAML_FIELDS)}")
        unknown = sorted(set(entry) - set(YAML_FIELDS))
        missing = [k for k in YAML_FIELDS if k not in entry]
        if unknown or missing:
            raise JointLimitError(f"joint_limits.{joint}: needs exactly {', '.join(YAML_FIELDS)}"
                                  + (f"; unknown {unknown}" if unknown else '')
                                  + (f"; missing {missing}" if missing else '')
                                  + ' (use -.inf/.inf as lower/upper for a continuous joint)')
        try:
            out[str(joint)] = JointLimit(entry['lower'], entry['upper'], entry['max_velocity'])
        except JointLimitError as exc:
            raise JointLimitError(f'joint_limits.{joint}: {exc}') from None
    return out


def combine_limits(*maps: Mapping[str, JointLimit]) -> dict[str, JointLimit]:
    """Every joint of every map, with the tightest bounds and speed any map gives it."""
    out: dict[str, JointLimit] = {}
    for m in maps:
        for name, lim in m.items():
            have = out.get(name)
            if have is None:
                out[name] = lim
                continue
            lower, upper = max(have.lower, lim.lower), min(have.upper, lim.upper)
            if lower > upper:
                raise JointLimitError(f"joint '{name}': the limit sources do not overlap "
                                      f'([{have.lower}, {have.upper}] vs [{lim.lower}, {lim.upper}]); fix one of them')
            out[name] = JointLimit(lower, upper, min(have.max_velocity, lim.max_velocity))
    return out

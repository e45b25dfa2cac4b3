"""Parameters of the safety gate: one frozen, validated dataclass. No ROS imports.

API
    SafetyParams(**fields)                 frozen; __post_init__ raises SafetyParamsError with a fix
    SafetyParams.from_dict(data, *, urdf=None, strict=True) -> SafetyParams
        ``data``: flat ROS parameters ({'max_linear_x': 0.5, 'footprint': [x1, y1, ...],
        'joint_limits.head_pan_joint.lower': -1.2, 'source_timeouts.scan': 0.3, ...}) or the same
        nested ({'joint_limits': {'head_pan_joint': {...}}}); a ``<node>: ros__parameters:``
        wrapper is not accepted, pass what is under ``ros__parameters``. ``urdf``: robot_description
        text whose limits are intersected with ``joint_limits``. ``strict``: unknown keys are
        an error (the node passes False when the dict also holds its own topics and rates).
    SafetyParams.to_dict() -> dict         flat ROS-parameter form; from_dict(to_dict()) == self
    SafetyParams.footprint_shape           collision.Footprint built once from footprint/radius
    parameter_specs() -> list[dict]        {name, default, description, min, max} of every scalar
        and list parameter, in declaration order: ``vla_common.params.ParamSpec(**spec)`` takes
        them as they are. ``footprint``'s default is () (radius used): declare it by type,
        an empty list has no ROS type. ``joint_limits.*`` and ``source_timeouts.*`` are maps;
        read them by prefix.
    SafetyParamsError(ValueError)
    FrozenMap(mapping)                     the read-only (and picklable) dict of joint_limits,
                                           source_timeouts and the gate's state

Defaults suit a small humanoid walking at <= 0.5 m/s (vla_humanoid): see the field comments
and config/safety_node.yaml.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from .collision import Footprint, polygon_problem
from .joint_limits import JointLimit, JointLimitError, combine_limits, limits_from_dict, parse_urdf_limits


class SafetyParamsError(ValueError):
    """Safety parameters are unusable; the message lists every problem and how to fix it."""


class FrozenMap(Mapping):
    """A read-only dict that, unlike types.MappingProxyType, can be copied, deep-copied and pickled."""

    __slots__ = ('_data',)

    def __init__(self, data: Mapping | None = None) -> None:
        object.__setattr__(self, '_data', dict(data or {}))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

    def get(self, key, default=None):
        return self._data.get(key, default)

    def __setattr__(self, name, value):
        raise AttributeError('FrozenMap is read-only')

    def __reduce__(self):
        return (FrozenMap, (self._data,))

    def __repr__(self) -> str:
        return f'FrozenMap({self._data!r})'


def _p(default: Any, description: str, lo: float | None = None, hi: float | None = None):
    return field(default=default, metadata={'description': description, 'min': lo, 'max': hi})


_MAPS = ('joint_limits', 'source_timeouts')


@dataclass(frozen=True)
class SafetyParams:
    # -- confidence gate ----------------------------------------------------------------------
    confidence_threshold: float = _p(0.5, 'A proposal with confidence below this is low, [0, 1]', 0.0, 1.0)
    trigger_count: int = _p(1, 'Consecutive low-confidence proposals that block the robot, >= 1', 1, 1000)
    release_count: int = _p(3, 'Consecutive good proposals that release a block (also after an e-stop reset), >= 1',
                            1, 1000)
    # -- watchdog -----------------------------------------------------------------------------
    command_timeout: float = _p(0.3, 'The robot ramps to a stop when the newest proposal is older than this, s',
                                0.01, 10.0)
    max_dt: float = _p(0.2, 'Longest tick interval credited to acceleration and joint speed limits; a late tick '
                            'counts as this long, so a stalled timer cannot release a jump, s', 0.001, 10.0)
    out_of_range_factor: float = _p(10.0, 'A proposal value beyond this many times its limit is rejected as '
                                          'out_of_range_proposal instead of clamped, >= 1', 1.0, 1e6)
    # -- base velocity (per axis, base frame) ---------------------------------------------------
    max_linear_x: float = _p(0.5, '|linear.x| limit, m/s; the twist is scaled as a whole to fit (path kept)', 0.0, 10.0)
    max_linear_y: float = _p(0.3, '|linear.y| limit, m/s; 0 = non-holonomic (linear.y always 0)', 0.0, 10.0)
    max_angular_z: float = _p(1.0, '|angular.z| limit, rad/s', 0.0, 20.0)
    max_linear_accel: float = _p(1.0, 'Speed-up limit of linear.x and linear.y, m/s^2', 0.001, 100.0)
    max_linear_decel: float = _p(2.0, 'Slow-down limit of linear.x and linear.y (stop ramps too), m/s^2', 0.001, 100.0)
    max_angular_accel: float = _p(2.0, 'Speed-up limit of angular.z, rad/s^2', 0.001, 200.0)
    max_angular_decel: float = _p(4.0, 'Slow-down limit of angular.z (stop ramps too), rad/s^2', 0.001, 200.0)
    # -- footprint and zones ----------------------------------------------------------------------
    footprint: tuple = _p((), 'Footprint polygon in the base frame, flat [x1, y1, x2, y2, ...] m, >= 3 '
                              'vertices in order; empty = a circle of footprint_radius')
    footprint_radius: float = _p(0.3, 'Radius of the circular footprint (used when footprint is empty), m', 0.01, 10.0)
    stop_margin: float = _p(0.1, 'STOP zone = footprint grown by this; an obstacle in it zeroes the twist at once, m',
                            0.0, 5.0)
    slowdown_margin: float = _p(0.4, 'SLOWDOWN zone = footprint grown by this (>= stop_margin), m', 0.0, 10.0)
    slowdown_ratio: float = _p(0.5, 'In the SLOWDOWN zone each axis is held to this fraction of its limit, [0, 1]',
                               0.0, 1.0)
    min_points: int = _p(1, 'Obstacle points needed to trigger a zone or a collision (noise filter), >= 1', 1, 100000)
    time_to_collision: float = _p(1.5, 'The twist is scaled so the STOP zone is not reached within this '
                                       'horizon along the commanded motion; 0 = off, s', 0.0, 10.0)
    collision_time_step: float = _p(0.1, 'Time step of the time-to-collision simulation, s', 0.01, 1.0)
    # -- obstacle sources ---------------------------------------------------------------------------
    source_timeout: float = _p(0.5, 'A required source older than this (or never received) stops the base, s',
                               0.01, 10.0)
    source_timeouts: Mapping[str, float] = field(
        default_factory=dict, metadata={'description': 'Per-source override of source_timeout, {source: s}'})
    # -- joints -----------------------------------------------------------------------------------
    joint_limits: Mapping[str, JointLimit] = field(
        default_factory=dict, metadata={'description': '{joint: {lower, upper, max_velocity}}, rad or m, rad/s or m/s'})
    allow_unknown_joints: bool = _p(False, 'Pass targets of joints without limits (finite only) '
                                           'instead of dropping them')

    def __post_init__(self) -> None:
        problems: list[str] = []
        for f in fields(self):
            if f.name in _MAPS or f.name == 'footprint':
                continue
            value = getattr(self, f.name)
            coerced, problem = _coerce(f.name, f.type, value)
            if problem:
                problems.append(problem)
                continue
            object.__setattr__(self, f.name, coerced)
            lo, hi = f.metadata.get('min'), f.metadata.get('max')
            if f.type in ('int', 'float') and not (lo <= coerced <= hi):
                problems.append(f'{f.name}={coerced} is outside [{lo}, {hi}]: {f.metadata["description"]}')
        try:
            object.__setattr__(self, 'footprint', _footprint_pairs(self.footprint))
        except ValueError as exc:
            problems.append(str(exc))
        if not problems and self.slowdown_margin < self.stop_margin:
            problems.append(f'slowdown_margin ({self.slowdown_margin}) < stop_margin ({self.stop_margin}); '
                            'the SLOWDOWN zone must contain the STOP zone: raise slowdown_margin')
        try:
            object.__setattr__(self, 'joint_limits', FrozenMap(limits_from_dict(self.joint_limits)))
        except JointLimitError as exc:
            problems.append(str(exc))
        try:
            object.__setattr__(self, 'source_timeouts', FrozenMap(_timeouts(self.source_timeouts)))
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise SafetyParamsError('invalid safety parameters:\n  - ' + '\n  - '.join(problems))
        shape = Footprint(self.footprint, None) if self.footprint else Footprint(None, self.footprint_radius)
        object.__setattr__(self, '_footprint_shape', shape)

    @property
    def footprint_shape(self) -> Footprint:
        return self._footprint_shape

    def timeout_of(self, source: str) -> float:
        """source_timeout of ``source`` (its override if it has one)."""
        return self.source_timeouts.get(source, self.source_timeout)

    # -- conversions ----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, urdf: str | None = None, strict: bool = True) -> 'SafetyParams':
        if not isinstance(data, Mapping):
            raise SafetyParamsError(f'safety parameters must be a mapping, got {type(data).__name__}')
        flat = _flatten(data)
        names = {f.name for f in fields(cls)} - set(_MAPS)
        kwargs: dict[str, Any] = {}
        joints: dict[str, dict[str, Any]] = {}
        timeouts: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in flat.items():
            if key.startswith('joint_limits.') and key.count('.') >= 2:
                joint, attr = key[len('joint_limits.'):].rsplit('.', 1)
                joints.setdefault(joint, {})[attr] = value
            elif key.startswith('source_timeouts.') and len(key) > len('source_timeouts.'):
                timeouts[key[len('source_timeouts.'):]] = value
            elif key in names:
                kwargs[key] = value
            else:
                unknown.append(key)
        if strict and unknown:
            raise SafetyParamsError(f'unknown safety parameter(s) {sorted(unknown)}; known: {sorted(names)}, '
                                    'joint_limits.<joint>.{lower,upper,max_velocity}, source_timeouts.<source>')
        try:
            limits = limits_from_dict(joints)
            if urdf is not None:
                limits = combine_limits(parse_urdf_limits(urdf), limits)
        except JointLimitError as exc:
            raise SafetyParamsError(f'invalid joint limits: {exc}') from None
        return cls(**kwargs, joint_limits=limits, source_timeouts=timeouts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in _MAPS:
                continue
            value = getattr(self, f.name)
            out[f.name] = [c for xy in value for c in xy] if f.name == 'footprint' else value
        for joint, lim in self.joint_limits.items():
            out[f'joint_limits.{joint}.lower'] = lim.lower
            out[f'joint_limits.{joint}.upper'] = lim.upper
            out[f'joint_limits.{joint}.max_velocity'] = lim.max_velocity
        for source, timeout in self.source_timeouts.items():
            out[f'source_timeouts.{source}'] = timeout
        return out


def parameter_specs() -> list[dict[str, Any]]:
    """Scalar and list parameters as {name, default, description, min, max} (declaration order)."""
    out = []
    for f in fields(SafetyParams):
        if f.name in _MAPS:
            continue
        out.append({'name': f.name, 'default': f.default, 'description': f.metadata['description'],
                    'min': f.metadata.get('min'), 'max': f.metadata.get('max')})
    return out


# -- helpers ------------------------------------------------------------------------------------
def _coerce(name: str, kind: str, value: Any) -> tuple[Any, str | None]:
    if kind == 'bool':
        if isinstance(value, bool):
            return value, None
        return value, f'{name} must be true or false, got {value!r}'
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value, f'{name} must be a number, got {value!r}'
    if kind == 'int':
        if isinstance(value, float) and not value.is_integer():
            return value, f'{name} must be a whole number, got {value!r}'
        return int(value), None
    value = float(value)
    if not math.isfinite(value):
        return value, f'{name} must be finite, got {value}'
    return value, None


def _footprint_pairs(value: Any) -> tuple[tuple[float, float], ...]:
    if value is None:
        return ()
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f'footprint must be a list [x1, y1, x2, y2, ...], got {value!r}') from None
    if not items:
        return ()
    if all(isinstance(v, (list, tuple)) for v in items):
        flat = [c for v in items for c in v]
        if any(len(v) != 2 for v in items):
            raise ValueError('footprint: every vertex needs exactly (x, y)')
    else:
        flat = items
    if any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in flat):
        raise ValueError(f'footprint must hold numbers only, got {value!r}')
    if len(flat) % 2:
        raise ValueError(f'footprint has {len(flat)} numbers; give x and y of each vertex: [x1, y1, x2, y2, ...]')
    pairs = tuple((float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2))
    problem = polygon_problem(pairs)
    if problem:
        raise ValueError(problem + ' (or leave footprint empty and set footprint_radius)')
    return pairs


def _timeouts(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError(f'source_timeouts must be a mapping {{source: seconds}}, got {type(value).__name__}')
    out = {}
    for source, t in value.items():
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (math.isfinite(t) and t > 0.0):
            raise ValueError(f'source_timeouts.{source} must be a number of seconds > 0, got {t!r}')
        out[str(source)] = float(t)
    return out


def _flatten(data: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f'{prefix}{key}'
        if isinstance(value, Mapping) and not isinstance(value, JointLimit):
            out.update(_flatten(value, name + '.'))
        elif isinstance(value, JointLimit):
            out.update({f'{name}.{k}': getattr(value, k) for k in ('lower', 'upper', 'max_velocity')})
        else:
            out[name] = value
    return out

"""Embodiments: map a policy's normalised action vector onto a robot's commands.

An embodiment YAML lists one entry per action dimension, in order. Each entry names
its target (a Twist field or a joint) and the statistics that undo the normalisation:

    name: vla_humanoid
    base_frame: base_link
    normalization: bounds          # bounds: [-1, 1] <-> [low, high];  mean_std: x = mean + std * a
    actions:
      - {name: base_linear_x, target: twist.linear.x, low: -0.5, high: 0.5}
      - {name: left_elbow, target: joint/left_elbow_joint, low: 0.0, high: 2.5}

Targets: ``twist.<field>`` (the base, Twist in base_frame), ``joint/<name>`` (a position
target), ``ee_twist.<field>`` (an end-effector velocity for a downstream servo, MoveIt Servo's
TwistStamped convention, expressed in ``ee_frame``: OpenVLA-style end-effector deltas divided
by the control period).

This is the role of OpenVLA's ``unnorm_key``: the same network drives another robot
through another embodiment file with that robot's statistics.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

TWIST_FIELDS = ('linear.x', 'linear.y', 'linear.z', 'angular.x', 'angular.y', 'angular.z')
NORMALIZATIONS = ('bounds', 'mean_std')


class EmbodimentError(ValueError):
    """An embodiment description is malformed; the message says how to fix it."""


@dataclass(frozen=True)
class ActionDim:
    name: str
    target: str          # 'twist.<field>' or 'joint/<joint name>'
    low: float
    high: float
    mean: float
    std: float


@dataclass(frozen=True)
class EmbodiedAction:
    """Physical command decoded from one action vector (REP 103 units).

    twist:            (vx, vy, vz, wx, wy, wz) in the base frame, m/s and rad/s.
    joint_names:      joints with a position target.
    joint_positions:  targets for those joints, rad or m.
    """

    twist: tuple[float, float, float, float, float, float]
    joint_names: tuple[str, ...]
    joint_positions: tuple[float, ...]
    #: (vx, vy, vz, wx, wy, wz) of the end effector in the embodiment's ee_frame; None when
    #: the embodiment has no ee_twist targets
    ee_twist: tuple[float, float, float, float, float, float] | None = None

    @property
    def is_finite(self) -> bool:
        return bool(np.all(np.isfinite(self.twist)) and np.all(np.isfinite(self.joint_positions))
                    and (self.ee_twist is None or np.all(np.isfinite(self.ee_twist))))


ZERO_TWIST = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


class Embodiment:
    """A robot's action space: decoding, encoding and the bounds of each dimension."""

    def __init__(self, name: str, dims: list[ActionDim], normalization: str = 'bounds',
                 base_frame: str = 'base_link', ee_frame: str = '') -> None:
        if normalization not in NORMALIZATIONS:
            raise EmbodimentError(f"normalization '{normalization}' unknown; use one of {NORMALIZATIONS}")
        if not dims:
            raise EmbodimentError(f"embodiment '{name}' has no actions; list at least one under 'actions:'")
        seen = set()
        for d in dims:
            if d.target in seen:
                raise EmbodimentError(f"embodiment '{name}': target '{d.target}' appears twice")
            seen.add(d.target)
        self.name = name
        self.dims = tuple(dims)
        self.normalization = normalization
        self.base_frame = base_frame
        self._ee_idx = [(i, TWIST_FIELDS.index(d.target[len('ee_twist.'):]))
                        for i, d in enumerate(dims) if d.target.startswith('ee_twist.')]
        if self._ee_idx and not ee_frame:
            raise EmbodimentError(f"embodiment '{name}' has ee_twist targets but no 'ee_frame': name the frame "
                                  "the end-effector twist is expressed in (e.g. ee_frame: tool0)")
        self.ee_frame = ee_frame
        self._twist_idx = [(i, TWIST_FIELDS.index(d.target[len('twist.'):]))
                           for i, d in enumerate(dims) if d.target.startswith('twist.')]
        self._joint_idx = [i for i, d in enumerate(dims) if d.target.startswith('joint/')]
        self.joint_names = tuple(dims[i].target[len('joint/'):] for i in self._joint_idx)
        self._low = np.array([d.low for d in dims], dtype=np.float64)
        self._high = np.array([d.high for d in dims], dtype=np.float64)
        self._mean = np.array([d.mean for d in dims], dtype=np.float64)
        self._std = np.array([d.std for d in dims], dtype=np.float64)

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, source: str = '<dict>') -> 'Embodiment':
        if not isinstance(data, dict):
            raise EmbodimentError(f'{source}: expected a mapping at the top level')
        name = str(data.get('name', Path(source).stem))
        norm = str(data.get('normalization', 'bounds'))
        raw = data.get('actions')
        if not isinstance(raw, list):
            raise EmbodimentError(f"{source}: 'actions' must be a list of {{name, target, low, high}} entries")
        dims = []
        for k, e in enumerate(raw):
            where = f'{source}: actions[{k}]'
            if not isinstance(e, dict) or 'target' not in e:
                raise EmbodimentError(f"{where} needs a 'target' (twist.linear.x ... or joint/<name>)")
            target = str(e['target'])
            if target.startswith('twist.') or target.startswith('ee_twist.'):
                prefix = target.split('.', 1)[0]
                if target.split('.', 1)[1] not in TWIST_FIELDS:
                    raise EmbodimentError(f"{where}: '{target}' is not a Twist field; use "
                                          f"{prefix}.{{{','.join(TWIST_FIELDS)}}}")
            elif not (target.startswith('joint/') and len(target) > len('joint/')):
                raise EmbodimentError(f"{where}: target '{target}' must be twist.<field>, ee_twist.<field> "
                                      'or joint/<joint name>')
            try:
                low, high = float(e.get('low', -1.0)), float(e.get('high', 1.0))
                mean = float(e.get('mean', (low + high) / 2.0))
                std = float(e.get('std', (high - low) / 2.0))
            except (TypeError, ValueError) as exc:
                raise EmbodimentError(f'{where}: low/high/mean/std must be numbers ({exc})') from None
            if not (np.isfinite([low, high, mean, std]).all() and high > low and std > 0):
                raise EmbodimentError(f'{where}: need finite low < high and std > 0, got low={low} high={high} std={std}')
            dims.append(ActionDim(str(e.get('name', target)), target, low, high, mean, std))
        return cls(name, dims, norm, str(data.get('base_frame', 'base_link')), str(data.get('ee_frame', '')))

    @classmethod
    def from_yaml(cls, path: str | Path) -> 'Embodiment':
        path = Path(path)
        if not path.is_file():
            raise EmbodimentError(f"embodiment file '{path}' not found; bundled ones: {', '.join(bundled_embodiments())}")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise EmbodimentError(f"embodiment file '{path}' is not valid YAML: {exc}") from None
        return cls.from_dict(data, str(path))

    def to_dict(self) -> dict:
        return {'name': self.name, 'base_frame': self.base_frame, 'ee_frame': self.ee_frame,
                'normalization': self.normalization,
                'actions': [{'name': d.name, 'target': d.target, 'low': d.low, 'high': d.high,
                             'mean': d.mean, 'std': d.std} for d in self.dims]}

    # -- conversions ------------------------------------------------------------------------
    @property
    def action_dim(self) -> int:
        return len(self.dims)

    @property
    def low(self) -> np.ndarray:
        return self._low.copy()

    @property
    def high(self) -> np.ndarray:
        return self._high.copy()

    def unnormalize(self, a: np.ndarray) -> np.ndarray:
        """Normalised (..., D) -> physical units (not clamped: limits are the safety node's job)."""
        a = np.asarray(a, dtype=np.float64)
        self._check_dim(a)
        if self.normalization == 'bounds':
            return self._low + (a + 1.0) * 0.5 * (self._high - self._low)
        return self._mean + a * self._std

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Physical (..., D) -> normalised; the inverse of :meth:`unnormalize`."""
        x = np.asarray(x, dtype=np.float64)
        self._check_dim(x)
        if self.normalization == 'bounds':
            return 2.0 * (x - self._low) / (self._high - self._low) - 1.0
        return (x - self._mean) / self._std

    def decode(self, a: np.ndarray) -> EmbodiedAction:
        """One normalised action vector (D,) -> EmbodiedAction."""
        x = self.unnormalize(np.asarray(a).reshape(-1))
        twist = [0.0] * 6
        for i, f in self._twist_idx:
            twist[f] = float(x[i])
        ee = None
        if self._ee_idx:
            ee = [0.0] * 6
            for i, f in self._ee_idx:
                ee[f] = float(x[i])
            ee = tuple(ee)
        return EmbodiedAction(tuple(twist), self.joint_names, tuple(float(x[i]) for i in self._joint_idx), ee)

    @property
    def has_ee_twist(self) -> bool:
        return bool(self._ee_idx)

    def encode(self, twist, joint_positions: dict[str, float], ee_twist=None) -> np.ndarray:
        """Physical command -> normalised action vector (D,), e.g. to record demonstrations.

        Joints missing from ``joint_positions`` (and the ee twist when None) are encoded at
        their mean/centre."""
        x = self._mean.copy() if self.normalization == 'mean_std' else (self._low + self._high) / 2.0
        for i, f in self._twist_idx:
            x[i] = float(twist[f])
        if ee_twist is not None:
            for i, f in self._ee_idx:
                x[i] = float(ee_twist[f])
        for i in self._joint_idx:
            jn = self.dims[i].target[len('joint/'):]
            if jn in joint_positions:
                x[i] = float(joint_positions[jn])
        return self.normalize(x).astype(np.float32)

    def _check_dim(self, a: np.ndarray) -> None:
        if a.ndim == 0 or a.shape[-1] != self.action_dim:
            raise ValueError(f"embodiment '{self.name}' has {self.action_dim} action dims, got an array of shape {a.shape}")


def bundled_config_dir(kind: str) -> Path:
    """Directory of vla_core's bundled YAMLs of one ``kind`` ('embodiments', 'vocabularies')."""
    try:  # installed through colcon / a ROS install
        from ament_index_python.packages import get_package_share_directory
        d = Path(get_package_share_directory('vla_core')) / 'config' / kind
        if d.is_dir():
            return d
    except Exception:  # noqa: BLE001 - ament index absent or package not installed: use the source tree
        pass
    return Path(__file__).resolve().parent.parent / 'config' / kind


def embodiments_dir() -> Path:
    """Directory of the embodiment YAMLs bundled with vla_core."""
    return bundled_config_dir('embodiments')


def bundled_embodiments() -> list[str]:
    d = embodiments_dir()
    return sorted(p.stem for p in d.glob('*.yaml')) if d.is_dir() else []


def load_embodiment(name_or_path: str) -> Embodiment:
    """Load an embodiment by bundled name (e.g. 'vla_humanoid') or by YAML path."""
    p = Path(name_or_path)
    if p.suffix in ('.yaml', '.yml') or p.is_file():
        return Embodiment.from_yaml(p)
    return Embodiment.from_yaml(embodiments_dir() / f'{name_or_path}.yaml')

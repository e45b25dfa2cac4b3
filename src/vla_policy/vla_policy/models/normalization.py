"""Normalisation of the state input, from an embodiment or from dataset statistics.

Normalisation lives in the processor, never in the network. Plain NumPy.

Statistics (``stats.json`` of a checkpoint) use LeRobot's layout, one block per batch key::

    {"observation.state": {"names": ["head_pan_joint", ...], "mean": [...], "std": [...]},
     "action":            {"mean": [...], "std": [...], "min": [...], "max": [...]}}
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from vla_policy.models.constants import ACTION, OBS_STATE

#: normalised state values are clipped to this magnitude, so one wild reading cannot blow up the net
STATE_CLIP = 5.0


class StateNormalizer:
    """Measured joint positions (name -> value) -> (len(names),) float32, ``(x - mean) / std``.

    A joint missing from the measurement, or measured as NaN/inf, is read as its mean
    (0 after normalisation).
    """

    def __init__(self, names: Sequence[str], mean: Sequence[float], std: Sequence[float]) -> None:
        names = tuple(str(n) for n in names)
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        std = np.asarray(std, dtype=np.float64).reshape(-1)
        if not (len(names) == mean.size == std.size):
            raise ValueError(f'state statistics: {len(names)} names but {mean.size} means and {std.size} stds')
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError('state statistics: mean and std must be finite and std > 0 '
                             f'(std={std.tolist()})')
        self.names = names
        self.mean = mean
        self.std = std

    @classmethod
    def from_embodiment(cls, embodiment, names: Sequence[str]) -> 'StateNormalizer':
        """Each joint normalised like its action dimension: bounds -> centre/half-range, mean_std -> mean/std."""
        by_joint = {d.target[len('joint/'):]: d for d in embodiment.dims if d.target.startswith('joint/')}
        missing = [n for n in names if n not in by_joint]
        if missing:
            raise ValueError(f"state joints {missing} are not joints of embodiment '{embodiment.name}' "
                             f"(its joints: {', '.join(embodiment.joint_names) or 'none'}); "
                             'give their statistics in stats.json or drop them from state_joints')
        dims = [by_joint[n] for n in names]
        if embodiment.normalization == 'mean_std':
            mean, std = [d.mean for d in dims], [d.std for d in dims]
        else:
            mean, std = [(d.low + d.high) / 2 for d in dims], [(d.high - d.low) / 2 for d in dims]
        return cls(names, mean, std)

    @classmethod
    def from_stats(cls, block: Mapping[str, Any]) -> 'StateNormalizer':
        if not isinstance(block, Mapping) or not {'names', 'mean', 'std'} <= set(block):
            raise ValueError(f"'{OBS_STATE}' statistics need 'names', 'mean' and 'std' lists")
        return cls(block['names'], block['mean'], block['std'])

    def to_stats(self) -> dict[str, Any]:
        return {'names': list(self.names), 'mean': self.mean.tolist(), 'std': self.std.tolist()}

    def __call__(self, joint_positions: Mapping[str, float]) -> np.ndarray:
        x = np.array([_finite_or(joint_positions.get(n), m) for n, m in zip(self.names, self.mean)],
                     dtype=np.float64)
        return np.clip((x - self.mean) / self.std, -STATE_CLIP, STATE_CLIP).astype(np.float32)


class ActionRescaler:
    """The model's action range [-1, 1] spans the dataset's actions, not the robot's whole range.

    ``SeedVLAConfig.action_normalization='dataset'``: per action dimension, the training actions
    (stats.json ``action`` min / max, physical units) in the embodiment's normalised space give a
    centre and a half-width (widened by ``MARGIN``, at least ``FLOOR``); the model learns
    ``(a - centre) / half``, the policy returns ``centre + half * y``. A joint that only ever moves
    within a tenth of its URDF range gets ten times the resolution. The policy's output stays in
    the embodiment's normalised space: the contract with the nodes does not change.
    """

    MARGIN = 1.1
    FLOOR = 0.05

    def __init__(self, centre: Sequence[float], half: Sequence[float]) -> None:
        self.centre = np.asarray(centre, dtype=np.float64)
        self.half = np.asarray(half, dtype=np.float64)

    @classmethod
    def from_stats(cls, block: Mapping[str, Any], embodiment) -> 'ActionRescaler':
        """From stats.json's ``action`` block (physical min / max per dimension) and the embodiment
        the model was trained for."""
        if not isinstance(block, Mapping) or 'min' not in block or 'max' not in block:
            got = sorted(block) if isinstance(block, Mapping) else block
            raise ValueError(f"action_normalization 'dataset' needs the dataset's action min and max "
                             f"('{ACTION}' block of stats.json); got {got}")
        lo = embodiment.normalize(np.asarray(block['min'], dtype=np.float64))
        hi = embodiment.normalize(np.asarray(block['max'], dtype=np.float64))
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        return cls((lo + hi) / 2.0, np.maximum((hi - lo) / 2.0 * cls.MARGIN, cls.FLOOR))

    def to_model(self, actions: np.ndarray) -> np.ndarray:
        """Embodiment-normalised actions (..., D) -> the model's targets in [-1, 1]."""
        return np.clip((np.asarray(actions, dtype=np.float64) - self.centre) / self.half, -1.0, 1.0)

    def to_embodiment(self, y: np.ndarray) -> np.ndarray:
        """The model's outputs (..., D) -> embodiment-normalised actions in [-1, 1], float32."""
        return np.clip(self.centre + self.half * np.asarray(y, dtype=np.float64), -1.0, 1.0).astype(np.float32)


def make_action_rescaler(config, stats: Mapping[str, Any] | None, trained_for) -> ActionRescaler | None:
    """The config's action rescaler: None for 'bounds', else from ``stats`` (ValueError if they lack it)."""
    if getattr(config, 'action_normalization', 'bounds') == 'bounds':
        return None
    return ActionRescaler.from_stats((stats or {}).get(ACTION), trained_for)


def _finite_or(v: object, default: float) -> float:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


def validate_stats(stats: Mapping[str, Any], state_joints: Sequence[str], action_dim: int) -> dict[str, Any]:
    """Check a stats mapping against a model's state joints and action_dim; returns a plain dict.

    Raises ValueError naming the block and the mismatch.
    """
    if not isinstance(stats, Mapping):
        raise ValueError(f'statistics must be a mapping of batch key -> block, got {type(stats).__name__}')
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in stats.items()}
    if OBS_STATE in out:
        norm = StateNormalizer.from_stats(out[OBS_STATE])
        if norm.names != tuple(state_joints):
            raise ValueError(f"'{OBS_STATE}' statistics are for joints {list(norm.names)} but the model's "
                             f'state_joints are {list(state_joints)}')
    if ACTION in out:
        block = out[ACTION]
        if not isinstance(block, Mapping):
            raise ValueError(f"'{ACTION}' statistics must be a mapping of stat name -> list")
        for key, values in block.items():
            if key == 'names':
                if not (isinstance(values, (list, tuple)) and len(values) == action_dim):
                    raise ValueError(f"'{ACTION}.names' must list {action_dim} names (the model's action_dim)")
                continue
            arr = None
            if isinstance(values, (list, tuple, np.ndarray)):
                try:
                    arr = np.asarray(values, dtype=np.float64).reshape(-1)
                except (TypeError, ValueError):
                    pass
            if arr is None or arr.size != action_dim or not np.isfinite(arr).all():
                raise ValueError(f"'{ACTION}.{key}' statistics must be {action_dim} finite numbers (the model's "
                                 f'action_dim), got {values!r:.80}')
    return out

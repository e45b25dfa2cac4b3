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

"""Helpers shared by the rule-based policies: nominal and held joint positions, limits, options.

Plain Python + NumPy.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from vla_core.embodiment import Embodiment


def joint_bounds(embodiment: Embodiment) -> dict[str, tuple[float, float]]:
    """Joint name -> (low, high) of its action dimension."""
    return {d.target[len('joint/'):]: (d.low, d.high) for d in embodiment.dims if d.target.startswith('joint/')}


def twist_bounds(embodiment: Embodiment) -> dict[str, tuple[float, float]]:
    """Twist field ('linear.x', ...) -> (low, high), for the fields the embodiment commands."""
    return {d.target[len('twist.'):]: (d.low, d.high) for d in embodiment.dims if d.target.startswith('twist.')}


def find_joint(embodiment: Embodiment, role: str) -> str | None:
    """The embodiment's joint for a role name: 'head_pan' matches 'head_pan' or 'head_pan_joint'."""
    for jn in embodiment.joint_names:
        if jn == role or jn == f'{role}_joint':
            return jn
    return None


def nominal_joint_positions(embodiment: Embodiment, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The rest pose: 0 (the URDF zero pose) clipped into each joint's bounds, then ``overrides``."""
    bounds = joint_bounds(embodiment)
    out = {jn: float(np.clip(0.0, lo, hi)) for jn, (lo, hi) in bounds.items()}
    for jn, v in (overrides or {}).items():
        if jn not in bounds:
            raise ValueError(f"nominal position given for '{jn}', which is not a joint of embodiment "
                             f"'{embodiment.name}' (its joints: {', '.join(bounds) or 'none'})")
        if not _is_real(v):
            raise ValueError(f"nominal position of '{jn}' must be a finite number, got {v!r}")
        out[jn] = float(v)
    return out


def held_joint_positions(nominal: Mapping[str, float], measured: Mapping[str, float]) -> dict[str, float]:
    """Measured (finite) positions where known, nominal ones elsewhere."""
    out = dict(nominal)
    for jn in out:
        v = measured.get(jn)
        if _is_real(v):
            out[jn] = float(v)
    return out


def check_fraction(name: str, value: object, lo: float = 0.0, hi: float = 1.0) -> float:
    if not (_is_real(value) and lo <= float(value) <= hi):
        raise ValueError(f'{name} must be a number in [{lo}, {hi}], got {value!r}')
    return float(value)


def check_chunk(chunk_size: object, step_dt: object) -> tuple[int, float]:
    if not (isinstance(chunk_size, int) and not isinstance(chunk_size, bool) and 1 <= chunk_size <= 1000):
        raise ValueError(f'chunk_size must be an integer in [1, 1000], got {chunk_size!r}')
    if not (_is_real(step_dt) and 0 < float(step_dt) <= 10):
        raise ValueError(f'step_dt must be seconds in (0, 10], got {step_dt!r}')
    return chunk_size, float(step_dt)


def _is_real(v: object) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) and math.isfinite(v)

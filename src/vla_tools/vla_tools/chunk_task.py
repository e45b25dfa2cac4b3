"""The chunk benchmark's task: a smooth reference a(t) and a policy that predicts it (vla_tools.chunk_benchmark).

:class:`Reference` is the correct action over time (sines, one per action dimension of the
``diff_drive`` embodiment); :class:`TrackingPolicy` answers an observation stamped ``t_obs`` with a
chunk that follows it from ``t_obs`` on, plus a prediction error that is smooth along the chunk and
new for every chunk, as a learned policy's is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_core.policy import Observation, Policy, PolicyOutput

EMBODIMENT = 'diff_drive'
INSTRUCTION = 'follow the reference'


@dataclass(frozen=True)
class Reference:
    """a(t)_d = amplitude_d * sin(2 pi freq_d (t - origin) + phase_d), normalised action units."""

    amplitude: tuple[float, ...] = (0.6, 0.5)
    freq_hz: tuple[float, ...] = (0.2, 0.31)
    phase: tuple[float, ...] = (0.0, 1.0)
    origin: float = 0.0

    def __call__(self, t: Any) -> np.ndarray:
        """(..., D) for times ``t`` (s, any shape)."""
        t = np.asarray(t, dtype=np.float64)[..., None] - self.origin
        return np.asarray(self.amplitude) * np.sin(2 * np.pi * np.asarray(self.freq_hz) * t + np.asarray(self.phase))

    @property
    def dim(self) -> int:
        return len(self.amplitude)

    def max_step(self, dt: float) -> float:
        """Largest change of any dimension within ``dt`` seconds (bound: amplitude * omega * dt)."""
        return float(max(a * 2 * np.pi * f for a, f in zip(self.amplitude, self.freq_hz)) * dt)


class TrackingPolicy(Policy):
    """A stand-in for a VLA that predicts future motion: the correct action is ``reference(t)``.

    For an observation stamped ``t_obs`` it returns T = ``horizon`` steps, step k =
    reference(t_obs + k * step_dt) + error_k, where error_k = b + c * k / (T - 1) with b, c drawn
    from N(0, noise) per dimension for every call: smooth along the chunk, different from chunk
    to chunk (what stitching chunks turns into steps and ensembling averages out). The image is
    not looked at; only the stamp matters, so the task needs no rendering.
    """

    name = 'tracking'

    def __init__(self, reference: Reference, horizon: int = 10, step_dt: float = 0.1, noise: float = 0.02,
                 seed: int = 0) -> None:
        if horizon < 1 or not step_dt > 0 or noise < 0:
            raise ValueError(f'TrackingPolicy needs horizon >= 1, step_dt > 0, noise >= 0; got {horizon}, '
                             f'{step_dt}, {noise}')
        self.reference, self.horizon, self.step_dt, self.noise = reference, horizon, step_dt, noise
        self._rng = np.random.default_rng(seed)

    def infer(self, obs: Observation) -> PolicyOutput:
        k = np.arange(self.horizon)
        actions = self.reference(obs.stamp + k * self.step_dt)
        if self.noise > 0:
            b, c = self._rng.normal(0.0, self.noise, (2, self.reference.dim))
            actions = actions + b + np.outer(k / max(1, self.horizon - 1), c)
        return PolicyOutput(np.clip(actions, -1.0, 1.0).astype(np.float32), 1.0, self.step_dt)

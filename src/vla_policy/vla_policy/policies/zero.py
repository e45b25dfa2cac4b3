"""ZeroPolicy: zero base velocity and the nominal joint pose, whatever the instruction. For idle."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import ZERO_TWIST, Embodiment
from vla_policy.policies.common import check_chunk, check_fraction, nominal_joint_positions


class ZeroPolicy(Policy):
    """Always zero twist and joints at their nominal pose (0 clipped into bounds, or ``nominal``).

    Args:
        confidence: reported confidence, 0..1 (default 1: it is sure that standing still is idle).
        chunk_size, step_dt: shape of the (constant) chunk.
        nominal: joint name -> position overriding the rest pose.
    """

    name = 'zero'

    def __init__(self, embodiment: Embodiment, *, confidence: float = 1.0, chunk_size: int = 1,
                 step_dt: float = 0.1, nominal: Mapping[str, float] | None = None) -> None:
        self.embodiment = embodiment
        self.confidence = check_fraction('confidence', confidence)
        self.chunk_size, self.step_dt = check_chunk(chunk_size, step_dt)
        action = np.clip(embodiment.encode(ZERO_TWIST, nominal_joint_positions(embodiment, nominal)), -1.0, 1.0)
        self._actions = np.repeat(action[None, :], self.chunk_size, axis=0).astype(np.float32)

    def infer(self, obs: Observation) -> PolicyOutput:
        return PolicyOutput(self._actions.copy(), self.confidence, step_dt=self.step_dt)

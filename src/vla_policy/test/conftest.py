"""Shared fixtures of the vla_policy tests (pure Python: no ROS needed)."""
from __future__ import annotations

import numpy as np
import pytest

from vla_core.policy import Observation
from vla_core.embodiment import load_embodiment


@pytest.fixture(scope='session')
def humanoid():
    return load_embodiment('vla_humanoid')


@pytest.fixture(scope='session')
def diff_drive():
    return load_embodiment('diff_drive')


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def make_obs(instruction: str = 'walk forward', image=None, joints=None, stamp: float = 0.0, rng=None) -> Observation:
    if image is None:
        rng = rng or np.random.default_rng(0)
        image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return Observation(image=image, instruction=instruction, joint_positions=joints or {}, stamp=stamp)


@pytest.fixture
def obs_factory():
    return make_obs


@pytest.fixture(scope='session')
def small_config():
    """Overrides for a small seed_vla model (fast to build, tiny checkpoints); defaults are tested separately."""
    return dict(vision=dict(image_size=32, channels=(8, 16)), language=dict(vocab_size=256, dim=16),
                fusion=dict(hidden_dim=32), chunk_size=4)

import os

os.environ.setdefault('MUJOCO_GL', 'egl')   # before anything imports mujoco

import pytest  # noqa: E402

from vla_sim.sim import HumanoidSim  # noqa: E402


@pytest.fixture(scope='session')
def sim():
    """One simulator for the session (each test resets it)."""
    s = HumanoidSim()
    yield s
    s.close()

"""Shared fixtures of the vla_core tests."""
from __future__ import annotations

import pytest

from vla_core.embodiment import load_embodiment


@pytest.fixture(scope='session')
def humanoid():
    return load_embodiment('vla_humanoid')


@pytest.fixture(scope='session')
def diff_drive():
    return load_embodiment('diff_drive')

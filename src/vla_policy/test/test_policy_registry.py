"""The policy registry: names, 'module:Class' targets, entry points, errors that list the choices."""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

from vla_policy import policy_types
from vla_core.policy import Observation, Policy, PolicyOutput
from vla_policy.errors import PolicyLoadError
from vla_policy.policies.keyword import KeywordPolicy
from vla_policy.policies.zero import ZeroPolicy
from vla_policy.policy_types import (ENTRY_POINT_GROUP, available_policies, policy_class, register_policy,
                                     unregister_policy)
from vla_policy.registry import make_policy


class EchoPolicy(Policy):
    """A policy defined outside the package (for target and registration tests)."""

    name = 'echo'

    def __init__(self, embodiment, *, value: float = 0.0):
        self.value = value
        self.dim = embodiment.action_dim

    def infer(self, obs: Observation) -> PolicyOutput:
        return PolicyOutput(np.full((1, self.dim), self.value, np.float32), 1.0)


class NotAPolicy:
    def __init__(self, embodiment):
        pass


def test_builtin_names():
    names = available_policies()
    assert {'keyword', 'seed_vla', 'zero', 'lerobot', 'openvla', 'openpi_remote', 'openvla_rest'} <= set(names)
    assert names == sorted(names)


def test_every_builtin_resolves_to_a_policy_class():
    for name in policy_types._BUILTIN:
        cls = policy_class(name)
        assert issubclass(cls, Policy) and cls.name == name


def test_make_by_name(humanoid):
    assert isinstance(make_policy('keyword', humanoid), KeywordPolicy)
    assert isinstance(make_policy(' zero ', 'vla_humanoid'), ZeroPolicy)   # embodiment by bundled name


def test_module_class_target(humanoid, obs_factory):
    p = make_policy(f'{__name__}:EchoPolicy', humanoid, value=0.25)
    assert isinstance(p, EchoPolicy)
    assert p.infer(obs_factory()).actions.shape == (1, 11)
    assert isinstance(make_policy('vla_policy.policies.zero:ZeroPolicy', humanoid), ZeroPolicy)


def test_unknown_name_lists_choices_and_install_hint(humanoid):
    with pytest.raises(PolicyLoadError) as exc:
        make_policy('seed_vlaa', humanoid)
    msg = str(exc.value)
    assert "unknown policy 'seed_vlaa'" in msg and "Did you mean 'seed_vla'" in msg
    assert 'keyword, ' in msg and 'seed_vla' in msg and 'zero' in msg
    assert ENTRY_POINT_GROUP in msg and 'pip install' in msg


@pytest.mark.parametrize('spec, match', [
    ('', 'non-empty'),
    ('no_such_module_xyz:Thing', "module 'no_such_module_xyz' is not installed.*pip install"),
    ('vla_policy.policies.zero:Nope', "'Nope' not found.*ZeroPolicy"),
    (f'{__name__}:NotAPolicy', 'not a subclass of vla_core.policy.Policy'),
    ('./no/such/checkpoint', 'does not exist'),
    ('ftp://host/policy', 'unsupported URL scheme'),
])
def test_bad_specs(humanoid, spec, match):
    with pytest.raises(PolicyLoadError, match=match):
        make_policy(spec, humanoid)


def test_unknown_and_bad_options(humanoid):
    with pytest.raises(PolicyLoadError, match=r"does not take option\(s\) confidance; it accepts: confidence"):
        make_policy('keyword', humanoid, confidance=0.5)
    with pytest.raises(PolicyLoadError, match=r'confidence must be a number in \[0.0, 1.0\]'):
        make_policy('keyword', humanoid, confidence=2.0)
    with pytest.raises(PolicyLoadError, match='chunk_size'):
        make_policy('zero', humanoid, chunk_size=0)


def test_bad_embodiment():
    with pytest.raises(PolicyLoadError, match='could not load embodiment'):
        make_policy('zero', 'no_such_robot')
    with pytest.raises(PolicyLoadError, match='must be a vla_core.embodiment.Embodiment'):
        make_policy('zero', 42)


def test_register_policy_decorator_and_target(humanoid):
    try:
        register_policy('echo_test', f'{__name__}:EchoPolicy')
        assert 'echo_test' in available_policies()
        assert isinstance(make_policy('echo_test', humanoid), EchoPolicy)

        @register_policy('echo_class')
        class Echo2(EchoPolicy):
            pass
        assert isinstance(make_policy('echo_class', humanoid), Echo2)
        with pytest.raises(ValueError, match='already registered'):
            register_policy('echo_test', 'vla_policy.policies.zero:ZeroPolicy')
        with pytest.raises(ValueError, match='invalid'):
            register_policy('a/b', f'{__name__}:EchoPolicy')
        with pytest.raises(ValueError, match='not a subclass'):
            register_policy('bad', NotAPolicy)
    finally:
        unregister_policy('echo_test')
        unregister_policy('echo_class')
    assert 'echo_test' not in available_policies()


def test_entry_points_are_discovered(monkeypatch, humanoid):
    eps = metadata.EntryPoints([
        metadata.EntryPoint('third_party', f'{__name__}:EchoPolicy', ENTRY_POINT_GROUP),
        metadata.EntryPoint('broken_plugin', 'no_such_plugin_pkg.mod:Policy', ENTRY_POINT_GROUP),
    ])
    monkeypatch.setattr(policy_types.metadata, 'entry_points',
                        lambda group=None: eps if group == ENTRY_POINT_GROUP else metadata.EntryPoints([]))
    try:
        assert {'third_party', 'broken_plugin'} <= set(available_policies(refresh=True))
        assert isinstance(make_policy('third_party', humanoid, value=1.0), EchoPolicy)
        with pytest.raises(PolicyLoadError, match="broken_plugin.*failed to import.*Reinstall"):
            make_policy('broken_plugin', humanoid)
    finally:
        monkeypatch.undo()
        available_policies(refresh=True)
    assert 'third_party' not in available_policies()


def test_import_stays_light():
    code = ("import sys, numpy as np\n"
            "import vla_policy\n"
            "from vla_policy import make_policy, load_embodiment, Observation, available_policies, SeedVLAConfig\n"
            "p = make_policy('keyword', load_embodiment('vla_humanoid'))\n"
            "p.infer(Observation(np.zeros((4, 4, 3), np.uint8), 'walk forward'))\n"
            "SeedVLAConfig()\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "assert 'rclpy' not in sys.modules\n")
    subprocess.run([sys.executable, '-c', code], check=True, timeout=60)

"""VLA policies: the policy interface, embodiments, a registry, and PyTorch policies. Plain Python, importable without ROS.

``import vla_policy`` is light (NumPy, PyYAML): names are resolved on first use, and PyTorch is
imported only when a PyTorch policy is made or a checkpoint is read.

    from vla_policy import make_policy, load_embodiment, Observation
    policy = make_policy('keyword', load_embodiment('vla_humanoid'))
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    # the interface
    'Observation': 'vla_core.policy', 'PolicyOutput': 'vla_core.policy', 'Policy': 'vla_core.policy',
    'Embodiment': 'vla_core.embodiment', 'EmbodimentError': 'vla_core.embodiment',
    'load_embodiment': 'vla_core.embodiment', 'bundled_embodiments': 'vla_core.embodiment',
    # registry and checkpoints
    'PolicyLoadError': 'vla_policy.errors',
    'make_policy': 'vla_policy.registry', 'available_policies': 'vla_policy.policy_types',
    'register_policy': 'vla_policy.policy_types',
    'save_checkpoint': 'vla_policy.checkpoint', 'load_checkpoint': 'vla_policy.checkpoint',
    # policies
    'KeywordPolicy': 'vla_policy.policies.keyword', 'ZeroPolicy': 'vla_policy.policies.zero',
    'SeedVLAPolicy': 'vla_policy.policies.seed_vla',
    'SeedVLAConfig': 'vla_policy.models.configuration_seed_vla',
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vla_policy' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""A policy to run in this simulator, from the spec a command line gives (lockstep evaluation,
vla_learning's evaluate, ``python -m vla_tools.sim_benchmark``)."""
from __future__ import annotations

import inspect

from vla_policy.policy_types import policy_class
from vla_policy.registry import make_policy
from vla_sim.expert import ScriptedExpert


def build_policy(spec: str, sim, embodiment, **options):
    """'scripted_expert', a vla_policy registry name / checkpoint, or 'package.module:Class'.
    ``options`` go to :func:`vla_policy.registry.make_policy` (e.g. ``backend='onnx'`` for a checkpoint)."""
    if spec in ('scripted_expert', 'expert'):
        return ScriptedExpert(embodiment, sim=sim)
    try:
        if 'sim' in inspect.signature(policy_class(spec)).parameters:
            options['sim'] = sim
    except Exception:  # noqa: BLE001 - checkpoints and odd specs: let make_policy report the problem
        pass
    return make_policy(spec, embodiment, **options)

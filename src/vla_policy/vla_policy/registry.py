"""The policy registry's front door: :func:`make_policy` builds a policy from one *spec* string.

A spec is one of:

* a registered name (``'keyword'``, ``'seed_vla'``, ``'zero'``, or one a third party registered),
* a ``'package.module:ClassName'`` target naming a :class:`~vla_core.policy.Policy` subclass,
* a path to a checkpoint directory written by :func:`vla_policy.checkpoint.save_checkpoint`,
* a remote policy URL (``ws://host:port`` openpi protocol, ``http://host:port/act`` OpenVLA REST),
  built by :func:`vla_policy.remote.make_remote_policy`,
* ``'default'``: the trained checkpoint shipped with vla_policy.

Names and targets are resolved by :mod:`vla_policy.policy_types` (registration, entry points in
the group ``vla_policy.policies``, :func:`~vla_policy.policy_types.register_policy`), which
:mod:`vla_policy.checkpoint` uses too; this module sits above both.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from vla_policy.checkpoint import default_checkpoint_dir, load_checkpoint
from vla_core.policy import Policy
from vla_core.embodiment import Embodiment
from vla_policy.errors import PolicyLoadError
from vla_policy.policy_types import (as_embodiment, construct_policy, import_target, is_policy_name, policy_class,
                                     unknown_policy_message)

# import_target is listed for vla_policy.models.components, which still imports it from here;
# remove it once that module imports it from vla_policy.policy_types
__all__ = ['DEFAULT_POLICY', 'PolicyLoadError', 'import_target', 'make_policy']

#: the trained default checkpoint shipped with vla_policy (checkpoints/default)
DEFAULT_POLICY = 'default'


def make_policy(spec: str | os.PathLike, embodiment: Embodiment | str, **options) -> Policy:
    """Build a policy from a registered name, a ``'module:Class'`` target or a checkpoint directory.

    ``embodiment`` is the robot the policy drives (an :class:`Embodiment`, or a bundled name /
    YAML path for :func:`~vla_core.embodiment.load_embodiment`). ``options`` go to the policy's
    constructor (e.g. ``confidence=0.8`` for 'keyword', ``seed=3`` for 'seed_vla') or, for a
    checkpoint, to :func:`vla_policy.checkpoint.load_checkpoint`. ``backend='auto'`` picks a seed_vla
    checkpoint's backend (its ONNX export when current, else PyTorch) and is ignored by other policies.

    Every expected failure raises :class:`PolicyLoadError` with a message that says how to fix it.
    """
    embodiment = as_embodiment(embodiment)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise PolicyLoadError(f"policy spec must be a non-empty string, got {spec!r}. {unknown_policy_message('')}")
    spec = spec.strip()
    if spec == DEFAULT_POLICY:
        path = default_checkpoint_dir()
        if path is None:
            raise PolicyLoadError("policy 'default': no trained default checkpoint is installed (vla_policy/"
                                  "checkpoints/default); train one (README, 'Learning') or name another policy")
        return load_checkpoint(path, embodiment, **options)
    if options.get('backend') == 'auto' and ('://' in spec or not _looks_like_path(spec)):
        # "the checkpoint's best backend": other policies have no choice to make
        options = {k: v for k, v in options.items() if k != 'backend'}
    if is_policy_name(spec):
        return construct_policy(policy_class(spec), embodiment, options, spec)
    if '://' in spec:
        return _make_remote(spec, embodiment, options)
    if _looks_like_path(spec):
        return load_checkpoint(spec, embodiment, **options)
    raise PolicyLoadError(unknown_policy_message(spec))


def _make_remote(spec: str, embodiment: Embodiment, options: Mapping[str, object]) -> Policy:
    try:  # lazy: the remote clients need websockets and msgpack; without them only remote specs fail
        from vla_policy.remote import is_remote_spec, make_remote_policy
    except ImportError as exc:
        raise PolicyLoadError(f"remote policy '{spec}' needs the remote clients' dependencies ({exc}): "
                              'pip install websockets msgpack') from exc
    if not is_remote_spec(spec):
        raise PolicyLoadError(f"'{spec}': unsupported URL scheme; remote policies use ws://host:port (openpi "
                              'protocol) or http://host:port/act (OpenVLA REST)')
    try:
        policy = make_remote_policy(spec, embodiment, **options)
    except PolicyLoadError:
        raise
    except (ValueError, TypeError) as exc:
        raise PolicyLoadError(f"remote policy '{spec}': {exc}") from exc
    return policy


def _looks_like_path(spec: str) -> bool:
    return (os.sep in spec or '/' in spec or spec.startswith(('.', '~'))
            or Path(spec).expanduser().exists())

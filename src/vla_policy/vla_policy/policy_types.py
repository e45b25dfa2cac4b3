"""Policy types: the names policy classes are registered under, resolved to classes on demand.

A policy type is found by a registered name (``'keyword'``, ``'seed_vla'``, ``'zero'``, or one a
third party registered) or a ``'package.module:ClassName'`` target naming a
:class:`~vla_core.policy.Policy` subclass. Checkpoints name theirs in ``policy_type``;
:func:`vla_policy.registry.make_policy` builds a policy from any spec (names, targets,
checkpoint directories, remote URLs) on top of this module.

Names map to ``'module:Class'`` strings that are imported only when the policy is made, so
``import vla_policy`` never pulls in PyTorch. Third-party packages add policies without editing
this package by declaring an entry point in the group ``vla_policy.policies``::

    # pyproject.toml of my_robot_policies
    [project.entry-points."vla_policy.policies"]
    my_policy = "my_robot_policies.policy:MyPolicy"

or, in code, with :func:`register_policy`. Every policy class is constructed as
``cls(embodiment, **options)`` (:func:`construct_policy`).
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import os
import re
import sys
import threading
from importlib import metadata
from typing import Callable, Mapping

from vla_core.policy import Policy
from vla_core.embodiment import Embodiment, EmbodimentError, load_embodiment
from vla_policy.errors import PolicyLoadError

__all__ = ['ENTRY_POINT_GROUP', 'INSTALL_HINT', 'as_embodiment', 'available_policies', 'construct_policy',
           'import_target', 'is_policy_name', 'policy_class', 'register_policy', 'unknown_policy_message',
           'unregister_policy']

_log = logging.getLogger(__name__)

#: entry-point group through which installed packages contribute policies
ENTRY_POINT_GROUP = 'vla_policy.policies'

#: policies of this package (lazy targets: nothing is imported until a policy is made)
_BUILTIN: dict[str, str] = {
    'keyword': 'vla_policy.policies.keyword:KeywordPolicy',
    'seed_vla': 'vla_policy.policies.seed_vla:SeedVLAPolicy',
    'zero': 'vla_policy.policies.zero:ZeroPolicy',
    # a seed_vla checkpoint's exported network under onnxruntime (option checkpoint=<dir>)
    'onnx': 'vla_policy.policies.onnx_policy:OnnxPolicy',
    # third-party models (optional dependencies, checked when the policy is made)
    'lerobot': 'vla_policy.backends.lerobot_policy:LeRobotPolicy',
    'openvla': 'vla_policy.backends.openvla_local:OpenVLAPolicy',
    'openpi_remote': 'vla_policy.remote.openpi_client:RemotePolicy',
    'openvla_rest': 'vla_policy.remote.openvla_rest:OpenVLARestPolicy',
}

_NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]*$')
_TARGET_RE = re.compile(r'^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$')
INSTALL_HINT = (f"Third-party policies are added by installing a package that declares an entry point in the group "
                 f"'{ENTRY_POINT_GROUP}' (pyproject.toml: [project.entry-points.\"{ENTRY_POINT_GROUP}\"] "
                 f"my_policy = \"my_pkg.module:MyPolicy\"), then `pip install` it into this Python "
                 f"({sys.executable}).")

_lock = threading.Lock()
_registered: dict[str, str | type] = dict(_BUILTIN)
_entry_points: dict[str, metadata.EntryPoint] | None = None


# -- registration ------------------------------------------------------------------------------
def register_policy(name: str, target: str | type | None = None, *, overwrite: bool = False):
    """Register a policy under ``name``.

    ``register_policy('mine', 'my_pkg.policy:MyPolicy')`` registers a lazy target;
    used as a class decorator (``@register_policy('mine')``) it registers the class itself.
    Re-registering an existing name raises ``ValueError`` unless ``overwrite=True``.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"policy name {name!r} is invalid: use letters, digits, '_', '.', '-' (no ':' or '/', "
                         "which mark targets and checkpoint paths)")

    def _add(obj: str | type):
        if isinstance(obj, str) and not _TARGET_RE.match(obj):
            raise ValueError(f"target {obj!r} for policy '{name}' must look like 'package.module:ClassName'")
        if isinstance(obj, type) and not issubclass(obj, Policy):
            raise ValueError(f"{obj.__qualname__} is not a subclass of vla_core.policy.Policy")
        with _lock:
            if name in _registered and not overwrite and _registered[name] != obj:
                raise ValueError(f"policy '{name}' is already registered ({_describe(_registered[name])}); "
                                 "pass overwrite=True to replace it")
            _registered[name] = obj
        return obj

    if target is None:
        return _add  # decorator
    return _add(target)


def unregister_policy(name: str) -> None:
    """Remove a name added with :func:`register_policy` (built-in names come back as built-ins)."""
    with _lock:
        _registered.pop(name, None)
        if name in _BUILTIN:
            _registered[name] = _BUILTIN[name]


def _discover_entry_points(refresh: bool = False) -> dict[str, metadata.EntryPoint]:
    global _entry_points
    with _lock:
        if _entry_points is None or refresh:
            found: dict[str, metadata.EntryPoint] = {}
            try:
                eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
            except Exception as exc:  # noqa: BLE001 - a broken distribution must not hide built-in policies
                _log.warning('could not read entry points of group %s: %s', ENTRY_POINT_GROUP, exc)
                eps = ()
            for ep in eps:
                if ep.name in found and found[ep.name].value != ep.value:
                    _log.warning("two packages register policy '%s' (%s and %s); using the first",
                                 ep.name, found[ep.name].value, ep.value)
                    continue
                found.setdefault(ep.name, ep)
            _entry_points = found
        return _entry_points


def available_policies(refresh: bool = False) -> list[str]:
    """Sorted names that :func:`~vla_policy.registry.make_policy` accepts: built-ins, registered ones, entry points."""
    eps = _discover_entry_points(refresh)
    with _lock:
        return sorted(set(_registered) | set(eps))


def is_policy_name(spec: str) -> bool:
    """True when ``spec`` is a registered name, an entry point's name or a ``'module:Class'`` target."""
    with _lock:
        registered = spec in _registered
    return registered or spec in _discover_entry_points() or bool(_TARGET_RE.match(spec))


# -- resolution --------------------------------------------------------------------------------
def import_target(target: str, what: str = 'policy') -> object:
    """Import ``'package.module:Attr'`` (dots after ':' walk attributes); errors are PolicyLoadError."""
    if not _TARGET_RE.match(target):
        raise PolicyLoadError(f"{what} target {target!r} must look like 'package.module:ClassName'")
    module_name, attr_path = target.split(':', 1)
    try:
        obj = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise PolicyLoadError(
            f"{what} target '{target}' could not be imported: module '{missing}' is not installed in this "
            f"Python ({sys.executable}). Install the package that provides it (pip install <package>), "
            "or check the spelling of the module path.") from exc
    except ImportError as exc:
        raise PolicyLoadError(f"{what} target '{target}' could not be imported: {exc}. "
                              "A dependency of that module is missing or broken; reinstall it.") from exc
    for part in attr_path.split('.'):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            public = sorted(n for n in dir(obj) if not n.startswith('_'))
            raise PolicyLoadError(f"{what} target '{target}': '{part}' not found in {getattr(obj, '__name__', obj)}; "
                                  f"it defines: {', '.join(public[:30])}") from None
    return obj


def policy_class(spec: str) -> type[Policy]:
    """The Policy subclass for a registered name or a ``'module:Class'`` target (imported now)."""
    eps = _discover_entry_points()
    with _lock:
        entry = _registered.get(spec)
    where = f"policy '{spec}'"
    if entry is None and spec in eps:
        ep = eps[spec]
        dist = getattr(getattr(ep, 'dist', None), 'name', None)
        try:
            entry = ep.load()
        except Exception as exc:  # noqa: BLE001 - third-party import code can raise anything
            raise PolicyLoadError(
                f"{where} (entry point '{ep.value}'{f' of package {dist}' if dist else ''}) failed to import: "
                f"{type(exc).__name__}: {exc}. Reinstall that package"
                f"{f' (pip install --force-reinstall {dist})' if dist else ''}.") from exc
    if entry is None:
        if _TARGET_RE.match(spec):
            entry = spec
        else:
            raise PolicyLoadError(unknown_policy_message(spec))
    if isinstance(entry, str):
        try:
            entry = import_target(entry)
        except PolicyLoadError as exc:
            if spec in _BUILTIN:
                raise PolicyLoadError(f"built-in {where} could not be imported: {exc} "
                                      "(the seed policies need PyTorch and safetensors: pip install torch "
                                      "safetensors, or run scripts/setup.sh)") from exc
            raise
    if not (isinstance(entry, type) and issubclass(entry, Policy)):
        raise PolicyLoadError(f"{where} resolves to {entry!r}, which is not a subclass of vla_core.policy.Policy")
    return entry


def unknown_policy_message(spec: str) -> str:
    """The error text for a spec that names no policy: close names, the choices, the other spec kinds."""
    names = available_policies()
    close = difflib.get_close_matches(spec, names, n=2, cutoff=0.6)
    maybe = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ''
    return (f"unknown policy '{spec}'.{maybe} Available policies: {', '.join(names)}. "
            "A spec may also be a 'package.module:ClassName' target, the path of a checkpoint directory "
            f"(one with config.json and model.safetensors) or a ws:// / http:// remote policy URL. {INSTALL_HINT}")


def _describe(entry: str | type) -> str:
    return entry if isinstance(entry, str) else f'{entry.__module__}:{entry.__qualname__}'


# -- construction ------------------------------------------------------------------------------
def construct_policy(cls: type[Policy], embodiment: Embodiment, options: Mapping[str, object],
                     spec: str | None = None, factory: Callable[..., Policy] | None = None) -> Policy:
    """``(factory or cls)(embodiment, **options)``, with unknown options and bad values as PolicyLoadError."""
    spec = spec or _describe(cls)
    factory = factory or cls
    accepted = _accepted_options(factory)
    if accepted is not None:
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise PolicyLoadError(f"policy '{spec}' does not take option(s) {', '.join(unknown)}; "
                                  f"it accepts: {', '.join(accepted) or '(none)'}")
    try:
        policy = factory(embodiment, **options)
    except PolicyLoadError:
        raise
    except (ValueError, TypeError, EmbodimentError) as exc:
        raise PolicyLoadError(f"could not create policy '{spec}' with options {dict(options)}: {exc}") from exc
    if not isinstance(policy, Policy):
        raise PolicyLoadError(f"policy '{spec}' produced {type(policy).__name__}, not a vla_core.policy.Policy")
    return policy


def _accepted_options(factory: Callable) -> list[str] | None:
    """Keyword options a factory takes after the embodiment; None when it takes ``**kwargs``."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in params if p.kind in kinds]
    return [n for n in names[1:] if not n.startswith('_')] if names else []


def as_embodiment(embodiment: Embodiment | str) -> Embodiment:
    """An Embodiment as it is, or a bundled name / YAML path loaded; anything else is a PolicyLoadError."""
    if isinstance(embodiment, Embodiment):
        return embodiment
    if isinstance(embodiment, (str, os.PathLike)):
        try:
            return load_embodiment(os.fspath(embodiment))
        except EmbodimentError as exc:
            raise PolicyLoadError(f'could not load embodiment {embodiment!r}: {exc}') from exc
    raise PolicyLoadError('embodiment must be a vla_core.embodiment.Embodiment '
                          "(e.g. load_embodiment('vla_humanoid')) or a bundled name / YAML path, "
                          f'got {type(embodiment).__name__}')

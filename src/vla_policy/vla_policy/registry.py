"""The policy registry: policy names -> lazily imported classes, and :func:`make_policy`.

A policy is found by one *spec* string:

* a registered name (``'keyword'``, ``'seed_vla'``, ``'zero'``, or one a third party registered),
* a ``'package.module:ClassName'`` target naming a :class:`~vla_policy.core.Policy` subclass,
* a path to a checkpoint directory written by :func:`vla_policy.checkpoint.save_checkpoint`,
* a remote policy URL (``ws://host:port`` openpi protocol, ``http://host:port/act`` OpenVLA REST),
  built by :func:`vla_policy.remote.make_remote_policy`.

Names map to ``'module:Class'`` strings that are imported only when the policy is made, so
``import vla_policy`` never pulls in PyTorch. Third-party packages add policies without editing
this package by declaring an entry point in the group ``vla_policy.policies``::

    # pyproject.toml of my_robot_policies
    [project.entry-points."vla_policy.policies"]
    my_policy = "my_robot_policies.policy:MyPolicy"

or, in code, with :func:`register_policy`. Every policy class is constructed as
``cls(embodiment, **options)``.
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
from pathlib import Path
from typing import Callable, Mapping

from vla_policy.core import Policy
from vla_policy.embodiment import Embodiment, EmbodimentError, load_embodiment
from vla_policy.errors import PolicyLoadError

__all__ = ['ENTRY_POINT_GROUP', 'PolicyLoadError', 'available_policies', 'import_target', 'make_policy',
           'policy_class', 'register_policy']

_log = logging.getLogger(__name__)

#: entry-point group through which installed packages contribute policies
ENTRY_POINT_GROUP = 'vla_policy.policies'

#: policies of this package (lazy targets: nothing is imported until a policy is made)
#: the trained default checkpoint shipped with vla_policy (checkpoints/default)
DEFAULT_POLICY = 'default'

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
_INSTALL_HINT = (f"Third-party policies are added by installing a package that declares an entry point in the group "
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
            raise ValueError(f"{obj.__qualname__} is not a subclass of vla_policy.core.Policy")
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
    """Sorted names that :func:`make_policy` accepts: built-ins, registered ones, entry points."""
    eps = _discover_entry_points(refresh)
    with _lock:
        return sorted(set(_registered) | set(eps))


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
            raise PolicyLoadError(_unknown_message(spec))
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
        raise PolicyLoadError(f"{where} resolves to {entry!r}, which is not a subclass of vla_policy.core.Policy")
    return entry


def _unknown_message(spec: str) -> str:
    names = available_policies()
    close = difflib.get_close_matches(spec, names, n=2, cutoff=0.6)
    maybe = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ''
    return (f"unknown policy '{spec}'.{maybe} Available policies: {', '.join(names)}. "
            "A spec may also be a 'package.module:ClassName' target, the path of a checkpoint directory "
            f"(one with config.json and model.safetensors) or a ws:// / http:// remote policy URL. {_INSTALL_HINT}")


def _looks_like_path(spec: str) -> bool:
    return (os.sep in spec or '/' in spec or spec.startswith(('.', '~'))
            or Path(spec).expanduser().exists())


def _describe(entry: str | type) -> str:
    return entry if isinstance(entry, str) else f'{entry.__module__}:{entry.__qualname__}'


# -- construction ------------------------------------------------------------------------------
def make_policy(spec: str | os.PathLike, embodiment: Embodiment | str, **options) -> Policy:
    """Build a policy from a registered name, a ``'module:Class'`` target or a checkpoint directory.

    ``embodiment`` is the robot the policy drives (an :class:`Embodiment`, or a bundled name /
    YAML path for :func:`~vla_policy.embodiment.load_embodiment`). ``options`` go to the policy's
    constructor (e.g. ``confidence=0.8`` for 'keyword', ``seed=3`` for 'seed_vla') or, for a
    checkpoint, to :func:`vla_policy.checkpoint.load_checkpoint`. ``backend='auto'`` picks a seed_vla
    checkpoint's backend (its ONNX export when current, else PyTorch) and is ignored by other policies.

    Every expected failure raises :class:`PolicyLoadError` with a message that says how to fix it.
    """
    embodiment = _as_embodiment(embodiment)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise PolicyLoadError(f"policy spec must be a non-empty string, got {spec!r}. {_unknown_message('')}")
    spec = spec.strip()
    if spec == DEFAULT_POLICY:
        from vla_policy.checkpoint import default_checkpoint_dir, load_checkpoint
        path = default_checkpoint_dir()
        if path is None:
            raise PolicyLoadError("policy 'default': no trained default checkpoint is installed (vla_policy/"
                                  "checkpoints/default); train one (README, 'Learning') or name another policy")
        return load_checkpoint(path, embodiment, **options)
    with _lock:
        registered = spec in _registered
    if options.get('backend') == 'auto':          # "the checkpoint's best backend": others have no choice
        options = {k: v for k, v in options.items() if k != 'backend'} if not _looks_like_path(spec) else options
    if registered or spec in _discover_entry_points() or _TARGET_RE.match(spec):
        return construct_policy(policy_class(spec), embodiment, options, spec)
    if '://' in spec:
        return _make_remote(spec, embodiment, options)
    if _looks_like_path(spec):
        from vla_policy.checkpoint import load_checkpoint  # lazy: keeps the registry light
        return load_checkpoint(spec, embodiment, **options)
    raise PolicyLoadError(_unknown_message(spec))


def _make_remote(spec: str, embodiment: Embodiment, options: Mapping[str, object]) -> Policy:
    try:
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
        raise PolicyLoadError(f"policy '{spec}' produced {type(policy).__name__}, not a vla_policy.core.Policy")
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


def _as_embodiment(embodiment: Embodiment | str) -> Embodiment:
    if isinstance(embodiment, Embodiment):
        return embodiment
    if isinstance(embodiment, (str, os.PathLike)):
        try:
            return load_embodiment(os.fspath(embodiment))
        except EmbodimentError as exc:
            raise PolicyLoadError(f'could not load embodiment {embodiment!r}: {exc}') from exc
    raise PolicyLoadError('embodiment must be a vla_policy.embodiment.Embodiment '
                          "(e.g. load_embodiment('vla_humanoid')) or a bundled name / YAML path, "
                          f'got {type(embodiment).__name__}')

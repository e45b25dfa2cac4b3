"""Policy checkpoints: a directory that fully describes a trained policy.

Layout (format version 1)::

    <dir>/config.json        {"format": "vla_policy.checkpoint", "format_version": 1,
                              "policy_type": "seed_vla", "trained": true, "embodiment": "vla_humanoid",
                              "config": {...model config...}, "metadata": {...}}
    <dir>/model.safetensors  the network's tensors (names and shapes follow the config)
    <dir>/embodiment.yaml    the embodiment the policy was trained for, incl. its normalisation stats
    <dir>/stats.json         optional dataset statistics: {"observation.state": {...}, "action": {...}}

:func:`load_checkpoint` validates everything it reads and raises only
:class:`~vla_policy.errors.PolicyLoadError`, with a message that says what is wrong and how to fix
it. PyTorch and safetensors are imported only when tensors are read or written.

A policy type supports checkpoints by providing the classmethod
``from_checkpoint_contents(contents, embodiment, **options)`` (loading) and a ``model`` with a
``config`` that has ``policy_type`` and ``to_dict()`` (saving).
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from vla_core.policy import Policy
from vla_core.embodiment import Embodiment, EmbodimentError
from vla_policy.errors import PolicyLoadError
from vla_policy.models.normalization import validate_stats
from vla_policy.policy_types import INSTALL_HINT, as_embodiment, available_policies, construct_policy, policy_class

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ['CHECKPOINT_FORMAT', 'CHECKPOINT_FORMAT_VERSION', 'CONFIG_FILE', 'EMBODIMENT_FILE', 'STATS_FILE',
           'WEIGHTS_FILE', 'CheckpointContents', 'load_checkpoint', 'read_checkpoint', 'save_checkpoint']

_log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 'vla_policy.checkpoint'
#: the newest layout this code writes and reads (older ones are read, newer ones refused)
CHECKPOINT_FORMAT_VERSION = 1
CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
EMBODIMENT_FILE = 'embodiment.yaml'
STATS_FILE = 'stats.json'
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, EMBODIMENT_FILE)


@dataclass(frozen=True)
class CheckpointContents:
    """Everything of a checkpoint except the tensors (read on demand by :meth:`load_tensors`)."""

    path: Path
    format_version: int
    policy_type: str
    config: dict[str, Any]
    trained_for: Embodiment
    stats: dict[str, Any] | None = None
    trained: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_FILE

    def load_tensors(self) -> dict[str, 'torch.Tensor']:
        """All tensors of model.safetensors (CPU). A corrupt or truncated file is a PolicyLoadError."""
        try:
            from safetensors.torch import load_file  # lazy: PyTorch, only when tensors are read
        except ImportError as exc:
            raise PolicyLoadError(f'reading {self.weights_path} needs safetensors and PyTorch: '
                                  'pip install safetensors torch (or run scripts/setup.sh)') from exc
        try:
            return load_file(str(self.weights_path), device='cpu')
        except Exception as exc:  # noqa: BLE001 - safetensors raises SafetensorError, OSError, ValueError, ...
            raise PolicyLoadError(f'{self.weights_path} could not be read ({type(exc).__name__}: {exc}); the file '
                                  'is truncated or not a safetensors file. Save the checkpoint again '
                                  '(save_checkpoint) or copy it again.') from exc

    def check_action_dim(self, action_dim: int, embodiment: Embodiment) -> None:
        """The checkpoint's action_dim must match its own embodiment.yaml and the runtime embodiment."""
        trained = self.trained_for
        if trained.action_dim != action_dim:
            raise PolicyLoadError(
                f"checkpoint '{self.path}' is inconsistent: {CONFIG_FILE} says action_dim={action_dim} but its "
                f"{EMBODIMENT_FILE} ('{trained.name}') has {trained.action_dim} action dims. Save it again with "
                'save_checkpoint and the embodiment the model was trained for.')
        if embodiment.action_dim != action_dim:
            dims = ', '.join(d.name for d in trained.dims)
            raise PolicyLoadError(
                f"checkpoint '{self.path}' was trained for embodiment '{trained.name}' ({action_dim} action dims: "
                f"{dims}), but the embodiment given, '{embodiment.name}', has {embodiment.action_dim}. Pass the "
                f"embodiment it was trained for: make_policy('{self.path}', load_embodiment('{trained.name}')), "
                f"or load_checkpoint('{self.path}') with no embodiment to use {self.path / EMBODIMENT_FILE}; "
                f"for the inference node set its embodiment parameter to '{trained.name}' (or to that YAML's path).")
        if [d.target for d in embodiment.dims] != [d.target for d in trained.dims]:
            _log.warning("checkpoint '%s' was trained for embodiment '%s'; driving '%s', whose action "
                         'dimensions have the same count but other targets', self.path, trained.name, embodiment.name)


# -- reading -----------------------------------------------------------------------------------
def read_checkpoint(path: str | os.PathLike) -> CheckpointContents:
    """Read and validate a checkpoint directory, except its tensors."""
    if not isinstance(path, (str, os.PathLike)):
        raise PolicyLoadError(f'checkpoint path must be a str or Path, got {type(path).__name__}')
    path = Path(path).expanduser()
    if path.is_file() and path.name in (CONFIG_FILE, WEIGHTS_FILE):
        path = path.parent
    if not path.exists():
        raise PolicyLoadError(f"checkpoint directory '{path}' does not exist (a checkpoint is a directory with "
                              f"{', '.join(REQUIRED_FILES)} written by save_checkpoint)")
    if not path.is_dir():
        raise PolicyLoadError(f"'{path}' is a file, not a checkpoint directory; pass the directory that holds "
                              f"{', '.join(REQUIRED_FILES)}")
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise PolicyLoadError(f"checkpoint directory '{path}' lacks {', '.join(missing)}; a checkpoint holds "
                              f"{', '.join(REQUIRED_FILES)} (+ optional {STATS_FILE}), as written by save_checkpoint")

    cfg = _read_json(path / CONFIG_FILE)
    if not isinstance(cfg, dict):
        raise PolicyLoadError(f'{path / CONFIG_FILE} must hold a JSON object, got {type(cfg).__name__}')
    version = cfg.get('format_version')
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PolicyLoadError(f"{path / CONFIG_FILE} has no valid 'format_version' (got {version!r}); it is not a "
                              f'vla_policy checkpoint config. Re-save the model with save_checkpoint.')
    if version > CHECKPOINT_FORMAT_VERSION:
        raise PolicyLoadError(f'{path / CONFIG_FILE} has format_version {version}, newer than this vla_policy reads '
                              f'(<= {CHECKPOINT_FORMAT_VERSION}); upgrade vla_policy to load it.')
    policy_type = cfg.get('policy_type')
    if not isinstance(policy_type, str) or not policy_type:
        raise PolicyLoadError(f"{path / CONFIG_FILE} has no 'policy_type' (e.g. \"seed_vla\"); it says which "
                              'policy class reads the checkpoint.')
    model_cfg = cfg.get('config')
    if not isinstance(model_cfg, dict):
        raise PolicyLoadError(f"{path / CONFIG_FILE}: 'config' must be a JSON object of model settings, "
                              f'got {type(model_cfg).__name__}')
    try:
        trained_for = Embodiment.from_yaml(path / EMBODIMENT_FILE)
    except EmbodimentError as exc:
        raise PolicyLoadError(f'{path / EMBODIMENT_FILE} is not a valid embodiment: {exc}') from exc
    stats = None
    if (path / STATS_FILE).is_file():
        stats = _read_json(path / STATS_FILE)
        if not isinstance(stats, dict):
            raise PolicyLoadError(f'{path / STATS_FILE} must hold a JSON object of batch key -> statistics')
    metadata = cfg.get('metadata') if isinstance(cfg.get('metadata'), dict) else {}
    return CheckpointContents(path=path, format_version=version, policy_type=policy_type, config=model_cfg,
                              trained_for=trained_for, stats=stats, trained=bool(cfg.get('trained', True)),
                              metadata=metadata)


def _read_json(p: Path) -> Any:
    try:
        return json.loads(p.read_text(encoding='utf-8'))
    except json.JSONDecodeError as exc:
        raise PolicyLoadError(f'{p} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})') from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(f'{p} could not be read: {exc}') from None


def load_checkpoint(path: str | os.PathLike, embodiment: Embodiment | str | None = None, **options) -> Policy:
    """Load the policy saved in checkpoint directory ``path``.

    ``embodiment`` is the robot to drive; None uses the checkpoint's own embodiment.yaml. Its
    action_dim must match the checkpoint's. ``options`` go to the policy type's loader (e.g.
    ``num_threads`` for seed_vla).
    """
    contents = read_checkpoint(path)
    names = available_policies()
    if contents.policy_type not in names:
        raise PolicyLoadError(f"{contents.path / CONFIG_FILE} names policy_type '{contents.policy_type}', which is "
                              f"not a registered policy (available: {', '.join(names)}). If a plugin package "
                              f'provides it, install that package. {INSTALL_HINT}')
    try:
        cls = policy_class(contents.policy_type)
    except PolicyLoadError as exc:
        raise PolicyLoadError(f"{contents.path / CONFIG_FILE} names policy_type '{contents.policy_type}', which "
                              f"cannot be loaded: {exc}") from exc
    hook = getattr(cls, 'from_checkpoint_contents', None)
    if hook is None:
        raise PolicyLoadError(f"policy type '{contents.policy_type}' ({cls.__module__}.{cls.__qualname__}) cannot "
                              'load checkpoints (it has no from_checkpoint_contents classmethod)')
    runtime = contents.trained_for if embodiment is None else as_embodiment(embodiment)
    return construct_policy(cls, runtime, options, spec=str(contents.path),
                            factory=functools.partial(hook, contents))


# -- validation helpers for loaders ------------------------------------------------------------
def check_tensors(contents: CheckpointContents, tensors: Mapping[str, 'torch.Tensor'],
                  expected: Mapping[str, 'torch.Tensor']) -> dict[str, 'torch.Tensor']:
    """Match loaded tensors against a freshly built model's state_dict: names, shapes, dtypes, finiteness.

    Returns the tensors cast to the expected floating dtype. Every mismatch is a PolicyLoadError
    that lists the offending names (at most 5 of each kind).
    """
    import torch  # lazy: PyTorch, only when tensors are checked

    where = contents.weights_path
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong_shape = [f'{k}: file {tuple(tensors[k].shape)} vs config {tuple(expected[k].shape)}'
                   for k in sorted(set(expected) & set(tensors)) if tensors[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f'{len(missing)} tensor(s) missing: {_few(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected tensor(s): {_few(unexpected)}')
    if wrong_shape:
        problems.append(f'{len(wrong_shape)} with other shapes: {_few(wrong_shape)}')
    if problems:
        raise PolicyLoadError(f"{where} does not match the model described by {contents.path / CONFIG_FILE} "
                              f"({'; '.join(problems)}). The config was edited, or the weights belong to another "
                              'model: save the checkpoint again from the model that produced the weights.')
    out = {}
    bad_dtype, non_finite = [], []
    for k, ref in expected.items():
        t = tensors[k]
        if ref.is_floating_point() != t.is_floating_point():
            bad_dtype.append(f'{k}: {t.dtype} vs {ref.dtype}')
            continue
        if t.is_floating_point():
            t = t.to(ref.dtype)
            if not bool(torch.isfinite(t).all()):
                non_finite.append(k)
        out[k] = t
    if bad_dtype:
        raise PolicyLoadError(f'{where}: tensor dtypes do not fit the model: {_few(bad_dtype)}')
    if non_finite:
        raise PolicyLoadError(f'{where}: {len(non_finite)} tensor(s) hold NaN or infinite values '
                              f'({_few(non_finite)}); training diverged or the file is damaged. Use an earlier '
                              'checkpoint.')
    return out


def _few(items: list[str], n: int = 5) -> str:
    return ', '.join(items[:n]) + (f', ... (+{len(items) - n})' if len(items) > n else '')


# -- writing -----------------------------------------------------------------------------------
def save_checkpoint(policy_or_model: Any, path: str | os.PathLike, embodiment: Embodiment | None = None, *,
                    stats: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                    trained: bool | None = None, overwrite: bool = False) -> Path:
    """Write a checkpoint directory for a policy (e.g. SeedVLAPolicy) or a bare model (SeedVLAModel).

    ``embodiment``: the embodiment the model was trained for; defaults to the policy's
    ``trained_for``. ``stats``: dataset statistics for stats.json; defaults to the policy's.
    ``trained``: recorded in config.json; defaults to the policy's ``trained`` (True for a bare model).
    An existing checkpoint at ``path`` is replaced only with ``overwrite=True``.
    Raises ValueError/TypeError for what cannot be saved (non-finite weights, mismatched embodiment).
    """
    from safetensors.torch import save_file  # lazy: PyTorch, only when tensors are written

    model = getattr(policy_or_model, 'model', policy_or_model)
    config = getattr(model, 'config', None)
    if config is None or not hasattr(config, 'to_dict') or not getattr(config, 'policy_type', None) \
            or not hasattr(model, 'state_dict'):
        raise TypeError(f'save_checkpoint needs a policy with a .model, or a model with a .config that has '
                        f'policy_type and to_dict(); got {type(policy_or_model).__name__}')
    if embodiment is None:
        embodiment = getattr(policy_or_model, 'trained_for', None) or getattr(policy_or_model, 'embodiment', None)
    if not isinstance(embodiment, Embodiment):
        raise TypeError('save_checkpoint needs the Embodiment the model was trained for (embodiment=...)')
    action_dim = getattr(config, 'action_dim', None)
    if action_dim is not None and action_dim != embodiment.action_dim:
        raise ValueError(f"model action_dim {action_dim} != embodiment '{embodiment.name}' action_dim "
                         f'{embodiment.action_dim}; pass the embodiment the model was trained for')
    if stats is None:
        stats = getattr(policy_or_model, 'stats', None)
    if stats is not None:
        stats = validate_stats(stats, getattr(config, 'state_joints', ()), action_dim or embodiment.action_dim)
    if trained is None:
        trained = bool(getattr(policy_or_model, 'trained', True))

    tensors = {k: v.detach().to('cpu').contiguous().clone() for k, v in model.state_dict().items()}
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if bad:
        raise ValueError(f'refusing to save non-finite weights ({_few(bad)})')

    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"'{path}' is a file; a checkpoint is a directory")
    if (path / CONFIG_FILE).exists() and not overwrite:
        raise FileExistsError(f"'{path}' already holds a checkpoint; pass overwrite=True to replace it")
    path.mkdir(parents=True, exist_ok=True)

    header = {'format': CHECKPOINT_FORMAT, 'format_version': CHECKPOINT_FORMAT_VERSION,
              'policy_type': config.policy_type, 'trained': bool(trained), 'embodiment': embodiment.name,
              'config': config.to_dict(), 'metadata': _jsonable(dict(metadata or {}))}
    _atomic_write(path / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp), metadata={'format': 'pt'}))
    _atomic_write(path / EMBODIMENT_FILE, lambda tmp: tmp.write_text(
        '# Embodiment this policy was trained for (written by vla_policy.checkpoint).\n'
        + yaml.safe_dump(embodiment.to_dict(), sort_keys=False)))
    if stats is not None:
        _atomic_write(path / STATS_FILE, lambda tmp: tmp.write_text(json.dumps(_jsonable(stats), indent=2)))
    elif (path / STATS_FILE).exists():
        (path / STATS_FILE).unlink()
    # config.json last: a directory with a config is a complete checkpoint
    _atomic_write(path / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(header, indent=2)))
    return path


def _atomic_write(dest: Path, write) -> None:
    tmp = dest.with_name(dest.name + '.tmp')
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def _jsonable(obj: Any) -> Any:
    """Plain JSON types (NumPy arrays / scalars and tuples converted); non-finite floats are an error."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, 'tolist'):
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f'cannot save the non-finite number {obj} in a checkpoint')
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f'cannot save {type(obj).__name__} in a checkpoint (use JSON types)')


def default_checkpoint_dir() -> Path | None:
    """The trained default checkpoint shipped with vla_policy (installed share dir, else the
    source tree), or None when there is none."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory  # optional: absent outside ROS
        candidates.append(Path(get_package_share_directory('vla_policy')) / 'checkpoints' / 'default')
    except Exception:  # noqa: BLE001 - no ament index / not installed: the source tree below
        pass
    candidates.append(Path(__file__).resolve().parent.parent / 'checkpoints' / 'default')
    for c in candidates:
        if (c / CONFIG_FILE).is_file():
            return c
    return None

"""LeRobot policies (ACT, Diffusion, SmolVLA, pi0 ...) as policies of the suite, when ``lerobot`` is installed.

``LeRobotPolicy(embodiment, pretrained_path='/models/act_so100')`` loads a policy saved by
LeRobot (``config.json`` + ``model.safetensors``, and with lerobot >= 0.4 the processor files
``policy_preprocessor.json`` / ``policy_postprocessor.json`` that hold the normalisation) from a
local directory; nothing is downloaded. The policy type comes from ``config.json``'s ``"type"``.

Observation packing (:func:`pack_lerobot_batch`, tested without lerobot): the camera image
goes to every image key the policy expects, as a (1, 3, H, W) float32 tensor in [0, 1]; the
measured joints in ``state_joints`` order form ``observation.state`` (1, N); the instruction
is ``task`` (language-conditioned policies such as SmolVLA read it). LeRobot's actions are in
robot units (its post-processor un-normalises them): they go through an
:class:`~vla_policy.remote.reply.ActionMapping` with units ``physical`` onto the embodiment.
LeRobot policies give no confidence; ``default_confidence`` is reported.

Image size: each camera image is resized to the size the policy was trained at, read from the
saved config (``input_features[key].shape`` = (3, H, W)); ``image_size`` is only needed for a
config that declares none, and must agree with it otherwise.

Chunks: with ``use_chunk`` the whole chunk is returned. Policies that keep an observation history
(:data:`OBSERVATION_QUEUE_POLICIES`: Diffusion, TDMPC, VQ-BeT) only predict from the history that
``select_action`` fills, so for them the chunk is taken through ``select_action``: the first
action it returns plus the ones it queued, after which the action queue is emptied (the next call
predicts from the next observation; the observation history is kept).

Dependencies (``scripts/requirements-lerobot.txt``, a separate venv: lerobot pins torch < 2.11):
``lerobot`` 0.4 with its torch, and what this module imports from the suite: numpy, pyyaml
(embodiments) and msgpack + websockets (:mod:`vla_policy.remote`, which holds the ActionMapping).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import Embodiment
from vla_policy.errors import PolicyLoadError
from vla_policy.remote.protocol import ProtocolError
from vla_policy.remote.reply import ActionMapping

log = logging.getLogger(__name__)

INSTALL_HINT = ("pip install -r scripts/requirements-lerobot.txt   (lerobot 0.4 + msgpack, websockets, pyyaml; "
                "SmolVLA: 'lerobot[smolvla]'; pi0: 'lerobot[pi]')")
#: LeRobot policy types whose ``predict_action_chunk`` reads the observation history that only
#: ``select_action`` fills (lerobot 0.4: it stacks ``self._queues``); their chunks go through it
OBSERVATION_QUEUE_POLICIES = frozenset({'diffusion', 'tdmpc', 'vqbet'})
STATE_KEY = 'observation.state'
IMAGE_KEY_PREFIX = 'observation.image'


def import_lerobot() -> tuple[Any, Any]:
    """``(get_policy_class, make_pre_post_processors or None)`` from whichever lerobot layout is installed.

    lerobot (and PyTorch) are optional heavy dependencies: imported here, when a policy is made."""
    try:  # lerobot >= 0.4: lerobot.policies, with processor pipelines
        from lerobot.policies.factory import get_policy_class
        try:
            from lerobot.policies.factory import make_pre_post_processors
        except ImportError:
            make_pre_post_processors = None
        return get_policy_class, make_pre_post_processors
    except ImportError:
        pass
    try:  # older releases: lerobot.common.policies, normalisation inside the policy
        from lerobot.common.policies.factory import get_policy_class
        return get_policy_class, None
    except ImportError as exc:
        raise PolicyLoadError(f'LeRobot policies need the lerobot package ({exc}): {INSTALL_HINT}') from exc


def read_policy_config(pretrained_path: str | Path) -> dict:
    """The saved policy's config.json, checked (clear errors for a missing or partial download)."""
    d = Path(pretrained_path).expanduser()
    if not d.is_dir():
        raise PolicyLoadError(f"LeRobot policy directory '{d}' not found. Weights are never downloaded at run time: "
                              f'fetch them once (e.g. huggingface-cli download lerobot/smolvla_base --local-dir {d}) '
                              'and pass that directory.')
    cfg_file = d / 'config.json'
    if not cfg_file.is_file():
        raise PolicyLoadError(f"'{d}' has no config.json: expected a directory saved by LeRobot "
                              '(config.json, model.safetensors)')
    try:
        cfg = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as exc:
        raise PolicyLoadError(f"'{cfg_file}' is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get('type'), str):
        raise PolicyLoadError(f"'{cfg_file}' names no policy \"type\" (act, diffusion, smolvla, pi0 ...)")
    if not (d / 'model.safetensors').is_file():
        raise PolicyLoadError(f"'{d}' has no model.safetensors: the download is incomplete")
    return cfg


def image_keys_from_config(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """Image inputs a saved policy expects (``input_features`` of type VISUAL)."""
    feats = cfg.get('input_features') or {}
    keys = [k for k, f in feats.items() if (isinstance(f, Mapping) and f.get('type') == 'VISUAL')
            or (not isinstance(f, Mapping) and k.startswith(IMAGE_KEY_PREFIX))]
    return tuple(keys)


def state_dim_from_config(cfg: Mapping[str, Any]) -> int | None:
    f = (cfg.get('input_features') or {}).get(STATE_KEY)
    if isinstance(f, Mapping) and f.get('shape'):
        return int(np.prod(f['shape']))
    return None


def image_sizes_from_config(cfg: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """(H, W) of each image input whose config declares a (C, H, W) shape."""
    out = {}
    for k, f in (cfg.get('input_features') or {}).items():
        shape = f.get('shape') if isinstance(f, Mapping) else None
        if shape and len(shape) == 3 and k in image_keys_from_config(cfg):
            out[k] = (int(shape[1]), int(shape[2]))
    return out


def pack_lerobot_batch(obs: Observation, image_keys: Sequence[str], state_joints: Sequence[str],
                       state_dim: int | None = None,
                       image_size: tuple[int, int] | Mapping[str, tuple[int, int]] | None = None,
                       device: str = 'cpu') -> dict[str, Any]:
    """Observation -> LeRobot batch of torch tensors (batch size 1).

    ``image_keys`` each get the camera image, (1, 3, H, W) float32 in [0, 1], resized
    (bilinear) to ``image_size`` (H, W) when given (one size, or one per key; keys it does not
    name keep the camera's size); ``observation.state`` is (1, N) float32 with
    the joints in ``state_joints`` order (unmeasured ones 0.0, zero-padded to ``state_dim``);
    ``task`` is ``[instruction]``.
    """
    import torch  # lazy: optional heavy dependency (PyTorch); lerobot needs it anyway
    import torch.nn.functional as F
    img = torch.from_numpy(np.ascontiguousarray(obs.image)).to(device=device)
    img = img.permute(2, 0, 1).unsqueeze(0).to(torch.float32) / 255.0
    sizes = dict(image_size) if isinstance(image_size, Mapping) else \
        {k: image_size for k in image_keys} if image_size is not None else {}
    n = len(state_joints) if state_dim is None else int(state_dim)
    if n < len(state_joints):
        raise ValueError(f'state_dim {n} is smaller than the {len(state_joints)} state joints')
    state = np.zeros(n, dtype=np.float32)
    for i, j in enumerate(state_joints):
        state[i] = float(obs.joint_positions.get(j, 0.0))
    batch: dict[str, Any] = {}
    for k in image_keys:
        size = tuple(int(x) for x in sizes[k]) if sizes.get(k) is not None else None
        batch[k] = (F.interpolate(img, size=size, mode='bilinear', align_corners=False)
                    if size is not None and tuple(img.shape[-2:]) != size else img.clone())
    batch[STATE_KEY] = torch.from_numpy(state).unsqueeze(0).to(device=device)
    batch['task'] = [obs.instruction]
    return batch


class LeRobotPolicy(Policy):
    """A LeRobot policy. ``LeRobotPolicy(embodiment, pretrained_path=..., ...)``.

    pretrained_path:     local directory saved by LeRobot.
    image_keys:          image inputs to fill with the camera (default: the policy's VISUAL inputs).
    state_joints:        joints of ``observation.state``, in order (default: the embodiment's joints).
    image_size:          (H, W) of the policy's images, for a config that declares none (else it
                         is read from the config, and a different value is an error).
    actions:             ActionMapping (or dict) from LeRobot's action vector to the embodiment.
    device:              ``cuda`` / ``cpu``; None picks CUDA when available.
    use_chunk:           return the whole predicted chunk instead of one step (``select_action``,
                         which queues the chunk inside LeRobot); see the module doc for policies
                         with an observation history.
    default_confidence:  reported confidence (LeRobot policies give none).
    step_dt:             seconds between actions (1 / the dataset's fps).
    """

    name = 'lerobot'

    def __init__(self, embodiment: Embodiment, pretrained_path: str | Path = '',
                 image_keys: Sequence[str] | None = None, state_joints: Sequence[str] | None = None,
                 image_size: Sequence[int] | None = None, actions: ActionMapping | Mapping | None = None,
                 device: str | None = None, use_chunk: bool = True, default_confidence: float = 0.5,
                 step_dt: float = 0.1) -> None:
        if not pretrained_path:
            raise PolicyLoadError('LeRobotPolicy needs pretrained_path: the local directory of a saved LeRobot policy')
        if not 0.0 <= default_confidence <= 1.0:
            raise ValueError(f'default_confidence must be in [0, 1], got {default_confidence}')
        if not step_dt > 0:
            raise ValueError(f'step_dt must be > 0 seconds, got {step_dt}')
        self.embodiment = embodiment
        self.mapping = actions if isinstance(actions, ActionMapping) else \
            ActionMapping.from_dict({'units': 'physical', **(actions or {})})
        self.mapping.check(embodiment)
        cfg = read_policy_config(pretrained_path)
        self.path = Path(pretrained_path).expanduser()
        self.policy_type = cfg['type']
        self.image_keys = tuple(image_keys) if image_keys else image_keys_from_config(cfg)
        if not self.image_keys:
            raise PolicyLoadError(f"'{self.path}' declares no image input; pass image_keys=[...]")
        self.state_joints = tuple(state_joints) if state_joints is not None else embodiment.joint_names
        self.state_dim = state_dim_from_config(cfg)
        self.image_size = _image_sizes(cfg, self.image_keys, image_size, self.path)
        self.default_confidence = float(default_confidence)
        self.step_dt = float(step_dt)
        self.use_chunk = bool(use_chunk)
        get_policy_class, make_pre_post_processors = import_lerobot()
        import torch  # lazy: optional heavy dependency, present once lerobot imported
        self._torch = torch
        self.device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        try:
            cls = get_policy_class(self.policy_type)
            self.policy = cls.from_pretrained(str(self.path))
            self.policy.to(self.device).eval()
            self._pre = self._post = None
            if make_pre_post_processors is not None:
                self._pre, self._post = make_pre_post_processors(
                    self.policy.config, pretrained_path=str(self.path),
                    preprocessor_overrides={'device_processor': {'device': str(self.device)}})
        except PolicyLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - lerobot / hub / safetensors raise many types
            raise PolicyLoadError(f"could not load LeRobot policy '{self.policy_type}' from '{self.path}': "
                                  f'{type(exc).__name__}: {exc} ({INSTALL_HINT})') from exc
        self.name = f'lerobot_{self.policy_type}'
        log.info('LeRobot %s loaded from %s on %s', self.policy_type, self.path, self.device)

    def reset(self) -> None:
        self.policy.reset()

    def infer(self, obs: Observation) -> PolicyOutput:
        torch = self._torch
        batch = pack_lerobot_batch(obs, self.image_keys, self.state_joints, self.state_dim, self.image_size,
                                   self.device)
        if self._pre is not None:
            batch = self._pre(batch)
        with torch.inference_mode():
            if self.use_chunk and self.policy_type in OBSERVATION_QUEUE_POLICIES:
                action = self._chunk_through_select_action(batch)
            elif self.use_chunk and hasattr(self.policy, 'predict_action_chunk'):
                action = self.policy.predict_action_chunk(batch)
            else:
                action = self.policy.select_action(batch)
        if self._post is not None:
            action = self._post(action)
        a = action.float().cpu().numpy()
        a = a.reshape(-1, a.shape[-1])
        try:
            mapped = self.mapping.apply(a, self.embodiment)
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None
        return PolicyOutput(mapped, self.default_confidence, self.step_dt)

    def _chunk_through_select_action(self, batch: dict[str, Any]):
        """(1, T, D): ``select_action``'s action and the rest of the chunk it queued; the queue is then emptied."""
        first = self.policy.select_action(batch)
        queue = self.policy._queues['action']          # lerobot 0.4: a deque of (B, D) actions
        rest = list(queue)
        queue.clear()
        return self._torch.stack([first, *rest], dim=1)


def _image_sizes(cfg: Mapping[str, Any], image_keys: Sequence[str], image_size: Sequence[int] | None,
                 path: Path) -> dict[str, tuple[int, int]] | None:
    """Per image key, the (H, W) the policy takes: its config's; ``image_size`` where the config has none."""
    declared = image_sizes_from_config(cfg)
    given = tuple(int(s) for s in image_size) if image_size else None
    if given is not None and len(given) != 2:
        raise ValueError(f'image_size must be (H, W), got {image_size}')
    for k in image_keys:
        if given is not None and k in declared and declared[k] != given:
            raise PolicyLoadError(f"image_size {given} differs from the {declared[k]} that '{path}' declares for "
                                  f'{k} (config.json input_features); leave image_size unset')
    sizes = {k: declared.get(k, given) for k in image_keys}
    return sizes if any(v is not None for v in sizes.values()) else None

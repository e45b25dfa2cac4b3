"""Observation packing: the request keys and image format a server expects.

Our client sends the keys of a :class:`WireFormat` (vla-serve's by default); real openpi
servers name their inputs per robot config, and :data:`WIRE_PRESETS` holds ``libero``, ``droid``
and ``aloha``. ``vla-serve`` reads requests in its own keys with :func:`decode_observation`.
The keys are listed in :mod:`vla_policy.remote.protocol`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from vla_core.policy import Observation, PlanarScan
from vla_policy.remote.protocol import ProtocolError


@dataclass(frozen=True)
class StateField:
    """One float32 state vector of the request, filled from the measured joint positions.

    key:     wire key (nested maps with ``.``, e.g. ``"state"``).
    joints:  joint names, in the vector's order.
    dim:     vector length; 0 = ``len(joints)``. Entries beyond the listed joints, and listed
             joints that were not measured, are sent as 0.0.
    """

    key: str
    joints: tuple[str, ...] = ()
    dim: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, 'joints', tuple(str(j) for j in self.joints))
        if not self.key:
            raise ValueError('StateField.key is empty; name the wire key, e.g. "observation/state"')
        if self.dim < 0 or (self.dim and self.dim < len(self.joints)):
            raise ValueError(f"StateField '{self.key}': dim={self.dim} is smaller than its {len(self.joints)} joints")

    @property
    def size(self) -> int:
        return self.dim or len(self.joints)

    def pack(self, joint_positions: Mapping[str, float]) -> np.ndarray:
        v = np.zeros(self.size, dtype=np.float32)
        for i, j in enumerate(self.joints):
            if j in joint_positions:
                v[i] = float(joint_positions[j])
        return v


IMAGE_LAYOUTS = ('hwc', 'chw')


@dataclass(frozen=True)
class WireFormat:
    """Key names and image format of the observation our client sends.

    A key with ``.`` and no ``/`` goes into nested maps (``images.cam_high`` ->
    ``{"images": {"cam_high": ..}}``); keys with ``/`` (openpi's flat keys) are sent as they are.

    image_key:         the camera image.
    extra_image_keys:  other cameras the server requires; we have one camera, so these are sent
                       as black frames of the same size.
    image_size:        (height, width) to resize-with-pad to before sending (openpi's
                       ``image_tools.resize_with_pad``, aspect kept, black bars), or None to send
                       the camera's size. openpi's pi0 configs use 224 x 224.
    image_layout:      ``hwc`` (H x W x 3) or ``chw`` (3 x H x W, openpi's ALOHA configs).
    prompt_key:        the instruction string.
    joints_key:        map joint name -> position (our protocol); None to leave it out.
    state:             float32 state vectors to send (openpi's ``observation/state`` ...).
    stamp_key:         image stamp in seconds; None to leave it out.
    base_pose_key:     the base's odometry pose [x, y, yaw] (our protocol; sent when the observation
                       has one); None to leave it out.
    scan_key:          the planar range scan, a map {ranges: float32 array, angle_min, angle_increment}
                       (our protocol; sent when the observation has one); None to leave it out.
    """

    image_key: str = 'observation/image'
    extra_image_keys: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    image_layout: str = 'hwc'
    prompt_key: str = 'prompt'
    joints_key: str | None = 'observation/joint_positions'
    state: tuple[StateField, ...] = ()
    stamp_key: str | None = 'observation/stamp'
    base_pose_key: str | None = 'observation/base_pose'
    scan_key: str | None = 'observation/scan'

    def __post_init__(self) -> None:
        object.__setattr__(self, 'extra_image_keys', tuple(self.extra_image_keys))
        object.__setattr__(self, 'state',
                           tuple(s if isinstance(s, StateField) else StateField(**s) for s in self.state))
        if self.image_size is not None:
            size = tuple(int(x) for x in self.image_size)
            if len(size) != 2 or min(size) <= 0:
                raise ValueError(f'WireFormat.image_size must be (height, width) > 0 or None, got {self.image_size}')
            object.__setattr__(self, 'image_size', size)
        if self.image_layout not in IMAGE_LAYOUTS:
            raise ValueError(f"WireFormat.image_layout '{self.image_layout}' unknown; use one of {IMAGE_LAYOUTS}")
        keys = [self.image_key, *self.extra_image_keys, self.prompt_key, self.joints_key, self.stamp_key,
                self.base_pose_key, self.scan_key, *(s.key for s in self.state)]
        keys = [k for k in keys if k is not None]
        if any(not isinstance(k, str) or not k for k in keys):
            raise ValueError(f'WireFormat keys must be non-empty strings, got {keys}')
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f'WireFormat: key(s) {dup} used twice; each input needs its own key')

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> 'WireFormat':
        """A named format from :data:`WIRE_PRESETS`, with fields replaced by ``overrides``."""
        if name not in WIRE_PRESETS:
            raise ValueError(f"wire format preset '{name}' unknown; choose one of {sorted(WIRE_PRESETS)}")
        return replace(WIRE_PRESETS[name], **overrides) if overrides else WIRE_PRESETS[name]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'WireFormat':
        """Build from a plain mapping (YAML / ROS parameters); ``preset`` picks the base format."""
        data = dict(data)
        base = data.pop('preset', None)
        if 'state' in data:
            data['state'] = tuple(StateField(**s) if isinstance(s, Mapping) else s for s in data['state'])
        if 'image_size' in data and data['image_size'] is not None:
            data['image_size'] = tuple(data['image_size'])
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f'WireFormat: unknown field(s) {sorted(unknown)}; '
                             f'known: {sorted(cls.__dataclass_fields__)}')
        return cls.preset(base, **data) if base else cls(**data)


#: Observation formats of known servers. ``vla_ros2`` is vla-serve's. The openpi ones follow the
#: examples of openpi's repository (``examples/{libero,droid,aloha_real}``); their state vectors
#: are robot specific, so list your joints in ``StateField.joints`` (unlisted entries are 0.0).
WIRE_PRESETS: dict[str, WireFormat] = {
    'vla_ros2': WireFormat(),
    'libero': WireFormat(image_key='observation/image', extra_image_keys=('observation/wrist_image',),
                         image_size=(224, 224), joints_key=None, stamp_key=None, base_pose_key=None, scan_key=None,
                         state=(StateField('observation/state', dim=8),)),
    'droid': WireFormat(image_key='observation/exterior_image_1_left',
                        extra_image_keys=('observation/wrist_image_left',),
                        image_size=(224, 224), joints_key=None, stamp_key=None, base_pose_key=None, scan_key=None,
                        state=(StateField('observation/joint_position', dim=7),
                               StateField('observation/gripper_position', dim=1))),
    'aloha': WireFormat(image_key='images.cam_high',
                        extra_image_keys=('images.cam_low', 'images.cam_left_wrist', 'images.cam_right_wrist'),
                        image_size=(224, 224), image_layout='chw', joints_key=None, stamp_key=None,
                        base_pose_key=None, scan_key=None,
                        state=(StateField('state', dim=14),)),
}


def _put(msg: dict, key: str, value: Any) -> None:
    parts = key.split('.') if '/' not in key else [key]
    for p in parts[:-1]:
        msg = msg.setdefault(p, {})
    msg[parts[-1]] = value


def resize_with_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an H x W x 3 uint8 image to ``height`` x ``width`` keeping its aspect, padding with black.

    openpi's ``image_tools.resize_with_pad`` when openpi-client is installed (the exact
    preprocessing its models saw), else the same steps with Pillow.
    """
    if image.shape[:2] == (height, width):
        return image
    try:  # openpi-client is optional: imported where used so the fallback below runs without it
        from openpi_client import image_tools
        return image_tools.resize_with_pad(image, height, width)
    except ImportError:  # pragma: no cover - exercised when openpi-client is absent
        pass
    try:  # Pillow is optional: only this fallback needs it
        from PIL import Image
    except ImportError:  # pragma: no cover
        raise RuntimeError('WireFormat.image_size needs Pillow (pip install pillow) or openpi-client') from None
    h, w = image.shape[:2]
    ratio = max(w / width, h / height)
    rh, rw = int(h / ratio), int(w / ratio)
    small = Image.fromarray(image).resize((rw, rh), resample=Image.BILINEAR)
    out = Image.new(small.mode, (width, height), 0)
    out.paste(small, (max(0, int((width - rw) / 2)), max(0, int((height - rh) / 2))))
    return np.asarray(out)


def encode_observation(obs: Observation, wire: WireFormat = WireFormat()) -> dict:
    """Observation -> request map in ``wire``'s keys."""
    img = obs.image
    if wire.image_size is not None:
        img = resize_with_pad(img, *wire.image_size)
    img = np.ascontiguousarray(img.transpose(2, 0, 1) if wire.image_layout == 'chw' else img, dtype=np.uint8)
    msg: dict = {}
    _put(msg, wire.image_key, img)
    for k in wire.extra_image_keys:
        _put(msg, k, np.zeros_like(img))
    _put(msg, wire.prompt_key, obs.instruction)
    if wire.joints_key is not None:
        _put(msg, wire.joints_key, {str(k): float(v) for k, v in obs.joint_positions.items()})
    for s in wire.state:
        _put(msg, s.key, s.pack(obs.joint_positions))
    if wire.stamp_key is not None:
        _put(msg, wire.stamp_key, float(obs.stamp))
    if wire.base_pose_key is not None and obs.base_pose is not None:
        _put(msg, wire.base_pose_key, [float(v) for v in obs.base_pose])
    if wire.scan_key is not None and obs.scan is not None:
        _put(msg, wire.scan_key, {'ranges': np.asarray(obs.scan.ranges, dtype=np.float32),
                                  'angle_min': float(obs.scan.angle_min),
                                  'angle_increment': float(obs.scan.angle_increment)})
    return msg


def _as_uint8_image(value: Any, key: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise ProtocolError(f"'{key}' must be an H x W x 3 uint8 array, got {type(value).__name__}")
    img = value
    if img.ndim == 3 and img.shape[0] == 3 and img.shape[2] != 3:  # C x H x W (openpi ALOHA style)
        img = img.transpose(1, 2, 0)
    if img.dtype.kind == 'f':  # openpi's convert_to_uint8 convention: floats in [0, 1]
        if not np.all(np.isfinite(img)):
            raise ProtocolError(f"'{key}' has non-finite pixels")
        img = (255 * np.clip(img, 0.0, 1.0)).astype(np.uint8)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or 0 in img.shape:
        raise ProtocolError(f"'{key}' must be an H x W x 3 uint8 array, got shape {value.shape} dtype {value.dtype}")
    return np.array(img, copy=True)  # writable, and not a view of the message buffer


def decode_observation(msg: Any, state_joints: tuple[str, ...] = ()) -> Observation:
    """Request map (our keys) -> Observation. Raises :class:`ProtocolError` saying what is wrong.

    Joint positions come from ``observation/joint_positions``; without it, from
    ``observation/state`` when ``state_joints`` (the server's embodiment joints) has its length.
    The base pose (odometry) from ``observation/base_pose`` and the range scan from
    ``observation/scan`` when sent.
    """
    if not isinstance(msg, dict):
        raise ProtocolError(f'an observation must be a map, got {type(msg).__name__}')
    if 'observation/image' not in msg:
        raise ProtocolError("observation has no 'observation/image' (H x W x 3 uint8); "
                            f'keys sent: {sorted(map(str, msg))}')
    image = _as_uint8_image(msg['observation/image'], 'observation/image')
    prompt = msg.get('prompt', '')
    if isinstance(prompt, bytes):
        prompt = prompt.decode('utf-8', errors='replace')
    if not isinstance(prompt, str):
        raise ProtocolError(f"'prompt' must be a string, got {type(prompt).__name__}")
    joints: dict[str, float] = {}
    raw = msg.get('observation/joint_positions')
    if raw is not None:
        if not isinstance(raw, dict):
            raise ProtocolError(f"'observation/joint_positions' must be a map name -> float, got {type(raw).__name__}")
        try:
            joints = {str(k): float(v) for k, v in raw.items()}
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"'observation/joint_positions' values must be numbers ({exc})") from None
    elif 'observation/state' in msg and state_joints:
        try:
            state = np.asarray(msg['observation/state'], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"'observation/state' must be a float vector ({exc})") from None
        if state.size == len(state_joints):
            joints = dict(zip(state_joints, map(float, state)))
    stamp = msg.get('observation/stamp', 0.0)
    try:
        stamp = float(stamp)
    except (TypeError, ValueError):
        raise ProtocolError(f"'observation/stamp' must be a number, got {type(stamp).__name__}") from None
    pose = msg.get('observation/base_pose')
    if pose is not None:
        try:
            pose = tuple(float(v) for v in np.asarray(pose, dtype=np.float64).reshape(-1))
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"'observation/base_pose' must be [x, y, yaw] ({exc})") from None
        if len(pose) != 3:
            raise ProtocolError(f"'observation/base_pose' must be [x, y, yaw], got {len(pose)} numbers")
    return Observation(image=image, instruction=prompt, joint_positions=joints, stamp=stamp, base_pose=pose,
                       scan=_scan(msg.get('observation/scan')))


def _scan(raw: Any) -> PlanarScan | None:
    """``observation/scan`` ({ranges, angle_min, angle_increment}) -> PlanarScan; None when not sent."""
    if raw is None:
        return None
    what = "'observation/scan' must be a map {ranges: float array, angle_min, angle_increment}"
    if not isinstance(raw, dict):
        raise ProtocolError(f'{what}, got {type(raw).__name__}')
    try:
        ranges = np.asarray(raw['ranges'], dtype=np.float32).reshape(-1)
        angle_min, increment = float(raw['angle_min']), float(raw['angle_increment'])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f'{what} ({type(exc).__name__}: {exc})') from None
    if not (math.isfinite(angle_min) and math.isfinite(increment)):
        raise ProtocolError(f"'observation/scan' angles must be finite, got {angle_min}, {increment}")
    return PlanarScan(ranges, angle_min, increment)


__all__ = ['IMAGE_LAYOUTS', 'StateField', 'WIRE_PRESETS', 'WireFormat', 'decode_observation',
           'encode_observation', 'resize_with_pad']

"""The wire side of remote inference: packing, key mapping, action mapping and link status.

Protocol: openpi's websocket + msgpack-numpy protocol (``openpi_client`` is its reference
client), so our :class:`~vla_policy.remote.openpi_client.RemotePolicy` can drive a real openpi
server and openpi's ``WebsocketClientPolicy`` can drive our ``vla-serve``:

1. The client opens a websocket (no compression). The server first sends one binary message:
   the *metadata* map.
2. Then, for every step, the client sends one binary message, an observation map, and the
   server answers with one binary message, a map with at least ``"actions"``. A server that
   fails answers with one *text* message (the error); openpi's client raises on it.

Every binary message is msgpack; NumPy arrays travel as maps
``{b"__ndarray__": True, b"data": <raw bytes>, b"dtype": "<f4", b"shape": [..]}`` and NumPy
scalars as ``{b"__npgeneric__": True, b"data": <value>, b"dtype": ".."}`` (openpi's
``msgpack_numpy``). Packing uses openpi's module when ``openpi-client`` is installed and the
compatible re-implementation below otherwise (byte-identical). *Unpacking* always uses ours:
openpi's ``unpack_array`` builds arrays of any dtype straight from the received bytes, and an
object-dtype array made that way dereferences attacker-chosen pointers (a hostile peer can
crash the process); ours refuses object and structured dtypes.

Keys of *our* protocol (``vla_ros2``, what ``vla-serve`` expects and our client sends by default):

request   ``observation/image``            H x W x 3 uint8 RGB (required)
          ``prompt``                       str, the instruction
          ``observation/joint_positions``  map joint name -> float (rad or m)
          ``observation/state``            float32 vector; used by vla-serve only when the joint map
                                           is absent, as the embodiment's joints in order
          ``observation/stamp``            float seconds
reply     ``actions``                      (T, D) float32, the policy's normalised action space
          ``confidence``                   float 0..1 (ours; a real openpi server sends none)
          ``step_dt``                      float seconds between chunk steps (ours)
          ``done``                         bool (ours)
          ``policy_name``                  str (ours)
          ``server_timing``                map: ``infer_ms``, ``prev_total_ms`` (as openpi's server)
metadata  ``server`` = ``"vla_ros2"``, ``protocol_version``, ``policy_name``, ``action_dim``,
          ``embodiment``, ``state_joints`` (the order ``observation/state`` is read in),
          ``observation_keys``, ``reply_keys``

Real openpi servers name their inputs per robot config: :data:`WIRE_PRESETS` holds ``libero``,
``droid`` and ``aloha``; a :class:`WireFormat` makes every key and the image size configurable.
"""
from __future__ import annotations

import enum
import math
import threading
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping

import numpy as np

from vla_policy.core import Observation, PolicyOutput
from vla_policy.embodiment import Embodiment

try:
    import msgpack
except ImportError as exc:  # pragma: no cover - msgpack is a dependency of the remote module
    raise ImportError('vla_policy.remote needs msgpack: pip install msgpack websockets') from exc

try:  # openpi's reference implementation, when openpi-client is installed
    from openpi_client import msgpack_numpy as _openpi_msgpack_numpy
except ImportError:  # pragma: no cover - exercised when openpi-client is absent
    _openpi_msgpack_numpy = None

#: value of the metadata's "server" key when the server is vla-serve
SERVER_ID = 'vla_ros2'
PROTOCOL_VERSION = 1


class ProtocolError(ValueError):
    """A message does not follow the protocol; the text says what was wrong."""


# ---------------------------------------------------------------------------------------------
# msgpack-numpy (openpi's format)
# ---------------------------------------------------------------------------------------------
def pack_array(obj: Any) -> Any:
    """msgpack ``default`` hook: NumPy arrays and scalars -> openpi's msgpack-numpy maps."""
    if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind in ('V', 'O', 'c'):
        raise ValueError(f'Unsupported dtype: {obj.dtype}')
    if isinstance(obj, np.ndarray):
        return {b'__ndarray__': True, b'data': obj.tobytes(), b'dtype': obj.dtype.str, b'shape': obj.shape}
    if isinstance(obj, np.generic):
        return {b'__npgeneric__': True, b'data': obj.item(), b'dtype': obj.dtype.str}
    return obj


def unpack_array(obj: dict) -> Any:
    """msgpack ``object_hook``: the inverse of :func:`pack_array`, refusing object and
    structured dtypes (their bytes would be read as pointers)."""
    if b'__ndarray__' in obj:
        dtype = _safe_dtype(obj[b'dtype'])
        return np.ndarray(buffer=obj[b'data'], dtype=dtype, shape=obj[b'shape'])
    if b'__npgeneric__' in obj:
        return _safe_dtype(obj[b'dtype']).type(obj[b'data'])
    return obj


def _safe_dtype(descr: Any) -> np.dtype:
    if not isinstance(descr, (str, bytes)):
        raise ValueError(f'dtype must be a string, got {type(descr).__name__}')
    dtype = np.dtype(descr.decode() if isinstance(descr, bytes) else descr)
    if dtype.hasobject or dtype.kind in ('V', 'O', 'M', 'm'):
        raise ValueError(f'Unsupported dtype: {dtype}')
    return dtype


if _openpi_msgpack_numpy is not None:
    _packb: Callable[[Any], bytes] = _openpi_msgpack_numpy.packb
    MSGPACK_NUMPY_IMPL = 'openpi_client.msgpack_numpy'
else:  # pragma: no cover - exercised when openpi-client is absent
    def _packb(obj: Any) -> bytes:
        return msgpack.packb(obj, default=pack_array)
    MSGPACK_NUMPY_IMPL = 'vla_policy.remote.protocol'


def packb(obj: Any) -> bytes:
    """Serialise ``obj`` (maps, lists, str, numbers, NumPy arrays) to msgpack-numpy bytes
    (:data:`MSGPACK_NUMPY_IMPL` names the implementation)."""
    return _packb(obj)


def unpackb(data: bytes) -> Any:
    """Parse msgpack-numpy bytes; anything malformed raises :class:`ProtocolError`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f'expected a binary message, got {type(data).__name__}')
    try:
        return msgpack.unpackb(bytes(data), object_hook=unpack_array)
    except Exception as exc:  # noqa: BLE001 - msgpack and NumPy raise many types on hostile bytes
        raise ProtocolError(f'not a msgpack-numpy message ({type(exc).__name__}: {exc})') from None


# ---------------------------------------------------------------------------------------------
# observation keys
# ---------------------------------------------------------------------------------------------
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
    """

    image_key: str = 'observation/image'
    extra_image_keys: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    image_layout: str = 'hwc'
    prompt_key: str = 'prompt'
    joints_key: str | None = 'observation/joint_positions'
    state: tuple[StateField, ...] = ()
    stamp_key: str | None = 'observation/stamp'

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
                *(s.key for s in self.state)]
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
                         image_size=(224, 224), joints_key=None, stamp_key=None,
                         state=(StateField('observation/state', dim=8),)),
    'droid': WireFormat(image_key='observation/exterior_image_1_left',
                        extra_image_keys=('observation/wrist_image_left',),
                        image_size=(224, 224), joints_key=None, stamp_key=None,
                        state=(StateField('observation/joint_position', dim=7),
                               StateField('observation/gripper_position', dim=1))),
    'aloha': WireFormat(image_key='images.cam_high',
                        extra_image_keys=('images.cam_low', 'images.cam_left_wrist', 'images.cam_right_wrist'),
                        image_size=(224, 224), image_layout='chw', joints_key=None, stamp_key=None,
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
    try:
        from openpi_client import image_tools
        return image_tools.resize_with_pad(image, height, width)
    except ImportError:  # pragma: no cover - exercised when openpi-client is absent
        pass
    try:
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
    return Observation(image=image, instruction=prompt, joint_positions=joints, stamp=stamp)


# ---------------------------------------------------------------------------------------------
# replies
# ---------------------------------------------------------------------------------------------
def encode_reply(out: PolicyOutput, policy_name: str, server_timing: Mapping[str, float] | None = None) -> dict:
    """PolicyOutput -> reply map (openpi's ``actions`` plus our fields)."""
    reply = {'actions': np.ascontiguousarray(out.actions, dtype=np.float32),
             'confidence': float(out.confidence), 'step_dt': float(out.step_dt),
             'done': bool(out.done), 'policy_name': str(policy_name)}
    if server_timing is not None:
        reply['server_timing'] = {str(k): float(v) for k, v in server_timing.items()}
    return reply


ACTION_UNITS = ('normalized', 'physical')


@dataclass(frozen=True)
class ActionMapping:
    """How a server's action vectors become our normalised action vectors.

    indices:  for each of our action dimensions (the embodiment's order), the index in the
              server's vector, or -1 to hold that dimension at normalised 0 (the middle of its
              range). None: the server's vector is ours as it is (its length must match).
    units:    ``normalized``: the server sends our [-1, 1] space (vla-serve does);
              ``physical``: it sends robot units (openpi servers, OpenVLA after ``unnorm_key``),
              which the embodiment's statistics normalise.
    scale:    factors applied to the selected values before normalising (one per our
              dimension), e.g. ``1 / step_dt`` to turn a per-step displacement into a velocity.
    """

    indices: tuple[int, ...] | None = None
    units: str = 'normalized'
    scale: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.indices is not None:
            object.__setattr__(self, 'indices', tuple(int(i) for i in self.indices))
            if not self.indices or min(self.indices) < -1:
                raise ValueError(f'ActionMapping.indices must be server indices >= 0 or -1, got {self.indices}')
        if self.units not in ACTION_UNITS:
            raise ValueError(f"ActionMapping.units '{self.units}' unknown; use one of {ACTION_UNITS}")
        if self.scale is not None:
            object.__setattr__(self, 'scale', tuple(float(x) for x in self.scale))
            if not all(math.isfinite(x) for x in self.scale):
                raise ValueError(f'ActionMapping.scale must be finite numbers, got {self.scale}')
            if self.indices is not None and len(self.scale) != len(self.indices):
                raise ValueError(f'ActionMapping.scale has {len(self.scale)} entries, indices {len(self.indices)}')

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> 'ActionMapping':
        if not data:
            return cls()
        unknown = set(data) - {'indices', 'units', 'scale'}
        if unknown:
            raise ValueError(f'ActionMapping: unknown field(s) {sorted(unknown)}; known: indices, units, scale')
        idx, scale = data.get('indices'), data.get('scale')
        return cls(tuple(idx) if idx is not None and len(idx) else None, str(data.get('units', 'normalized')),
                   tuple(scale) if scale is not None and len(scale) else None)

    def check(self, embodiment: Embodiment | None) -> None:
        """Configuration errors that can be found before any message."""
        if self.units == 'physical' and embodiment is None:
            raise ValueError("ActionMapping.units='physical' needs an embodiment to normalise the server's actions")
        for what in ('indices', 'scale'):
            v = getattr(self, what)
            if v is not None and embodiment is not None and len(v) != embodiment.action_dim:
                raise ValueError(f"ActionMapping.{what} has {len(v)} entries; embodiment "
                                 f"'{embodiment.name}' has {embodiment.action_dim} action dims")

    def apply(self, actions: np.ndarray, embodiment: Embodiment | None = None) -> np.ndarray:
        """(T, D_server) -> (T, D) float32 in our normalised space; ProtocolError on a mismatch."""
        a = np.asarray(actions, dtype=np.float64)
        if self.units == 'physical' and embodiment is None:
            raise ValueError("ActionMapping.units='physical' needs an embodiment to normalise the server's actions")
        if self.indices is None:
            out = a.copy()
            if embodiment is not None and a.shape[1] != embodiment.action_dim:
                raise ProtocolError(f"server sent {a.shape[1]}-dim actions; embodiment '{embodiment.name}' has "
                                    f'{embodiment.action_dim} (configure the action mapping indices)')
            hold = np.zeros(a.shape[1], dtype=bool)
        else:
            idx = np.array(self.indices)
            if idx.max() >= a.shape[1]:
                raise ProtocolError(f'server sent {a.shape[1]}-dim actions; the action mapping reads index {idx.max()}')
            out = a[:, np.maximum(idx, 0)]
            hold = idx < 0
        if self.scale is not None:
            if len(self.scale) != out.shape[1]:
                raise ProtocolError(f'action mapping scale has {len(self.scale)} entries '
                                    f'for {out.shape[1]}-dim actions')
            out = out * np.array(self.scale)
        if self.units == 'physical':
            out = embodiment.normalize(out)
        out[:, hold] = 0.0
        return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class DecodedReply:
    output: PolicyOutput
    confidence_from_server: bool
    policy_name: str | None
    server_timing: dict


def _as_actions(raw: Any) -> np.ndarray:
    if isinstance(raw, np.ndarray):
        if raw.dtype.kind not in 'fiu':
            raise ProtocolError(f"'actions' must be numeric, got dtype {raw.dtype}")
        a = raw.astype(np.float64)
    else:
        try:
            a = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"'actions' must be a (T, D) numeric array, got {type(raw).__name__} ({exc})") from None
    if a.ndim == 3 and a.shape[0] == 1:  # (1, T, D): a batch of one
        a = a[0]
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or 0 in a.shape:
        raise ProtocolError(f"'actions' must be (T, D) with T, D >= 1, got shape {np.shape(raw)}")
    if not np.all(np.isfinite(a)):
        raise ProtocolError(f"'actions' contain NaN or infinite values (shape {a.shape})")
    return a


def _as_float(msg: dict, key: str, default: float) -> float:
    v = msg.get(key, default)
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.reshape(())[()]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ProtocolError(f"'{key}' must be a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise ProtocolError(f"'{key}' is not finite ({v})")
    return v


def decode_reply(msg: Any, mapping: ActionMapping = ActionMapping(), embodiment: Embodiment | None = None,
                 default_confidence: float = 0.5, default_step_dt: float = 0.1) -> DecodedReply:
    """Reply map -> PolicyOutput, checked. A reply without ``confidence`` (a real openpi server)
    gets ``default_confidence`` and ``confidence_from_server=False``."""
    if not isinstance(msg, dict):
        raise ProtocolError(f'a reply must be a map with "actions", got {type(msg).__name__}')
    if 'actions' not in msg:
        raise ProtocolError(f"reply has no 'actions'; keys sent: {sorted(map(str, msg))}")
    actions = mapping.apply(_as_actions(msg['actions']), embodiment)
    has_conf = 'confidence' in msg
    conf = _as_float(msg, 'confidence', default_confidence)
    if not 0.0 <= conf <= 1.0:
        raise ProtocolError(f"'confidence' must be in [0, 1], got {conf}")
    step_dt = _as_float(msg, 'step_dt', default_step_dt)
    if step_dt <= 0:
        raise ProtocolError(f"'step_dt' must be > 0 seconds, got {step_dt}")
    done = msg.get('done', False)
    if not isinstance(done, (bool, np.bool_)):
        raise ProtocolError(f"'done' must be a bool, got {type(done).__name__}")
    name = msg.get('policy_name')
    timing = msg.get('server_timing')
    return DecodedReply(PolicyOutput(actions, conf, step_dt, bool(done)), has_conf,
                        name if isinstance(name, str) else None, timing if isinstance(timing, dict) else {})


# ---------------------------------------------------------------------------------------------
# link status
# ---------------------------------------------------------------------------------------------
class LinkState(str, enum.Enum):
    """State of the link to an inference server."""

    NOT_CONNECTED = 'not_connected'    # no connection tried yet
    CONNECTED = 'connected'            # the last call got a valid reply
    DISCONNECTED = 'disconnected'      # server away (refused, closed, unreachable): reconnecting with backoff
    TIMED_OUT = 'timed_out'            # no reply within the timeout; the connection was dropped
    SERVER_ERROR = 'server_error'      # the server answered with an error
    PROTOCOL_ERROR = 'protocol_error'  # the server's message broke the protocol; the connection was dropped


@dataclass(frozen=True)
class LinkStatus:
    """A snapshot of the link (times on the client's monotonic clock, seconds)."""

    state: LinkState = LinkState.NOT_CONNECTED
    reason: str = 'not connected yet'
    since: float = 0.0
    failures: int = 0                    # consecutive failed calls
    retry_at: float | None = None        # no connection attempt before this time
    round_trip_s: float | None = None    # of the last successful call
    confidence_is_default: bool = False  # the server sends no confidence: ours is the configured default

    @property
    def available(self) -> bool:
        return self.state is LinkState.CONNECTED


class RemotePolicyUnavailable(RuntimeError):
    """The remote policy gave no usable action; ``status`` says why. The node publishes nothing."""

    def __init__(self, status: LinkStatus, detail: str = '') -> None:
        super().__init__(f'remote policy unavailable ({status.state.value}): {status.reason}'
                         + (f' [{detail}]' if detail else ''))
        self.status = status


@dataclass(frozen=True)
class Backoff:
    """Exponential reconnect delays: ``initial_s * factor**(failures-1)``, at most ``max_s``."""

    initial_s: float = 0.5
    max_s: float = 8.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not (self.initial_s >= 0 and self.max_s >= self.initial_s and self.factor >= 1):
            raise ValueError(f'Backoff needs 0 <= initial_s <= max_s and factor >= 1, got {self}')

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.max_s, self.initial_s * self.factor ** min(failures - 1, 64))


class LinkHealth:
    """Thread-safe status bookkeeping shared by the remote clients; time is passed in."""

    def __init__(self, backoff: Backoff = Backoff()) -> None:
        self._backoff = backoff
        self._lock = threading.Lock()
        self._status = LinkStatus()

    def snapshot(self) -> LinkStatus:
        with self._lock:
            return self._status

    def may_connect(self, now: float) -> bool:
        with self._lock:
            return self._status.retry_at is None or now >= self._status.retry_at

    def succeeded(self, now: float, reason: str, round_trip_s: float | None, confidence_is_default: bool) -> LinkStatus:
        with self._lock:
            since = self._status.since if self._status.state is LinkState.CONNECTED else now
            self._status = LinkStatus(LinkState.CONNECTED, reason, since, 0, None, round_trip_s, confidence_is_default)
            return self._status

    def failed(self, now: float, state: LinkState, reason: str, backoff: bool = True) -> LinkStatus:
        """Record a failure; with ``backoff`` the next connection attempt waits its delay."""
        with self._lock:
            s = self._status
            failures = s.failures + 1
            retry_at = now + self._backoff.delay(failures) if backoff else None
            since = s.since if s.state is state else now
            self._status = LinkStatus(state, reason, since, failures, retry_at, s.round_trip_s, s.confidence_is_default)
            return self._status


# ---------------------------------------------------------------------------------------------
# configuration from URL query strings (one ROS parameter selects and configures a remote policy)
# ---------------------------------------------------------------------------------------------
def _parse_size(text: str) -> tuple[int, int] | None:
    t = text.lower().replace(',', 'x').strip()
    if t in ('', 'none'):
        return None
    try:
        h, w = (int(v) for v in t.split('x'))
    except ValueError:
        raise ValueError(f"image_size '{text}' must look like 224x224 (height x width)") from None
    return h, w


def _parse_list(text: str, kind: type, what: str) -> tuple | None:
    if not text.strip():
        return None
    try:
        return tuple(kind(v) for v in text.split(','))
    except ValueError:
        raise ValueError(f"{what} '{text}' must be comma-separated {kind.__name__}s") from None


def config_from_query(cls: type, query: Mapping[str, str]) -> dict[str, Any]:
    """URL query strings -> typed fields of the config dataclass ``cls``.

    Plain fields are converted by the type of their default (bool, int, float, str). Special
    keys: ``wire`` (a preset name), ``image_size`` (``224x224``), ``action_indices`` (``0,1,-1``),
    ``action_units`` and ``action_scale`` (``5,5,1``)."""
    query = dict(query)
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    if 'image_size' in query:
        size = _parse_size(query.pop('image_size'))
        if 'wire' in known:
            out['wire'] = WireFormat.preset(query.pop('wire', 'vla_ros2'), image_size=size)
        else:
            out['image_size'] = size
    if 'wire' in query and 'wire' in known:
        out['wire'] = WireFormat.preset(query.pop('wire'))
    amap: dict[str, Any] = {}
    if 'action_indices' in query:
        amap['indices'] = _parse_list(query.pop('action_indices'), int, 'action_indices')
    if 'action_scale' in query:
        amap['scale'] = _parse_list(query.pop('action_scale'), float, 'action_scale')
    if 'action_units' in query:
        amap['units'] = query.pop('action_units')
    if amap:
        out['actions'] = ActionMapping(**amap)
    special = {'image_size', 'action_indices', 'action_scale', 'action_units'}
    for key, text in query.items():
        f = known.get(key)
        if f is None or key in ('wire', 'actions'):
            raise ValueError(f"unknown option '{key}'; known: {sorted((set(known) - {'actions'}) | special)}")
        default = f.default
        try:
            if isinstance(default, bool):
                if text.lower() not in ('1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'):
                    raise ValueError(text)
                value: Any = text.lower() in ('1', 'true', 'yes', 'on')
            elif isinstance(default, int):
                value = int(text)
            elif isinstance(default, float):
                value = float(text)
            else:
                value = text or None
        except ValueError:
            raise ValueError(f'option {key}={text!r} must be a {type(default).__name__}') from None
        out[key] = value
    return out


__all__ = [
    'ActionMapping', 'Backoff', 'DecodedReply', 'LinkHealth', 'LinkState', 'LinkStatus', 'MSGPACK_NUMPY_IMPL',
    'PROTOCOL_VERSION', 'ProtocolError', 'RemotePolicyUnavailable', 'SERVER_ID', 'StateField', 'WIRE_PRESETS',
    'WireFormat', 'config_from_query', 'decode_observation', 'decode_reply', 'encode_observation', 'encode_reply',
    'pack_array',
    'packb', 'resize_with_pad', 'unpack_array', 'unpackb',
]

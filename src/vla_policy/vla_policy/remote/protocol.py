"""The wire protocol of remote inference and its msgpack-numpy codec.

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

Real openpi servers name their inputs per robot config: :mod:`vla_policy.remote.wire` holds
the presets (``libero``, ``droid``, ``aloha``) and the configurable observation keys;
:mod:`~vla_policy.remote.reply` reads replies and maps actions; :mod:`~vla_policy.remote.link`
tracks the link; :mod:`~vla_policy.remote.query` reads a URL's options.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

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


__all__ = ['MSGPACK_NUMPY_IMPL', 'PROTOCOL_VERSION', 'ProtocolError', 'SERVER_ID', 'pack_array', 'packb',
           'unpack_array', 'unpackb']

"""Replies: what vla-serve sends back, and how a server's actions become ours.

:func:`encode_reply` writes a :class:`~vla_core.policy.PolicyOutput` as a reply map;
:func:`decode_reply` checks one and maps its actions into our normalised space with an
:class:`ActionMapping` (pick dimensions, scale, normalise robot units).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from vla_core.policy import PolicyOutput
from vla_core.embodiment import Embodiment
from vla_policy.remote.protocol import ProtocolError


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


__all__ = ['ACTION_UNITS', 'ActionMapping', 'DecodedReply', 'decode_reply', 'encode_reply']

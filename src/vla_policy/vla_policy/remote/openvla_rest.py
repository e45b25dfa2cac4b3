"""OpenVLA's REST server as a Policy: ``POST /act`` with json-numpy bodies.

OpenVLA's ``vla-scripts/deploy.py`` serves ``POST /act``. The request body is JSON in the
json-numpy encoding (a NumPy array is ``{"__numpy__": <base64 of its bytes>, "dtype": "|u1",
"shape": [H, W, 3]}``)::

    {"image": <H x W x 3 uint8>, "instruction": "pick up the cup", "unnorm_key": "bridge_orig"}

and the reply is the 7-DoF action (xyz delta, rpy delta, gripper), un-normalised with the
statistics of ``unnorm_key``, as a json-numpy array. When json-numpy is hard to install the
script also takes ``{"encoded": "<json-numpy text of the payload>"}`` and answers with the
json-numpy text as a JSON string (``double_encode``). On failure it answers the JSON string
``"error"``.

The 7-DoF vector is mapped onto an embodiment with an :class:`ActionMapping` (``units`` is
``physical``: OpenVLA's values are robot units, normalised by the embodiment's statistics;
``indices`` pick the dimensions; ``scale`` e.g. turns per-step displacements into velocities).
OpenVLA gives no confidence: the output carries ``default_confidence`` and the status says so.
The HTTP client is the standard library's (no ``requests`` needed).
"""
from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import numpy as np

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import Embodiment, load_embodiment
from vla_policy.remote.link import Backoff, LinkHealth, LinkState, LinkStatus, RemotePolicyUnavailable
from vla_policy.remote.protocol import ProtocolError
from vla_policy.remote.query import config_from_query
from vla_policy.remote.reply import ActionMapping, decode_reply
from vla_policy.remote.wire import resize_with_pad

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# json-numpy (the encoding of the json_numpy package that deploy.py uses)
# ---------------------------------------------------------------------------------------------
def _json_default(o: Any) -> Any:
    if isinstance(o, (np.ndarray, np.generic)):
        if o.dtype.kind in ('O', 'V'):
            raise TypeError(f'json-numpy cannot encode dtype {o.dtype}')
        a = np.ascontiguousarray(o)
        return {'__numpy__': base64.b64encode(a.tobytes()).decode('ascii'), 'dtype': a.dtype.str,
                'shape': list(a.shape)}
    raise TypeError(f'Object of type {type(o).__name__} is not JSON serializable')


def _json_object_hook(d: dict) -> Any:
    if '__numpy__' in d:
        dtype = np.dtype(d['dtype'])
        if dtype.kind in ('O', 'V'):
            raise ValueError(f'json-numpy dtype {dtype} is not allowed')
        arr = np.frombuffer(base64.b64decode(d['__numpy__'], validate=True), dtype)
        shape = d['shape']
        return arr.reshape(shape) if shape else arr[0]
    return d


def json_numpy_dumps(obj: Any) -> str:
    """JSON text with NumPy arrays in json-numpy form."""
    return json.dumps(obj, default=_json_default)


def json_numpy_loads(text: str | bytes) -> Any:
    """Parse json-numpy text; malformed input raises :class:`ProtocolError`."""
    try:
        return json.loads(text, object_hook=_json_object_hook)
    except Exception as exc:  # noqa: BLE001 - json, base64 and NumPy raise many types on hostile input
        raise ProtocolError(f'not json-numpy ({type(exc).__name__}: {exc})') from None


# ---------------------------------------------------------------------------------------------
# client
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenVLARestConfig:
    """How to reach an OpenVLA ``deploy.py`` server.

    --- server ---
    url:                 the ``/act`` endpoint, ``http://host:port/act``.
    unnorm_key:          dataset whose statistics un-normalise the actions (e.g. ``bridge_orig``);
                         None: the model's only one (deploy.py rejects None for multi-dataset models).
    double_encode:       send ``{"encoded": ...}`` (for servers without json-numpy patched in).

    --- time limits (seconds) ---
    timeout_s:           per socket operation (connect, send, each read) of one request.
    backoff_initial_s:   after a failure, no request for this long ...
    backoff_max_s:       ... doubling per consecutive failure, up to this.

    --- messages ---
    image_size:          (height, width) to resize-with-pad to before sending, or None (the
                         server's processor resizes; sending less saves bandwidth).
    actions:             7-DoF -> our action space (units ``physical`` by default).
    default_confidence:  OpenVLA sends no confidence; this is reported.
    step_dt:             seconds an action is meant to last (OpenVLA's Bridge data: 5 Hz).
    max_message_bytes:   largest reply accepted.
    """

    url: str = 'http://127.0.0.1:8000/act'
    unnorm_key: str | None = None
    double_encode: bool = False
    timeout_s: float = 2.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    image_size: tuple[int, int] | None = None
    actions: ActionMapping = ActionMapping(units='physical')
    default_confidence: float = 0.5
    step_dt: float = 0.2
    max_message_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if isinstance(self.actions, Mapping):
            object.__setattr__(self, 'actions', ActionMapping.from_dict({'units': 'physical', **self.actions}))
        parts = urlsplit(self.url)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise ValueError(f"OpenVLARestConfig.url '{self.url}' must look like http://host:port/act")
        if not self.timeout_s > 0:
            raise ValueError(f'OpenVLARestConfig.timeout_s must be > 0 seconds, got {self.timeout_s}')
        Backoff(self.backoff_initial_s, self.backoff_max_s)
        if self.image_size is not None:
            size = tuple(int(x) for x in self.image_size)
            if len(size) != 2 or min(size) <= 0:
                raise ValueError(f'OpenVLARestConfig.image_size must be (height, width) or None, got {self.image_size}')
            object.__setattr__(self, 'image_size', size)
        if not 0.0 <= self.default_confidence <= 1.0:
            raise ValueError(f'OpenVLARestConfig.default_confidence must be in [0, 1], got {self.default_confidence}')
        if not self.step_dt > 0:
            raise ValueError(f'OpenVLARestConfig.step_dt must be > 0 seconds, got {self.step_dt}')

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> 'OpenVLARestConfig':
        """``http://gpu:8000/act?unnorm_key=bridge_orig&action_indices=0,1,-1&action_scale=5,5,1``"""
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        fields = config_from_query(cls, query)
        if 'actions' in fields and 'action_units' not in query:
            fields['actions'] = replace(fields['actions'], units='physical')
        base = urlunsplit((parts.scheme, parts.netloc, parts.path or '/act', '', ''))
        return cls(**{**fields, 'url': base, **overrides})


class OpenVLARestPolicy(Policy):
    """A :class:`~vla_core.policy.Policy` served by OpenVLA's ``deploy.py`` (``POST /act``).

    ``OpenVLARestPolicy(embodiment, config, **overrides)``; ``overrides`` replace config fields.
    Never raises on network or server failure except :class:`RemotePolicyUnavailable`.
    """

    name = 'openvla_rest'

    def __init__(self, embodiment: Embodiment | str | None = None, config: OpenVLARestConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic, **overrides: Any) -> None:
        cfg = config or OpenVLARestConfig()
        self.config = replace(cfg, **overrides) if overrides else cfg
        self.embodiment = load_embodiment(embodiment) if isinstance(embodiment, str) else embodiment
        self.config.actions.check(self.embodiment)
        self._clock = clock
        self._health = LinkHealth(Backoff(self.config.backoff_initial_s, self.config.backoff_max_s))
        self._lock = threading.Lock()
        # no proxies from the environment: the robot talks to its GPU box directly
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def status(self) -> LinkStatus:
        return self._health.snapshot()

    def encode_request(self, obs: Observation) -> bytes:
        """The POST body for ``obs`` (json-numpy)."""
        img = obs.image if self.config.image_size is None else resize_with_pad(obs.image, *self.config.image_size)
        payload: dict[str, Any] = {'image': np.ascontiguousarray(img, dtype=np.uint8), 'instruction': obs.instruction}
        if self.config.unnorm_key is not None:
            payload['unnorm_key'] = self.config.unnorm_key
        text = json_numpy_dumps(payload)
        if self.config.double_encode:
            text = json.dumps({'encoded': text})
        return text.encode('utf-8')

    def decode_response(self, body: bytes) -> PolicyOutput:
        """The server's answer -> PolicyOutput; ProtocolError if it is not an action."""
        value = json_numpy_loads(body)
        if isinstance(value, str):
            if value.strip() == 'error':
                raise _ServerSaidError()
            value = json_numpy_loads(value)  # double-encoded answer
        if isinstance(value, dict):
            raise ProtocolError(f'expected an action array, got a map with keys {sorted(map(str, value))}')
        return decode_reply({'actions': value}, self.config.actions, self.embodiment,
                            self.config.default_confidence, self.config.step_dt).output

    def infer(self, obs: Observation) -> PolicyOutput:
        with self._lock:
            cfg = self.config
            now = self._clock()
            if not self._health.may_connect(now):
                s = self._health.snapshot()
                raise RemotePolicyUnavailable(s, f'next attempt in {(s.retry_at or now) - now:.2f} s')
            req = urllib.request.Request(cfg.url, data=self.encode_request(obs), method='POST',
                                         headers={'Content-Type': 'application/json'})
            t0 = self._clock()
            try:
                with self._opener.open(req, timeout=cfg.timeout_s) as resp:
                    body = resp.read(cfg.max_message_bytes + 1)
            except urllib.error.HTTPError as exc:
                detail = exc.read(300).decode('utf-8', errors='replace').strip()
                raise self._fail(LinkState.SERVER_ERROR, f'{cfg.url} answered HTTP {exc.code} {exc.reason}'
                                 + (f': {detail}' if detail else ''), backoff=False) from None
            except (TimeoutError, socket.timeout) as exc:
                raise self._fail(LinkState.TIMED_OUT,
                                 f'no answer from {cfg.url} within {cfg.timeout_s:g} s ({exc})') from None
            except urllib.error.URLError as exc:
                state = LinkState.TIMED_OUT if isinstance(exc.reason, (TimeoutError, socket.timeout)) \
                    else LinkState.DISCONNECTED
                raise self._fail(state, f'cannot reach {cfg.url} ({exc.reason})') from None
            except (http.client.HTTPException, OSError) as exc:
                raise self._fail(LinkState.DISCONNECTED,
                                 f'connection to {cfg.url} failed ({type(exc).__name__}: {exc})') from None
            rtt = self._clock() - t0
            if len(body) > cfg.max_message_bytes:
                raise self._fail(LinkState.PROTOCOL_ERROR,
                                 f'answer from {cfg.url} exceeds {cfg.max_message_bytes} bytes')
            try:
                out = self.decode_response(body)
            except _ServerSaidError:
                raise self._fail(LinkState.SERVER_ERROR, f'{cfg.url} answered "error" (the request failed on the '
                                 'server; its log has the traceback)', backoff=False) from None
            except ProtocolError as exc:
                raise self._fail(LinkState.PROTOCOL_ERROR, f'malformed answer from {cfg.url}: {exc}') from None
            self._health.succeeded(self._clock(), f'connected to {cfg.url}; OpenVLA sends no confidence, reporting '
                                   f'the default {cfg.default_confidence:.2f}', rtt, True)
            return out

    def _fail(self, state: LinkState, reason: str, backoff: bool = True) -> RemotePolicyUnavailable:
        status = self._health.failed(self._clock(), state, reason, backoff)
        log.warning('OpenVLA REST: %s', reason)
        return RemotePolicyUnavailable(status)


class _ServerSaidError(Exception):
    pass

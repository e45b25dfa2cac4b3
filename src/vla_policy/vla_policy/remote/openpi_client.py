"""RemotePolicy: a Policy whose ``infer`` runs on an openpi-protocol server (vla-serve or openpi's).

Synchronous, for the inference node's worker thread. Every call is bounded: at most
``connect_timeout_s`` to (re)connect plus ``timeout_s`` for the reply. On any network or
protocol failure ``infer`` raises :class:`~vla_policy.remote.link.RemotePolicyUnavailable`
(its ``status`` says why) and nothing else: the node publishes no proposal for that frame, the
safety node sees the proposals stop and stops the robot. While the server is away, connection
attempts are spaced by exponential backoff (``backoff_initial_s`` doubling up to
``backoff_max_s``), and calls in between fail at once instead of blocking.

A real openpi server replies with ``actions`` only: the output gets ``default_confidence`` and
``step_dt`` from the config, and :meth:`RemotePolicy.status` says that the confidence is a
default. Its actions are usually in robot units for its own robot: set ``actions`` (an
:class:`~vla_policy.remote.reply.ActionMapping`) to pick dimensions and normalise them
through the embodiment, and ``wire`` to the server's observation keys (presets ``libero``,
``droid``, ``aloha``).
"""
from __future__ import annotations

import inspect
import logging
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import Embodiment, load_embodiment
from vla_policy.remote.link import Backoff, LinkHealth, LinkState, LinkStatus, RemotePolicyUnavailable
from vla_policy.remote.protocol import SERVER_ID, ProtocolError, packb, unpackb
from vla_policy.remote.query import config_from_query
from vla_policy.remote.reply import ActionMapping, decode_reply
from vla_policy.remote.wire import WireFormat, encode_observation

log = logging.getLogger(__name__)

# websockets >= 15 reads proxies from the environment; the robot talks to its server directly
_NO_PROXY = {'proxy': None} if 'proxy' in inspect.signature(connect).parameters else {}


@dataclass(frozen=True)
class RemotePolicyConfig:
    """How to reach an openpi-protocol server and read its replies.

    --- server ---
    uri:                 ``ws://host:port`` (``wss://`` for TLS, e.g. behind a reverse proxy).
    api_key:             sent as ``Authorization: Api-Key <key>`` (openpi's header; vla-serve --api-key).

    --- time limits (seconds) ---
    timeout_s:           longest wait for one reply; past it the call fails and the connection
                         is dropped (a late reply would answer the wrong request).
    connect_timeout_s:   longest wait to open the connection and receive the metadata.
    backoff_initial_s:   wait before the first reconnection attempt after a failure ...
    backoff_max_s:       ... doubling per consecutive failure, up to this.

    --- messages ---
    wire:                observation keys / image size (a :class:`WireFormat` or a preset name:
                         ``vla_ros2`` (default, vla-serve), ``libero``, ``droid``, ``aloha``).
    actions:             how the server's action vectors become ours (:class:`ActionMapping`).
    default_confidence:  confidence reported when the server sends none (a real openpi server).
    step_dt:             seconds between chunk steps when the server does not say.
    max_message_bytes:   largest reply accepted.
    """

    uri: str = 'ws://127.0.0.1:8000'
    api_key: str | None = None
    # time limits
    timeout_s: float = 1.0
    connect_timeout_s: float = 1.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    # messages
    wire: WireFormat = WireFormat()
    actions: ActionMapping = ActionMapping()
    default_confidence: float = 0.5
    step_dt: float = 0.1
    max_message_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if isinstance(self.wire, str):
            object.__setattr__(self, 'wire', WireFormat.preset(self.wire))
        elif isinstance(self.wire, Mapping):
            object.__setattr__(self, 'wire', WireFormat.from_dict(self.wire))
        if isinstance(self.actions, Mapping):
            object.__setattr__(self, 'actions', ActionMapping.from_dict(self.actions))
        uri = self.uri if '://' in self.uri else f'ws://{self.uri}'
        object.__setattr__(self, 'uri', uri)
        parts = urlsplit(uri)
        if parts.scheme not in ('ws', 'wss') or not parts.hostname:
            raise ValueError(f"RemotePolicyConfig.uri '{self.uri}' must look like ws://host:port")
        for name in ('timeout_s', 'connect_timeout_s'):
            if not getattr(self, name) > 0:
                raise ValueError(f'RemotePolicyConfig.{name} must be > 0 seconds, got {getattr(self, name)}')
        Backoff(self.backoff_initial_s, self.backoff_max_s)  # validates
        if not 0.0 <= self.default_confidence <= 1.0:
            raise ValueError(f'RemotePolicyConfig.default_confidence must be in [0, 1], got {self.default_confidence}')
        if not self.step_dt > 0:
            raise ValueError(f'RemotePolicyConfig.step_dt must be > 0 seconds, got {self.step_dt}')
        if self.max_message_bytes < 1024:
            raise ValueError(f'RemotePolicyConfig.max_message_bytes is too small ({self.max_message_bytes})')

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> 'RemotePolicyConfig':
        """``ws://host:port?timeout_s=0.5&wire=droid&action_indices=0,1,-1&action_units=physical``:
        query parameters set fields (``image_size=224x224``, ``action_indices``, ``action_units``
        for the mapping); ``overrides`` win over the query."""
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, '', ''))
        return cls(**{**config_from_query(cls, query), 'uri': base, **overrides})


class RemotePolicy(Policy):
    """A :class:`~vla_core.policy.Policy` served by an openpi-protocol server.

    ``RemotePolicy(embodiment, config, **overrides)`` (the registry's ``cls(embodiment, **options)``
    convention): ``overrides`` replace config fields, e.g. ``uri='ws://gpu:8000'``, ``wire='droid'``.
    ``embodiment`` (object or name) checks the action dimension and normalises ``physical``
    actions. ``clock`` is injectable for tests.
    """

    name = 'openpi_remote'

    def __init__(self, embodiment: Embodiment | str | None = None, config: RemotePolicyConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic, **overrides: Any) -> None:
        cfg = config or RemotePolicyConfig()
        self.config = replace(cfg, **overrides) if overrides else cfg
        self.embodiment = load_embodiment(embodiment) if isinstance(embodiment, str) else embodiment
        self.config.actions.check(self.embodiment)
        self._clock = clock
        self._health = LinkHealth(Backoff(self.config.backoff_initial_s, self.config.backoff_max_s))
        self._call_lock = threading.Lock()
        self._ws: ClientConnection | None = None
        self.server_metadata: dict = {}

    # -- status ------------------------------------------------------------------------------
    def status(self) -> LinkStatus:
        """The link's state and a reason, safe to call from any thread."""
        return self._health.snapshot()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def reads_odometry(self) -> bool:
        """The served policy reads the base pose (vla-serve's metadata says so once connected)."""
        return bool(self.server_metadata.get('reads_odometry'))

    @property
    def reads_scan(self) -> bool:
        """The served policy reads the range scan (vla-serve's metadata says so once connected)."""
        return bool(self.server_metadata.get('reads_scan'))

    @property
    def server_is_ours(self) -> bool:
        return self.server_metadata.get('server') == SERVER_ID

    # -- Policy ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Nothing to send: vla-serve resets its policy when the prompt changes (openpi's
        protocol has no reset message)."""

    def infer(self, obs: Observation) -> PolicyOutput:
        with self._call_lock:
            if self._ws is None:
                self._connect()
            msg = encode_observation(obs, self.config.wire)
            t0 = self._clock()
            try:
                self._ws.send(packb(msg))
                raw = self._ws.recv(timeout=self.config.timeout_s)
            except TimeoutError:
                self._drop()
                raise self._fail(LinkState.TIMED_OUT, f'no reply from {self.config.uri} within '
                                 f'{self.config.timeout_s:g} s; connection dropped') from None
            except (ConnectionClosed, OSError, WebSocketException) as exc:
                self._drop()
                raise self._fail(LinkState.DISCONNECTED,
                                 f'connection to {self.config.uri} lost ({_describe(exc)})') from None
            rtt = self._clock() - t0
            if isinstance(raw, str):  # openpi's servers answer errors as text
                lines = raw.strip().splitlines() or ['(empty error message)']
                summary = lines[0][:200] + (f' ... {lines[-1][:200]}' if len(lines) > 1 else '')
                raise self._fail(LinkState.SERVER_ERROR, f'server error: {summary}', backoff=False)
            try:
                reply = decode_reply(unpackb(raw), self.config.actions, self.embodiment,
                                     self.config.default_confidence, self.config.step_dt)
            except ProtocolError as exc:
                self._drop()
                raise self._fail(LinkState.PROTOCOL_ERROR, f'malformed reply from {self.config.uri}: {exc}') from None
            reason = f'connected to {self.config.uri}'
            if self.server_metadata.get('policy_name'):
                reason += f" (policy '{self.server_metadata['policy_name']}')"
            if not reply.confidence_from_server:
                reason += ('; the server sends no confidence, reporting the default '
                           f'{self.config.default_confidence:.2f}')
            self._health.succeeded(self._clock(), reason, rtt, not reply.confidence_from_server)
            return reply.output

    def close(self) -> None:
        with self._call_lock:
            self._drop(graceful=True)

    def __enter__(self) -> 'RemotePolicy':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- connection --------------------------------------------------------------------------
    def _connect(self) -> None:
        now = self._clock()
        if not self._health.may_connect(now):
            s = self._health.snapshot()
            raise RemotePolicyUnavailable(s, f'next reconnection attempt in {(s.retry_at or now) - now:.2f} s')
        cfg = self.config
        headers = {'Authorization': f'Api-Key {cfg.api_key}'} if cfg.api_key else None
        deadline = time.monotonic() + cfg.connect_timeout_s   # network deadlines use the real clock
        try:
            ws = connect(cfg.uri, compression=None, max_size=cfg.max_message_bytes, additional_headers=headers,
                         open_timeout=cfg.connect_timeout_s, close_timeout=min(1.0, cfg.connect_timeout_s),
                         **_NO_PROXY)
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise self._fail(LinkState.DISCONNECTED, f'cannot reach {cfg.uri} ({_describe(exc)})') from None
        try:
            metadata = unpackb(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
            if not isinstance(metadata, dict):
                raise ProtocolError(f'the first message must be a metadata map, got {type(metadata).__name__}')
        except TimeoutError:
            _close(ws)
            raise self._fail(LinkState.TIMED_OUT,
                             f'{cfg.uri} sent no metadata within {cfg.connect_timeout_s:g} s') from None
        except (ConnectionClosed, OSError, WebSocketException) as exc:
            _close(ws)
            raise self._fail(LinkState.DISCONNECTED, f'{cfg.uri} closed the connection ({_describe(exc)})') from None
        except ProtocolError as exc:
            _close(ws)
            raise self._fail(LinkState.PROTOCOL_ERROR, f'bad metadata from {cfg.uri}: {exc}') from None
        problem = self._check_metadata(metadata)
        if problem:
            _close(ws, graceful=True)
            raise self._fail(LinkState.PROTOCOL_ERROR, problem)
        self._ws, self.server_metadata = ws, metadata
        log.info('connected to %s (%s)', cfg.uri, metadata.get('policy_name', 'openpi server'))

    def _check_metadata(self, md: dict) -> str | None:
        """Mismatches that would make every reply unusable, found at connection time."""
        dim = md.get('action_dim')
        e = self.embodiment
        if (md.get('server') == SERVER_ID and isinstance(dim, int) and e is not None
                and self.config.actions.indices is None and dim != e.action_dim):
            return (f"server policy '{md.get('policy_name')}' outputs {dim}-dim actions "
                    f"(embodiment '{md.get('embodiment')}'); ours, '{e.name}', has {e.action_dim}")
        return None

    def _drop(self, graceful: bool = False) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            _close(ws, graceful)

    def _fail(self, state: LinkState, reason: str, backoff: bool = True) -> RemotePolicyUnavailable:
        status = self._health.failed(self._clock(), state, reason, backoff)
        log.warning('remote policy: %s', reason)
        return RemotePolicyUnavailable(status)


def _close(ws: ClientConnection, graceful: bool = False) -> None:
    """Close a connection; unless ``graceful``, without the closing handshake (after a timeout
    or a broken message the peer may be stuck, and waiting for it would exceed our time limit)."""
    if not graceful:
        try:
            ws.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        ws.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways; it is gone anyway
        pass


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f'{type(exc).__name__}: {text}' if type(exc).__name__ not in text else text

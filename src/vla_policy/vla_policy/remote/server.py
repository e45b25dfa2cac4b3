"""``vla-serve``: serve any policy of the suite over openpi's websocket + msgpack-numpy protocol.

Run it on the GPU box; the robot's inference node talks to it through
:class:`~vla_policy.remote.openpi_client.RemotePolicy`, and openpi's own
``openpi_client.websocket_client_policy.WebsocketClientPolicy`` works against it too::

    vla-serve --policy seed_vla --embodiment vla_humanoid             # ws://127.0.0.1:8000
    vla-serve --policy keyword --port 0                               # any free port (printed)
    vla-serve --policy seed_vla --latency-ms 150                      # add latency, for benchmarks

Binding: the server listens on 127.0.0.1 only unless told otherwise. To reach it from a robot:

* SSH tunnel (recommended, encrypted, nothing exposed): on the robot
  ``ssh -N -L 8000:127.0.0.1:8000 user@gpu-box`` and point the robot at ``ws://127.0.0.1:8000``.
* On a trusted LAN: ``vla-serve --host 0.0.0.0 --api-key "$SECRET"`` (or ``VLA_SERVE_API_KEY``),
  open the port in the firewall for the robot's address only, and give the client the same
  key (openpi's header ``Authorization: Api-Key <key>``). Traffic is not encrypted.

Protocol (see :mod:`vla_policy.remote.protocol` for the keys): on connect the server sends
its metadata; then one reply per request. A bad request or a policy failure is answered with a
text message (``bad request: ...`` / ``policy error: ...``) and the connection stays open, so
the client can go on. ``GET /healthz`` answers 200 (as openpi's server). The policy is reset
when a connection opens and whenever the prompt changes; calls are serialised with a lock, so
several clients share one policy one call at a time.
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import http
import ipaddress
import logging
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import Embodiment, load_embodiment
from vla_policy.errors import PolicyLoadError
from vla_policy.registry import make_policy
from vla_policy.remote.protocol import PROTOCOL_VERSION, SERVER_ID, ProtocolError, packb, unpackb
from vla_policy.remote.reply import encode_reply
from vla_policy.remote.wire import decode_observation

log = logging.getLogger('vla_serve')

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 8000
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20
API_KEY_ENV = 'VLA_SERVE_API_KEY'


def _is_loopback(host: str) -> bool:
    if host in ('localhost', ''):
        return host == 'localhost'
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PolicyServer:
    """Serves one :class:`~vla_core.policy.Policy` over openpi's websocket protocol.

    policy:             any policy of the suite.
    host, port:         bind address; port 0 picks a free port (see :attr:`port` once started).
    embodiment:         the policy's embodiment; names the joints of ``observation/state`` and
                        goes into the metadata.
    latency_s:          artificial delay added to every reply (benchmarks, tests).
    api_key:            when set, connections must send ``Authorization: Api-Key <key>``.
    metadata:           extra entries for the metadata message.
    max_message_bytes:  largest request accepted.

    Use :meth:`serve_forever` (blocking, stops on SIGINT/SIGTERM) or :meth:`start` /
    :meth:`stop` (a background thread; also a context manager).
    """

    def __init__(self, policy: Policy, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                 embodiment: Embodiment | None = None, latency_s: float = 0.0, api_key: str | None = None,
                 metadata: dict[str, Any] | None = None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        if latency_s < 0:
            raise ValueError(f'latency_s must be >= 0, got {latency_s}')
        if not 0 <= int(port) <= 65535:
            raise ValueError(f'port must be 0..65535, got {port}')
        self.policy = policy
        self.host = host
        self._port = int(port)
        self.embodiment = embodiment
        self.latency_s = float(latency_s)
        self._api_key = api_key or None
        self._max_message_bytes = int(max_message_bytes)
        self._state_joints = embodiment.joint_names if embodiment is not None else ()
        self.metadata = {
            'server': SERVER_ID, 'protocol_version': PROTOCOL_VERSION, 'policy_name': policy.name,
            'embodiment': embodiment.name if embodiment is not None else None,
            'action_dim': embodiment.action_dim if embodiment is not None else None,
            'state_joints': list(self._state_joints),
            'observation_keys': {'image': 'observation/image', 'prompt': 'prompt',
                                 'joint_positions': 'observation/joint_positions',
                                 'state': 'observation/state', 'stamp': 'observation/stamp',
                                 'base_pose': 'observation/base_pose', 'scan': 'observation/scan'},
            'reads_odometry': bool(getattr(policy, 'reads_odometry', False)),
            'reads_scan': bool(getattr(policy, 'reads_scan', False)),
            'reply_keys': ['actions', 'confidence', 'step_dt', 'done', 'policy_name', 'server_timing'],
            **(metadata or {}),
        }
        self._policy_lock = threading.Lock()  # Policy.infer is safe from one thread at a time
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._ready = threading.Event()

    # -- addresses ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (the requested one until the server listens)."""
        return self._port

    @property
    def url(self) -> str:
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'ws://{host}:{self._port}'

    # -- serving -----------------------------------------------------------------------------
    async def serve(self, on_ready: Callable[['PolicyServer'], None] | None = None) -> None:
        """Serve until :meth:`stop` is called (from any thread)."""
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self._handler, self.host, self._port, compression=None,
                         max_size=self._max_message_bytes, process_request=self._process_request) as server:
            self._server = server
            self._port = server.sockets[0].getsockname()[1]
            if not _is_loopback(self.host):
                log.warning('listening on %s, reachable from the network%s', self.url,
                            '' if self._api_key else ' WITHOUT an API key (set --api-key, or use an SSH tunnel)')
            if on_ready is not None:
                on_ready(self)
            self._ready.set()
            await self._stop

    def serve_forever(self, on_ready: Callable[['PolicyServer'], None] | None = None) -> None:
        """Block serving; SIGINT / SIGTERM stop the server cleanly."""
        async def run() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self.stop)
                except (NotImplementedError, RuntimeError):  # not the main thread / not POSIX
                    pass
            await self.serve(on_ready)
        asyncio.run(run())

    def start(self, timeout: float = 10.0) -> 'PolicyServer':
        """Serve from a background thread; returns once listening (raises if binding failed)."""
        if self._thread is not None:
            raise RuntimeError('PolicyServer already started')

        def run() -> None:
            try:
                asyncio.run(self.serve())
            except BaseException as exc:  # noqa: BLE001 - reported to start()'s caller
                self._start_error = exc
                self._ready.set()

        self._thread = threading.Thread(target=run, name=f'vla-serve:{self._port}', daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f'vla-serve did not start within {timeout} s')
        if self._start_error is not None:
            raise self._start_error
        return self

    def stop(self, timeout: float = 5.0, abrupt: bool = False) -> None:
        """Stop serving. ``abrupt`` drops the open connections without a close handshake,
        as a crashed server would."""
        loop, fut = self._loop, self._stop
        if loop is None or fut is None or loop.is_closed():
            return

        def finish() -> None:
            if abrupt and self._server is not None:
                for conn in list(self._server.connections):
                    conn.transport.abort()
            if not fut.done():
                fut.set_result(None)
        try:
            loop.call_soon_threadsafe(finish)
        except RuntimeError:  # loop already closed
            return
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> 'PolicyServer':
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- connections -------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request) -> Any:
        if request.path == '/healthz':
            return connection.respond(http.HTTPStatus.OK, 'OK\n')
        if self._api_key is not None:
            sent = request.headers.get('Authorization', '')
            if not hmac.compare_digest(sent.encode(), f'Api-Key {self._api_key}'.encode()):
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, 'missing or wrong API key\n')
        return None

    def _infer(self, obs: Observation, reset: bool) -> tuple[PolicyOutput, float]:
        with self._policy_lock:
            if reset:
                self.policy.reset()
            t0 = time.perf_counter()
            out = self.policy.infer(obs)
            dt = time.perf_counter() - t0
        if not isinstance(out, PolicyOutput):
            raise TypeError(f'{type(self.policy).__name__}.infer returned {type(out).__name__}, not PolicyOutput')
        if not out.is_finite:
            raise ValueError('policy returned non-finite actions or confidence')
        return out, dt

    async def _handler(self, ws: ServerConnection) -> None:
        peer = ws.remote_address
        log.info('connection from %s opened', peer)
        last_prompt: str | None = None
        prev_total_s: float | None = None
        try:
            await ws.send(packb(self.metadata))
            async for message in ws:
                t0 = time.monotonic()
                try:
                    obs = decode_observation(unpackb(message), self._state_joints)
                except ProtocolError as exc:
                    log.warning('bad request from %s: %s', peer, exc)
                    await ws.send(f'bad request: {exc}')
                    continue
                reset, last_prompt = obs.instruction != last_prompt, obs.instruction
                try:
                    out, infer_s = await asyncio.to_thread(self._infer, obs, reset)
                except Exception:  # noqa: BLE001 - a policy failure must not take the server down
                    tb = traceback.format_exc()
                    log.error('policy %s failed:\n%s', self.policy.name, tb)
                    await ws.send(f'policy error: {tb}')
                    continue
                if self.latency_s > 0:
                    await asyncio.sleep(self.latency_s)
                timing = {'infer_ms': infer_s * 1e3}
                if prev_total_s is not None:
                    timing['prev_total_ms'] = prev_total_s * 1e3
                await ws.send(packb(encode_reply(out, self.policy.name, timing)))
                prev_total_s = time.monotonic() - t0
        except ConnectionClosed:
            pass
        log.info('connection from %s closed', peer)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='vla-serve', description='Serve a VLA policy over the openpi websocket protocol '
        '(openpi-client compatible). Binds to 127.0.0.1 unless --host says otherwise.')
    p.add_argument('--policy', default='seed_vla',
                   help="policy spec for vla_policy.registry.make_policy: a registered name, a 'module:Class' "
                        'target or a checkpoint directory (default: %(default)s)')
    p.add_argument('--embodiment', default='vla_humanoid',
                   help='embodiment: a bundled name or a YAML path (default: %(default)s)')
    p.add_argument('--host', default=DEFAULT_HOST,
                   help='bind address (default: %(default)s; 0.0.0.0 exposes it, see --api-key)')
    p.add_argument('--port', type=int, default=DEFAULT_PORT, help='TCP port, 0 = any free one (default: %(default)s)')
    p.add_argument('--latency-ms', type=float, default=0.0,
                   help='artificial latency added to every reply, ms, for benchmarks (default: 0)')
    p.add_argument('--api-key', default=os.environ.get(API_KEY_ENV),
                   help=f'require "Authorization: Api-Key <key>" from clients (default: ${API_KEY_ENV})')
    p.add_argument('--max-message-mb', type=float, default=DEFAULT_MAX_MESSAGE_BYTES / (1 << 20),
                   help='largest request accepted, MiB (default: %(default)s)')
    p.add_argument('--log-level', default='INFO', choices=('DEBUG', 'INFO', 'WARNING', 'ERROR'))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format='[%(levelname)s] [%(name)s] %(message)s')
    logging.getLogger('websockets').setLevel(max(logging.WARNING, logging.getLogger().level))
    if args.latency_ms < 0:
        print('vla-serve: --latency-ms must be >= 0', file=sys.stderr)
        return 2
    try:
        embodiment = load_embodiment(args.embodiment)
        policy = make_policy(args.policy, embodiment)
    except (PolicyLoadError, ValueError, OSError) as exc:
        print(f'vla-serve: {exc}', file=sys.stderr)
        return 2
    server = PolicyServer(policy, args.host, args.port, embodiment=embodiment, latency_s=args.latency_ms / 1e3,
                          api_key=args.api_key, max_message_bytes=int(args.max_message_mb * (1 << 20)))

    def ready(s: PolicyServer) -> None:
        # one line on stdout with the real port (useful with --port 0)
        print(f"vla-serve: policy '{policy.name}' on embodiment '{embodiment.name}' listening on {s.url}", flush=True)
    try:
        server.serve_forever(ready)
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # e.g. address in use
        print(f'vla-serve: cannot listen on {args.host}:{args.port}: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

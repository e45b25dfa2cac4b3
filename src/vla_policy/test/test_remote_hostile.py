"""RemotePolicy against scripted servers: an openpi-like one (actions only, robot units, its own
key names) and hostile ones (garbage, wrong keys, NaN, wrong shapes, silence). Every failure must be
a RemotePolicyUnavailable with a clear reason, never a crash or a hang."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from websockets.asyncio.server import serve

from vla_policy.remote import protocol as openpi_msgpack  # byte-identical to openpi's msgpack_numpy
from vla_core.policy import Observation
from vla_core.embodiment import load_embodiment
from vla_policy.remote import LinkState, RemotePolicy, RemotePolicyUnavailable, StateField, WireFormat

DIFF = load_embodiment('diff_drive')   # linear.x in [-0.26, 0.26] m/s, angular.z in [-1.82, 1.82] rad/s


class ScriptedServer:
    """A websockets server on 127.0.0.1 (free port) in a thread; ``handler(ws)`` is a coroutine."""

    def __init__(self, handler):
        self.handler = handler
        self.port = None
        self.requests: list = []
        self._ready = threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(5)
        return self

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self.handler, '127.0.0.1', 0, compression=None, max_size=None) as s:
            self.port = s.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(5)

    @property
    def url(self):
        return f'ws://127.0.0.1:{self.port}'


def obs(instruction='pick up the cup') -> Observation:
    return Observation(np.full((120, 160, 3), 7, np.uint8), instruction, {'arm_joint_1': 0.5, 'gripper': 0.02})


def replying(reply, metadata=None, requests=None):
    """A server that sends ``metadata`` then answers every request with ``reply`` (bytes or text)."""
    async def handler(ws):
        await ws.send(openpi_msgpack.packb({} if metadata is None else metadata) if not isinstance(metadata, bytes)
                      else metadata)
        async for message in ws:
            if requests is not None:
                requests.append(openpi_msgpack.unpackb(message))
            await ws.send(reply)
    return handler


def test_real_openpi_style_server_with_default_confidence():
    """A server in openpi's manner: droid keys in, (chunk, 8) robot-unit actions out, no confidence."""
    requests = []
    chunk = np.zeros((10, 8), np.float32)
    chunk[:, 0] = 0.13                 # -> linear.x  = 0.5 normalised
    chunk[:, 6] = -0.91                # -> angular.z = -0.5 normalised
    reply = openpi_msgpack.packb({'actions': chunk, 'server_timing': {'infer_ms': 80.0}})
    with ScriptedServer(replying(reply, {'some': 'openpi metadata'}, requests)) as server:
        wire = WireFormat.preset('droid', state=(
            StateField('observation/joint_position', ('arm_joint_1',), 7),
            StateField('observation/gripper_position', ('gripper',))))
        remote = RemotePolicy(DIFF, uri=server.url, wire=wire, actions={'indices': [0, 6], 'units': 'physical'},
                              default_confidence=0.4, step_dt=1 / 15, timeout_s=2.0)
        out = remote.infer(obs())
    req = requests[0]
    assert set(req) == {'observation/exterior_image_1_left', 'observation/wrist_image_left',
                        'observation/joint_position', 'observation/gripper_position', 'prompt'}
    assert req['observation/exterior_image_1_left'].shape == (224, 224, 3) and req['prompt'] == 'pick up the cup'
    np.testing.assert_allclose(req['observation/joint_position'], [0.5, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(req['observation/gripper_position'], [0.02])
    np.testing.assert_allclose(out.actions, np.tile([[0.5, -0.5]], (10, 1)), atol=1e-6)
    assert out.confidence == 0.4 and out.step_dt == pytest.approx(1 / 15)
    st = remote.status()
    assert st.state is LinkState.CONNECTED and st.confidence_is_default
    assert 'sends no confidence, reporting the default 0.40' in st.reason
    assert not remote.server_is_ours and remote.server_metadata == {'some': 'openpi metadata'}


@pytest.mark.parametrize('reply, state, match', [
    (b'\xc1garbage\xff', LinkState.PROTOCOL_ERROR, 'not a msgpack-numpy message'),
    (openpi_msgpack.packb({'action': np.zeros((1, 2))}), LinkState.PROTOCOL_ERROR, "no 'actions'"),
    (openpi_msgpack.packb({'actions': np.array([[np.nan, 0.0]])}), LinkState.PROTOCOL_ERROR, 'NaN'),
    (openpi_msgpack.packb({'actions': np.zeros((1, 5))}), LinkState.PROTOCOL_ERROR,
     "5-dim actions; embodiment 'diff_drive'"),
    (openpi_msgpack.packb({'actions': np.zeros((2, 2, 2))}), LinkState.PROTOCOL_ERROR, r'\(T, D\)'),
    (openpi_msgpack.packb({'actions': np.zeros((1, 2)), 'confidence': 7.0}), LinkState.PROTOCOL_ERROR, r'\[0, 1\]'),
    (openpi_msgpack.packb([1, 2, 3]), LinkState.PROTOCOL_ERROR, 'must be a map'),
    (openpi_msgpack.packb({b'__ndarray__': True, b'data': b'\x00' * 8, b'dtype': '|O', b'shape': [1]}),
     LinkState.PROTOCOL_ERROR, 'Unsupported dtype'),
    ('Traceback (most recent call last):\n  ...\nValueError: bad image', LinkState.SERVER_ERROR,
     'server error: Traceback.*ValueError: bad image'),
], ids=['garbage-bytes', 'wrong-key', 'nan-actions', 'wrong-dim', '3d-actions', 'confidence-out-of-range',
        'not-a-map', 'object-dtype', 'text-error'])
def test_malformed_replies_are_clear_errors(reply, state, match):
    with ScriptedServer(replying(reply)) as server:
        remote = RemotePolicy(DIFF, uri=server.url, timeout_s=2.0, backoff_initial_s=0.01)
        for _ in range(2):   # the client survives, and says the same the second time
            with pytest.raises(RemotePolicyUnavailable, match=match) as e:
                remote.infer(obs())
            assert e.value.status.state is state and remote.status().state is state
            time.sleep(0.02)


@pytest.mark.parametrize('metadata, state, match', [
    (openpi_msgpack.packb('hello'), LinkState.PROTOCOL_ERROR, 'bad metadata.*metadata map, got str'),
    (b'\x00\x01garbage', LinkState.PROTOCOL_ERROR, 'bad metadata.*not a msgpack.*ExtraData'),
    (b'\xc1', LinkState.PROTOCOL_ERROR, 'bad metadata.*not a msgpack'),
], ids=['string', 'trailing-garbage', 'invalid-byte'])
def test_bad_metadata(metadata, state, match):
    with ScriptedServer(replying(b'', metadata)) as server:
        with pytest.raises(RemotePolicyUnavailable, match=match) as e:
            RemotePolicy(DIFF, uri=server.url, connect_timeout_s=1.0).infer(obs())
    assert e.value.status.state is state


def test_silent_server_times_out():
    async def no_metadata(ws):
        await ws.wait_closed()

    async def no_reply(ws):
        await ws.send(openpi_msgpack.packb({}))
        async for _ in ws:
            pass
    with ScriptedServer(no_metadata) as server:
        t0 = time.monotonic()
        with pytest.raises(RemotePolicyUnavailable, match='sent no metadata within 0.3 s'):
            RemotePolicy(DIFF, uri=server.url, connect_timeout_s=0.3).infer(obs())
        assert time.monotonic() - t0 < 1.0
    with ScriptedServer(no_reply) as server:
        remote = RemotePolicy(DIFF, uri=server.url, timeout_s=0.3)
        t0 = time.monotonic()
        with pytest.raises(RemotePolicyUnavailable, match='no reply .* within 0.3 s') as e:
            remote.infer(obs())
        assert time.monotonic() - t0 < 1.0 and e.value.status.state is LinkState.TIMED_OUT


def test_hung_server_does_not_hold_the_caller():
    """A server whose event loop is stuck answers neither the request nor the closing handshake:
    the call still ends at its timeout (the connection is dropped without the handshake)."""
    release = threading.Event()

    async def stuck(ws):
        await ws.send(openpi_msgpack.packb({}))
        await ws.recv()
        release.wait(5)          # blocks the whole event loop
    with ScriptedServer(stuck) as server:
        remote = RemotePolicy(DIFF, uri=server.url, timeout_s=0.2, connect_timeout_s=2.0)
        t0 = time.monotonic()
        with pytest.raises(RemotePolicyUnavailable, match='timed_out'):
            remote.infer(obs())
        elapsed = time.monotonic() - t0
        release.set()
    assert elapsed < 0.6


def test_server_that_hangs_up():
    async def hang_up(ws):
        await ws.send(openpi_msgpack.packb({}))
        await ws.recv()
        await ws.close(1011, 'internal error')
    with ScriptedServer(hang_up) as server:
        with pytest.raises(RemotePolicyUnavailable, match='disconnected.*lost.*1011') as e:
            RemotePolicy(DIFF, uri=server.url, timeout_s=2.0).infer(obs())
    assert e.value.status.state is LinkState.DISCONNECTED


def test_nothing_listening():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(RemotePolicyUnavailable, match=f'cannot reach ws://127.0.0.1:{port}') as e:
        RemotePolicy(DIFF, uri=f'ws://127.0.0.1:{port}').infer(obs())
    assert e.value.status.state is LinkState.DISCONNECTED and time.monotonic() - t0 < 1.0

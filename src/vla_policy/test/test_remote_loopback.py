"""Client and server against each other over loopback, with real policies of the suite.

Also openpi's own client against our server, a server killed mid-session and restarted, a slow
server, and the ``vla-serve`` command in a subprocess. Every server binds 127.0.0.1 on a free port.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import numpy as np
import pytest

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import load_embodiment
from vla_policy.registry import make_policy
from vla_policy.remote import LinkState, RemotePolicy, RemotePolicyUnavailable
from vla_policy.remote.server import PolicyServer

HUMANOID = load_embodiment('vla_humanoid')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def observation(instruction='turn left and look up', seed=0, stamp=3.25) -> Observation:
    rng = np.random.default_rng(seed)
    return Observation(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), instruction,
                       {'head_pan_joint': 0.3, 'head_tilt_joint': -0.1, 'left_elbow_joint': 1.0}, stamp)


@pytest.fixture
def serve():
    servers = []

    def start(policy, **kw) -> PolicyServer:
        s = PolicyServer(policy, '127.0.0.1', kw.pop('port', 0), embodiment=kw.pop('embodiment', HUMANOID), **kw)
        servers.append(s.start())
        return s
    yield start
    for s in servers:
        s.stop()


@pytest.mark.parametrize('name', ['keyword', 'seed_vla'])
def test_remote_matches_a_direct_call(serve, name):
    server = serve(make_policy(name, HUMANOID))
    direct = make_policy(name, HUMANOID)
    with RemotePolicy(HUMANOID, uri=server.url, timeout_s=5.0, connect_timeout_s=5.0) as remote:
        for i, instr in enumerate(['turn left and look up', 'wave', 'stop']):
            obs = observation(instr, seed=i, stamp=0.7 * i)
            direct.reset()
            want = direct.infer(obs)
            got = remote.infer(obs)
            np.testing.assert_array_equal(got.actions, want.actions)
            assert got.confidence == pytest.approx(want.confidence, abs=1e-6)
            assert (got.step_dt, got.done) == (pytest.approx(want.step_dt), want.done)
        st = remote.status()
        assert st.state is LinkState.CONNECTED and not st.confidence_is_default
        assert f"policy '{name}'" in st.reason and st.round_trip_s > 0
        assert remote.server_is_ours and remote.server_metadata['action_dim'] == HUMANOID.action_dim
        assert remote.reads_odometry is False and remote.reads_scan is False, \
            "the served policy's own answer (keyword reads none)"


def test_openpi_client_library_against_our_server(serve):
    from openpi_client.action_chunk_broker import ActionChunkBroker
    from openpi_client.websocket_client_policy import WebsocketClientPolicy
    server = serve(make_policy('keyword', HUMANOID))
    client = WebsocketClientPolicy(host='127.0.0.1', port=server.port)
    md = client.get_server_metadata()
    assert md['server'] == 'vla_ros2' and md['policy_name'] == 'keyword' and md['action_dim'] == 11
    obs = observation('turn left')
    # the keys of openpi's examples: image, prompt and a state vector in the embodiment's joint order
    state = np.array([obs.joint_positions.get(j, 0.0) for j in md['state_joints']], np.float32)
    reply = client.infer({'observation/image': obs.image, 'prompt': 'turn left', 'observation/state': state})
    want = make_policy('keyword', HUMANOID).infer(
        Observation(obs.image, 'turn left', dict(zip(md['state_joints'], map(float, state)))))
    np.testing.assert_array_equal(reply['actions'], want.actions)
    assert reply['confidence'] == pytest.approx(want.confidence) and 'infer_ms' in reply['server_timing']
    # openpi's chunk broker walks our reply structure (scalars and the timing map included)
    broker = ActionChunkBroker(client, action_horizon=3)
    request = {'observation/image': obs.image, 'prompt': 'turn left', 'observation/state': state}
    steps = [broker.infer(request)['actions'] for _ in range(3)]
    np.testing.assert_array_equal(np.stack(steps), want.actions[:3])
    # a request in another robot's keys is answered with a text error; the connection stays usable
    with pytest.raises(RuntimeError, match="bad request: observation has no 'observation/image'"):
        client.infer({'observation/exterior_image_1_left': obs.image, 'prompt': 'x'})
    assert client.infer({'observation/image': obs.image, 'prompt': 'stop'})['done'] is True


class Flaky(Policy):
    """Fails on 'explode', returns NaN on 'nan', else a constant: the server must survive both."""

    name = 'flaky'

    def infer(self, obs):
        if obs.instruction == 'explode':
            raise RuntimeError('kaboom')
        if obs.instruction == 'nan':
            return PolicyOutput(np.full((1, 11), np.nan, np.float32), 0.5)
        return PolicyOutput(np.zeros((2, 11), np.float32), 0.9)


def test_policy_failures_are_reported_not_fatal(serve):
    server = serve(Flaky())
    remote = RemotePolicy(HUMANOID, uri=server.url, timeout_s=2.0)
    with pytest.raises(RemotePolicyUnavailable, match='server_error.*policy error.*RuntimeError: kaboom') as e:
        remote.infer(observation('explode'))
    assert e.value.status.state is LinkState.SERVER_ERROR
    with pytest.raises(RemotePolicyUnavailable, match='non-finite'):
        remote.infer(observation('nan'))
    out = remote.infer(observation('fine'))                    # same connection, no backoff wait
    assert out.actions.shape == (2, 11) and remote.status().state is LinkState.CONNECTED
    remote.close()


def test_health_check_api_key_and_dimension_check(serve):
    server = serve(make_policy('zero', HUMANOID), api_key='s3cret')
    with urllib.request.urlopen(f'http://127.0.0.1:{server.port}/healthz', timeout=2) as r:
        assert r.status == 200 and r.read() == b'OK\n'
    with pytest.raises(RemotePolicyUnavailable, match='disconnected.*401'):
        RemotePolicy(HUMANOID, uri=server.url).infer(observation())
    assert RemotePolicy(HUMANOID, uri=server.url, api_key='s3cret').infer(observation()).actions.shape[1] == 11
    from openpi_client.websocket_client_policy import WebsocketClientPolicy
    openpi = WebsocketClientPolicy('127.0.0.1', server.port, api_key='s3cret')
    assert openpi.get_server_metadata()['policy_name'] == 'zero'
    # a client whose embodiment does not fit the served policy is told at connection time
    with pytest.raises(RemotePolicyUnavailable, match="outputs 11-dim actions.*'diff_drive', has 2") as e:
        RemotePolicy('diff_drive', uri=server.url, api_key='s3cret').infer(observation())
    assert e.value.status.state is LinkState.PROTOCOL_ERROR


def test_server_killed_then_restarted(serve):
    port = free_port()
    server = serve(make_policy('keyword', HUMANOID), port=port)
    remote = RemotePolicy(HUMANOID, uri=f'ws://127.0.0.1:{port}', timeout_s=1.0, connect_timeout_s=1.0,
                          backoff_initial_s=0.2, backoff_max_s=0.8)
    assert remote.infer(observation()).actions.shape == (10, 11)
    server.stop(abrupt=True)                                  # connections dropped, no close handshake
    t0 = time.monotonic()
    with pytest.raises(RemotePolicyUnavailable) as e:
        remote.infer(observation())
    assert time.monotonic() - t0 < 1.0 + 1.0                  # within timeout_s + connect_timeout_s
    st = remote.status()
    assert e.value.status.state is LinkState.DISCONNECTED and st.state is LinkState.DISCONNECTED
    assert st.retry_at is not None and not remote.connected
    # while backing off, calls fail at once without touching the network
    t0 = time.monotonic()
    with pytest.raises(RemotePolicyUnavailable, match='next reconnection attempt in'):
        remote.infer(observation())
    assert time.monotonic() - t0 < 0.05
    # after the delay: a refused attempt, and the delay doubles
    time.sleep(0.25)
    with pytest.raises(RemotePolicyUnavailable, match='cannot reach'):
        remote.infer(observation())
    st = remote.status()
    assert st.failures == 2 and 0.3 < st.retry_at - time.monotonic() <= 0.4
    serve(make_policy('keyword', HUMANOID), port=port)         # back on the same port
    deadline, attempts = time.monotonic() + 5.0, 0
    while True:
        attempts += 1
        try:
            out = remote.infer(observation())
            break
        except RemotePolicyUnavailable:
            assert time.monotonic() < deadline, remote.status()
            time.sleep(0.05)
    assert out.actions.shape == (10, 11) and remote.status().state is LinkState.CONNECTED
    assert remote.status().failures == 0 and attempts >= 1


def test_backoff_schedule_with_an_injected_clock():
    now = [100.0]
    remote = RemotePolicy(HUMANOID, uri=f'ws://127.0.0.1:{free_port()}', connect_timeout_s=1.0,
                          backoff_initial_s=0.5, backoff_max_s=2.0, clock=lambda: now[0])
    retries = []
    for t in (100.0, 100.2, 100.5, 101.0, 101.4, 101.5, 103.5, 105.5):
        now[0] = t
        with pytest.raises(RemotePolicyUnavailable):
            remote.infer(observation())
        retries.append((remote.status().failures, remote.status().retry_at))
    assert retries == [(1, 100.5), (1, 100.5), (2, 101.5), (2, 101.5), (2, 101.5), (3, 103.5), (4, 105.5),
                       (5, 107.5)]


def test_slow_server_times_out_and_recovers(serve):
    server = serve(make_policy('zero', HUMANOID), latency_s=0.6)
    remote = RemotePolicy(HUMANOID, uri=server.url, timeout_s=0.2, connect_timeout_s=1.0, backoff_initial_s=0.1)
    t0 = time.monotonic()
    with pytest.raises(RemotePolicyUnavailable, match='timed_out.*within 0.2 s') as e:
        remote.infer(observation())
    assert 0.2 <= time.monotonic() - t0 < 0.5
    assert e.value.status.state is LinkState.TIMED_OUT and not remote.connected   # a late reply is never read
    server.latency_s = 0.0
    time.sleep(0.15)
    assert remote.infer(observation()).actions.shape[1] == 11
    assert remote.status().state is LinkState.CONNECTED


def _start_cli(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, '-m', 'vla_policy.remote.server', *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    line = proc.stdout.readline()
    if 'listening on' not in line:
        proc.kill()
        raise AssertionError(f'vla-serve did not start: {line}{proc.stderr.read()}')
    return proc, line.rsplit(' ', 1)[-1].strip()


def test_vla_serve_command_latency_and_kill():
    proc, url = _start_cli('--policy', 'keyword', '--embodiment', 'diff_drive', '--port', '0', '--latency-ms', '300')
    try:
        assert url.startswith('ws://127.0.0.1:')
        remote = RemotePolicy('diff_drive', uri=url, timeout_s=2.0, connect_timeout_s=2.0)
        t0 = time.monotonic()
        out = remote.infer(observation('go forward'))
        assert time.monotonic() - t0 >= 0.3 and out.actions.shape[1] == 2 and out.actions[0, 0] > 0
        quick = RemotePolicy('diff_drive', uri=url, timeout_s=0.1, connect_timeout_s=2.0)
        with pytest.raises(RemotePolicyUnavailable, match='timed_out'):
            quick.infer(observation('go forward'))
        proc.kill()                                            # SIGKILL mid-session
        proc.wait(5)
        t0 = time.monotonic()
        with pytest.raises(RemotePolicyUnavailable) as e:
            remote.infer(observation('go forward'))
        assert time.monotonic() - t0 < 2.0 + 2.0
        assert e.value.status.state is LinkState.DISCONNECTED and remote.status().state is LinkState.DISCONNECTED
    finally:
        proc.kill()
        proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()


def test_vla_serve_reports_bad_arguments():
    bad = subprocess.run([sys.executable, '-m', 'vla_policy.remote.server', '--policy', 'no_such_policy',
                          '--port', '0'], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown policy 'no_such_policy'" in bad.stderr


def test_works_without_openpi_client_installed():
    """The remote module falls back to its own msgpack-numpy when openpi-client is absent."""
    code = textwrap.dedent('''
        import sys
        sys.modules['openpi_client'] = None          # make `import openpi_client` fail
        import numpy as np
        from vla_core.policy import Observation
        from vla_policy.registry import make_policy
        from vla_policy.remote import RemotePolicy, protocol, wire
        from vla_policy.remote.server import PolicyServer
        assert protocol.MSGPACK_NUMPY_IMPL == 'vla_policy.remote.protocol', protocol.MSGPACK_NUMPY_IMPL
        obs = Observation(np.zeros((120, 160, 3), np.uint8), 'turn right')
        with PolicyServer(make_policy('keyword', 'diff_drive'), port=0) as s:
            out = RemotePolicy('diff_drive', uri=s.url, timeout_s=5).infer(obs)
        assert out.actions[0, 1] < 0, out.actions
        w = wire.WireFormat.preset('libero')
        assert wire.encode_observation(obs, w)['observation/image'].shape == (224, 224, 3)
        print('ok')
    ''')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == 'ok', r.stderr

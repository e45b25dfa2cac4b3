"""OpenVLARestPolicy against a small local http.server that speaks deploy.py's POST /act."""
from __future__ import annotations

import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from vla_core.policy import Observation
from vla_core.embodiment import load_embodiment
from vla_policy.remote import LinkState, OpenVLARestPolicy, RemotePolicyUnavailable
from vla_policy.remote.openvla_rest import json_numpy_dumps, json_numpy_loads
from vla_policy.remote.protocol import ProtocolError

DIFF = load_embodiment('diff_drive')   # linear.x in [-0.26, 0.26] m/s, angular.z in [-1.82, 1.82] rad/s
#: a 7-DoF OpenVLA action: xyz delta (m), rpy delta (rad), gripper
ACTION = np.array([0.026, 0.0, -0.01, 0.0, 0.0, -0.182, 1.0])


def json_numpy_reference_decode(d):
    """The json_numpy package's object hook, written out from its documented format."""
    if '__numpy__' in d:
        a = np.frombuffer(base64.b64decode(d['__numpy__']), np.lib.format.descr_to_dtype(d['dtype']))
        return a.reshape(d['shape']) if d['shape'] else a[0]
    return d


class FakeOpenVLA(BaseHTTPRequestHandler):
    """deploy.py's behaviour: json-numpy in, the action out; "error" (HTTP 200) when the request fails."""

    mode = 'plain'          # plain | double | error | http500 | garbage | dict | nan | slow
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        if self.path != '/act':
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers['Content-Length']))
        payload = json.loads(body, object_hook=json_numpy_reference_decode)
        double = 'encoded' in payload
        if double:
            payload = json.loads(payload['encoded'], object_hook=json_numpy_reference_decode)
        type(self).received.append(payload)
        mode = type(self).mode
        try:
            assert payload['image'].dtype == np.uint8 and payload['image'].ndim == 3
            assert isinstance(payload['instruction'], str)
            action = ACTION.copy()
        except (AssertionError, KeyError):
            mode = 'error'
        if mode == 'slow':
            time.sleep(0.5)
        if mode == 'http500':
            self.send_error(500, 'Internal Server Error')
            return
        out = {'plain': lambda: json_numpy_dumps(action),
               'double': lambda: json.dumps(json_numpy_dumps(action)),
               'error': lambda: json.dumps('error'),
               'garbage': lambda: '{"__numpy__": "!!!", "dtype": "<f8", "shape": [7]}',
               'dict': lambda: json.dumps({'action': [0.0] * 7}),
               'nan': lambda: json_numpy_dumps(np.full(7, np.nan)),
               'slow': lambda: json_numpy_dumps(action)}[mode if not double or mode != 'plain' else 'double']()
        data = out.encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass   # a client that timed out leaves a broken pipe behind: expected here


@pytest.fixture
def openvla():
    FakeOpenVLA.mode, FakeOpenVLA.received = 'plain', []
    httpd = QuietServer(('127.0.0.1', 0), FakeOpenVLA)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/act'
    httpd.shutdown()
    httpd.server_close()


def obs():
    rng = np.random.default_rng(0)
    return Observation(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), 'Move the cup forward')


def client(url, **kw):
    # OpenVLA dim 0 (x delta, m per 0.2 s step) -> linear.x; dim 5 (yaw delta) -> angular.z; 5 Hz -> x5
    return OpenVLARestPolicy(DIFF, url=url, unnorm_key='bridge_orig',
                             actions={'indices': [0, 5], 'scale': [5.0, 5.0]}, **kw)


def test_json_numpy_format():
    a = np.arange(6, dtype='<f4').reshape(2, 3)
    d = json.loads(json_numpy_dumps({'x': a}))['x']
    assert d == {'__numpy__': base64.b64encode(a.tobytes()).decode(), 'dtype': '<f4', 'shape': [2, 3]}
    np.testing.assert_array_equal(json_numpy_loads(json_numpy_dumps(a[:, ::2])), a[:, ::2])   # non-contiguous
    assert json_numpy_loads(json_numpy_dumps(np.float32(1.5))) == 1.5
    for bad in ('{"__numpy__": "AAAA", "dtype": "|O", "shape": [1]}',
                '{"__numpy__": "%%", "dtype": "<f8", "shape": [1]}',
                '{"__numpy__": "AAAA", "dtype": "<f8", "shape": [9]}', 'not json'):
        with pytest.raises(ProtocolError):
            json_numpy_loads(bad)


@pytest.mark.parametrize('double', [False, True])
def test_post_act_maps_the_7dof_action_onto_the_embodiment(openvla, double):
    policy = client(openvla, double_encode=double, default_confidence=0.6)
    out = policy.infer(obs())
    sent = FakeOpenVLA.received[-1]
    np.testing.assert_array_equal(sent['image'], obs().image)
    assert sent['instruction'] == 'Move the cup forward' and sent['unnorm_key'] == 'bridge_orig'
    # 0.026 m * 5 = 0.13 m/s -> 0.5 of 0.26; -0.182 rad * 5 = -0.91 rad/s -> -0.5 of 1.82
    np.testing.assert_allclose(out.actions, [[0.5, -0.5]], atol=1e-6)
    assert out.confidence == 0.6 and out.step_dt == 0.2
    st = policy.status()
    assert st.state is LinkState.CONNECTED and st.confidence_is_default and 'no confidence' in st.reason


def test_no_unnorm_key_is_left_out_and_images_can_be_resized(openvla):
    OpenVLARestPolicy(DIFF, url=openvla, actions={'indices': [0, 5]}, image_size=(32, 32)).infer(obs())
    sent = FakeOpenVLA.received[-1]
    assert 'unnorm_key' not in sent and sent['image'].shape == (32, 32, 3)


@pytest.mark.parametrize('mode, state, match', [
    ('error', LinkState.SERVER_ERROR, 'answered "error"'),
    ('http500', LinkState.SERVER_ERROR, 'HTTP 500'),
    ('garbage', LinkState.PROTOCOL_ERROR, 'not json-numpy'),
    ('dict', LinkState.PROTOCOL_ERROR, "expected an action array, got a map with keys \\['action'\\]"),
    ('nan', LinkState.PROTOCOL_ERROR, 'NaN'),
    ('slow', LinkState.TIMED_OUT, 'within 0.2 s'),
])
def test_server_failures_are_clear_errors(openvla, mode, state, match):
    FakeOpenVLA.mode = mode
    policy = client(openvla, timeout_s=0.2)
    with pytest.raises(RemotePolicyUnavailable, match=match) as e:
        policy.infer(obs())
    assert e.value.status.state is state and policy.status().state is state


def test_wrong_dimension_and_server_down():
    with pytest.raises(ValueError, match='needs an embodiment'):
        OpenVLARestPolicy(None, url='http://127.0.0.1:1/act')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    policy = client(f'http://127.0.0.1:{port}/act', backoff_initial_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(RemotePolicyUnavailable, match='cannot reach.*refused') as e:
        policy.infer(obs())
    assert e.value.status.state is LinkState.DISCONNECTED and time.monotonic() - t0 < 1.0
    with pytest.raises(RemotePolicyUnavailable, match='next attempt in'):
        policy.infer(obs())


def test_seven_dims_need_a_mapping_for_a_smaller_robot(openvla):
    with pytest.raises(RemotePolicyUnavailable, match="7-dim actions; embodiment 'diff_drive' has 2"):
        OpenVLARestPolicy(DIFF, url=openvla).infer(obs())

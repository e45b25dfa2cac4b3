"""Pure units of the remote protocol: packing, key mapping, reply checks, action mapping, backoff."""
from __future__ import annotations

import dataclasses

import msgpack

import numpy as np
import pytest

from vla_core.policy import Observation, PlanarScan
from vla_core.embodiment import load_embodiment
from vla_policy.remote import (OpenVLARestPolicy, RemotePolicy, is_remote_spec, make_remote_policy)
from vla_policy.remote import protocol as P
from vla_policy.remote.link import Backoff, LinkHealth, LinkState
from vla_policy.remote.protocol import ProtocolError
from vla_policy.remote.reply import ActionMapping, decode_reply, encode_reply
from vla_policy.remote.wire import (WIRE_PRESETS, StateField, WireFormat, decode_observation, encode_observation,
                                   resize_with_pad)


def _obs(h=48, w=64, instruction='Turn left', joints=None, stamp=12.5):
    rng = np.random.default_rng(1)
    return Observation(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), instruction,
                       joints if joints is not None else {'head_pan_joint': 0.25, 'left_elbow_joint': 1.5}, stamp)


# -- msgpack-numpy ---------------------------------------------------------------------------------
def test_fallback_packing_is_byte_identical_to_openpi():
    from openpi_client import msgpack_numpy as ref
    msg = {'observation/image': np.arange(24, dtype=np.uint8).reshape(2, 4, 3), 'prompt': 'go',
           'observation/state': np.array([0.5, -1.25], dtype=np.float32), 'scalar': np.float32(2.5),
           'nested': {'a': np.int16(-3), 'b': [1, 2.0, 'x']}}
    ours = msgpack.packb(msg, default=P.pack_array)
    assert ours == ref.packb(msg)
    for data in (ours, ref.packb(msg)):
        for decoded in (ref.unpackb(data), P.unpackb(data)):
            np.testing.assert_array_equal(decoded['observation/image'], msg['observation/image'])
            assert decoded['observation/state'].dtype == np.float32
            assert decoded['scalar'] == 2.5 and isinstance(decoded['scalar'], np.float32)
            assert decoded['nested']['a'] == -3 and isinstance(decoded['nested']['a'], np.int16)
            assert decoded['nested']['b'] == [1, 2.0, 'x']


def test_packing_rejects_object_arrays():
    with pytest.raises(ValueError, match='Unsupported dtype'):
        msgpack.packb({'a': np.array([object()])}, default=P.pack_array)


@pytest.mark.parametrize('data', [
    b'\xc1\xc1\xc1',                                              # never-used msgpack byte
    b'\x92\x01',                                                  # truncated array
    msgpack.packb({b'__ndarray__': True, b'data': b'abc', b'dtype': '<f4', b'shape': [5]}),   # short buffer
    # object dtype: openpi's own unpackb would build it from these bytes and crash on use
    msgpack.packb({b'__ndarray__': True, b'data': b'abcdefgh', b'dtype': '|O', b'shape': [1]}),
    msgpack.packb({b'__ndarray__': True, b'data': b'abcdefgh', b'dtype': [['f', '|O']], b'shape': [1]}),
    msgpack.packb({b'__npgeneric__': True, b'data': 1, b'dtype': '|O'}),
    msgpack.packb({b'__ndarray__': True, b'dtype': '<f4'}),        # no data
    msgpack.packb({1: 2}),                                         # non-string map key
    msgpack.packb('x') + b'trailing',                              # extra data
], ids=['invalid-byte', 'truncated', 'short-buffer', 'object-dtype', 'object-field', 'object-scalar', 'no-data',
        'int-key', 'extra-data'])
def test_hostile_bytes_raise_protocol_error(data):
    with pytest.raises(ProtocolError, match='not a msgpack-numpy message'):
        P.unpackb(data)


def test_text_frames_are_not_messages():
    with pytest.raises(ProtocolError, match='binary'):
        P.unpackb('a text frame')


# -- observations ------------------------------------------------------------------------------------
def test_our_observation_round_trip():
    obs = _obs()
    back = decode_observation(P.unpackb(P.packb(encode_observation(obs))))
    np.testing.assert_array_equal(back.image, obs.image)
    assert back.image.flags.writeable
    assert back.instruction == 'Turn left' and back.stamp == 12.5
    assert dict(back.joint_positions) == obs.joint_positions
    assert back.base_pose is None, 'no odometry sent, none read'
    moved = decode_observation(P.unpackb(P.packb(encode_observation(dataclasses.replace(obs, base_pose=(1, 2, 0.5))))))
    assert moved.base_pose == (1.0, 2.0, 0.5)
    assert 'observation/base_pose' not in encode_observation(moved, WIRE_PRESETS['libero']), 'openpi: not ours'
    with pytest.raises(ProtocolError, match='base_pose'):
        decode_observation({**encode_observation(obs), 'observation/base_pose': [1.0, 2.0]})
    assert back.scan is None, 'no scan sent, none read'
    ranges = np.array([0.5, np.inf, -np.inf, np.nan], np.float32)
    scanned = decode_observation(P.unpackb(P.packb(encode_observation(
        dataclasses.replace(obs, scan=PlanarScan(ranges, -np.pi, np.pi / 2))))))
    np.testing.assert_array_equal(scanned.scan.ranges, ranges)
    assert (scanned.scan.angle_min, scanned.scan.angle_increment) == (-np.pi, np.pi / 2)
    assert 'observation/scan' not in encode_observation(scanned, WIRE_PRESETS['libero']), 'openpi: not ours'
    for bad in ([1.0, 2.0], {'ranges': [1.0]}, {'ranges': [1.0], 'angle_min': float('nan'), 'angle_increment': 1.0}):
        with pytest.raises(ProtocolError, match='observation/scan'):
            decode_observation({**encode_observation(obs), 'observation/scan': bad})


def test_state_vector_names_joints_by_the_servers_embodiment():
    msg = {'observation/image': np.zeros((4, 4, 3), np.uint8), 'prompt': 'x',
           'observation/state': np.array([0.1, 0.2], np.float32)}
    obs = decode_observation(msg, ('a', 'b'))
    assert dict(obs.joint_positions) == pytest.approx({'a': 0.1, 'b': 0.2})
    assert decode_observation(msg, ('a', 'b', 'c')).joint_positions == {}   # wrong length: ignored


def test_decode_observation_accepts_openpi_image_conventions():
    chw = np.zeros((3, 8, 10), np.uint8)
    chw[0] = 200
    obs = decode_observation({'observation/image': chw})
    assert obs.image.shape == (8, 10, 3) and obs.image[0, 0, 0] == 200 and obs.instruction == ''
    flt = decode_observation({'observation/image': np.full((4, 4, 3), 0.5, np.float32)})
    assert flt.image.dtype == np.uint8 and flt.image[0, 0, 0] == 127


@pytest.mark.parametrize('msg, match', [
    ('not a map', 'must be a map'),
    ({'prompt': 'x'}, "no 'observation/image'.*keys sent: \\['prompt'\\]"),
    ({'observation/image': np.zeros((4, 4), np.uint8)}, 'H x W x 3 uint8'),
    ({'observation/image': [[1, 2, 3]]}, 'H x W x 3 uint8'),
    ({'observation/image': np.zeros((4, 4, 3), np.uint8), 'prompt': 3}, "'prompt' must be a string"),
    ({'observation/image': np.zeros((4, 4, 3), np.uint8), 'observation/joint_positions': [1.0]}, 'map name'),
    ({'observation/image': np.zeros((4, 4, 3), np.uint8), 'observation/joint_positions': {'a': 'x'}}, 'numbers'),
    ({'observation/image': np.zeros((4, 4, 3), np.uint8), 'observation/stamp': 'now'}, 'stamp'),
    ({'observation/image': np.full((4, 4, 3), np.nan, np.float32)}, 'non-finite'),
])
def test_bad_observations_say_what_is_wrong(msg, match):
    with pytest.raises(ProtocolError, match=match):
        decode_observation(msg)


def test_presets_follow_openpi_examples():
    obs = _obs(h=120, w=160, joints={'j1': 0.5, 'j3': -1.0, 'grip': 0.8})
    state = (StateField('observation/state', ('j1', 'j2', 'j3'), 8),)
    libero = encode_observation(obs, WireFormat.preset('libero', state=state))
    assert set(libero) == {'observation/image', 'observation/wrist_image', 'observation/state', 'prompt'}
    assert libero['observation/image'].shape == (224, 224, 3) and libero['observation/image'].dtype == np.uint8
    assert not libero['observation/wrist_image'].any()
    np.testing.assert_array_equal(libero['observation/state'], np.array([0.5, 0, -1.0, 0, 0, 0, 0, 0], np.float32))

    droid = encode_observation(obs, WireFormat.preset('droid'))
    assert set(droid) == {'observation/exterior_image_1_left', 'observation/wrist_image_left',
                          'observation/joint_position', 'observation/gripper_position', 'prompt'}
    assert droid['observation/joint_position'].shape == (7,) and droid['observation/gripper_position'].shape == (1,)

    aloha = encode_observation(obs, WireFormat.preset('aloha'))
    assert set(aloha) == {'images', 'state', 'prompt'}
    assert set(aloha['images']) == {'cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'}
    assert aloha['images']['cam_high'].shape == (3, 224, 224) and aloha['state'].shape == (14,)


def test_resize_with_pad_matches_openpi(monkeypatch):
    from openpi_client import image_tools
    img = _obs(h=120, w=160).image
    ref = image_tools.resize_with_pad(img, 224, 224)
    np.testing.assert_array_equal(resize_with_pad(img, 224, 224), ref)
    # without openpi-client: the Pillow fallback gives the same pixels
    import builtins
    real_import = builtins.__import__

    def no_openpi(name, *a, **k):
        if name.startswith('openpi_client'):
            raise ImportError(name)
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, '__import__', no_openpi)
    np.testing.assert_array_equal(resize_with_pad(img, 224, 224), ref)


def test_wire_format_validation_and_from_dict():
    with pytest.raises(ValueError, match='used twice'):
        WireFormat(image_key='prompt')
    with pytest.raises(ValueError, match='image_layout'):
        WireFormat(image_layout='bgr')
    with pytest.raises(ValueError, match='preset'):
        WireFormat.preset('nope')
    with pytest.raises(ValueError, match='unknown field'):
        WireFormat.from_dict({'image_keys': 'x'})
    w = WireFormat.from_dict({'preset': 'libero', 'image_size': [96, 96],
                              'state': [{'key': 'observation/state', 'joints': ['a', 'b'], 'dim': 8}]})
    assert w.image_size == (96, 96) and w.state[0].joints == ('a', 'b')
    assert w.extra_image_keys == ('observation/wrist_image',)


# -- replies --------------------------------------------------------------------------------------
def test_reply_without_confidence_gets_the_default():
    r = decode_reply({'actions': np.zeros((5, 2), np.float32)}, default_confidence=0.3, default_step_dt=0.05)
    assert not r.confidence_from_server and r.output.confidence == 0.3 and r.output.step_dt == 0.05
    assert r.output.actions.shape == (5, 2)
    r = decode_reply({'actions': [0.1, 0.2], 'confidence': np.float32(0.9), 'done': True, 'policy_name': 'k'})
    assert r.confidence_from_server and r.output.confidence == pytest.approx(0.9) and r.output.done
    assert r.output.actions.shape == (1, 2) and r.policy_name == 'k'
    assert decode_reply({'actions': np.zeros((1, 3, 2))}).output.actions.shape == (3, 2)   # batch of one


@pytest.mark.parametrize('msg, match', [
    ([1, 2], 'must be a map'),
    ({'action': [1.0]}, "no 'actions'.*action"),
    ({'actions': np.array([[np.nan, 0.0]])}, 'NaN or infinite'),
    ({'actions': np.array([[np.inf]])}, 'NaN or infinite'),
    ({'actions': np.zeros((2, 3, 4))}, r'\(T, D\)'),
    ({'actions': np.zeros((0, 3))}, r'\(T, D\)'),
    ({'actions': 'fast'}, 'numeric'),
    ({'actions': np.array(['a', 'b'])}, 'numeric'),
    ({'actions': [[1.0], [1.0, 2.0]]}, r'\(T, D\)'),
    ({'actions': [0.0], 'confidence': 1.5}, r'\[0, 1\]'),
    ({'actions': [0.0], 'confidence': float('nan')}, 'not finite'),
    ({'actions': [0.0], 'confidence': 'high'}, 'number'),
    ({'actions': [0.0], 'step_dt': 0.0}, '> 0'),
    ({'actions': [0.0], 'done': 'yes'}, 'bool'),
])
def test_malformed_replies_raise_protocol_error(msg, match):
    with pytest.raises(ProtocolError, match=match):
        decode_reply(msg)


def test_reply_dimension_must_match_the_embodiment():
    emb = load_embodiment('diff_drive')
    with pytest.raises(ProtocolError, match="3-dim actions; embodiment 'diff_drive' has 2"):
        decode_reply({'actions': np.zeros((1, 3))}, embodiment=emb)


def test_action_mapping_selects_scales_and_normalises():
    emb = load_embodiment('diff_drive')   # linear.x in [-0.26, 0.26], angular.z in [-1.82, 1.82]
    raw = np.array([[0.13, 9.0, -0.91], [0.26, 9.0, 1.82]])
    m = ActionMapping(indices=(0, 2), units='physical')
    np.testing.assert_allclose(m.apply(raw, emb), [[0.5, -0.5], [1.0, 1.0]], atol=1e-6)
    held = ActionMapping(indices=(-1, 2), units='physical', scale=(1.0, 0.5))
    np.testing.assert_allclose(held.apply(raw, emb), [[0.0, -0.25], [0.0, 0.5]], atol=1e-6)
    with pytest.raises(ProtocolError, match='reads index 5'):
        ActionMapping(indices=(0, 5)).apply(raw, emb)
    with pytest.raises(ValueError, match='needs an embodiment'):
        ActionMapping(units='physical').check(None)
    with pytest.raises(ValueError, match='3 entries'):
        ActionMapping(indices=(0, 1, 2)).check(emb)
    with pytest.raises(ValueError, match='units'):
        ActionMapping(units='metric')


def test_server_reply_round_trip():
    from vla_core.policy import PolicyOutput
    out = PolicyOutput(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2), 0.75, 0.05, True)
    r = decode_reply(P.unpackb(P.packb(encode_reply(out, 'keyword', {'infer_ms': 1.5}))))
    np.testing.assert_array_equal(r.output.actions, out.actions)
    assert (r.output.confidence, r.output.step_dt, r.output.done, r.policy_name) == (0.75, 0.05, True, 'keyword')
    assert r.server_timing == {'infer_ms': 1.5}


# -- status / backoff ----------------------------------------------------------------------------------
def test_backoff_doubles_up_to_the_cap():
    b = Backoff(0.5, 4.0)
    assert [b.delay(n) for n in range(7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert Backoff(0.5, 4.0).delay(10_000) == 4.0
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def test_link_health_tracks_failures_and_retry_time():
    h = LinkHealth(Backoff(1.0, 8.0))
    assert h.snapshot().state is LinkState.NOT_CONNECTED and h.may_connect(0.0)
    s = h.failed(10.0, LinkState.DISCONNECTED, 'refused')
    assert (s.failures, s.retry_at, s.since) == (1, 11.0, 10.0) and not s.available
    assert not h.may_connect(10.5) and h.may_connect(11.0)
    s = h.failed(11.0, LinkState.DISCONNECTED, 'refused')
    assert (s.failures, s.retry_at, s.since) == (2, 13.0, 10.0)
    s = h.failed(13.0, LinkState.SERVER_ERROR, 'oops', backoff=False)
    assert s.retry_at is None and h.may_connect(13.0)
    s = h.succeeded(14.0, 'ok', 0.01, True)
    assert s.available and s.failures == 0 and s.confidence_is_default and s.since == 14.0
    assert h.succeeded(15.0, 'ok', 0.02, False).since == 14.0


# -- configuration from one URL (the node's policy parameter) -----------------------------------------
def test_make_remote_policy_from_urls():
    emb = load_embodiment('diff_drive')
    assert is_remote_spec('ws://gpu:8000') and is_remote_spec('HTTP://gpu/act')
    assert not is_remote_spec('seed_vla') and not is_remote_spec('/models/ckpt')
    p = make_remote_policy('ws://gpu:9000?wire=droid&image_size=96x128&timeout_s=0.25&default_confidence=0.7'
                           '&action_indices=0,-1&action_units=physical&api_key=s3cret', emb)
    assert isinstance(p, RemotePolicy)
    c = p.config
    assert c.uri == 'ws://gpu:9000' and c.timeout_s == 0.25 and c.default_confidence == 0.7 and c.api_key == 's3cret'
    assert c.wire.image_key == 'observation/exterior_image_1_left' and c.wire.image_size == (96, 128)
    assert c.actions == ActionMapping((0, -1), 'physical')
    r = make_remote_policy('http://gpu:8000/act?unnorm_key=bridge_orig&action_indices=0,5&action_scale=5,5'
                           '&double_encode=true', emb)
    assert isinstance(r, OpenVLARestPolicy)
    assert r.config.unnorm_key == 'bridge_orig' and r.config.double_encode
    assert r.config.actions == ActionMapping((0, 5), 'physical', (5.0, 5.0))
    with pytest.raises(ValueError, match="unknown option 'timeout'"):
        make_remote_policy('ws://gpu:9000?timeout=1', emb)
    with pytest.raises(ValueError, match='must be a float'):
        make_remote_policy('ws://gpu:9000?timeout_s=soon', emb)
    with pytest.raises(ValueError, match='not a remote policy URL'):
        make_remote_policy('gpu:9000', emb)
    with pytest.raises(ValueError, match="2 entries; embodiment 'vla_humanoid'"):
        make_remote_policy('ws://gpu:9000?action_indices=0,1', 'vla_humanoid')

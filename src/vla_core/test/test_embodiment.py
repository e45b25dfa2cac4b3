"""Embodiment: loading, validation errors, normalisation and decode/encode round trips."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_core.embodiment import (Embodiment, EmbodimentError, bundled_embodiments, load_embodiment)


def test_bundled_embodiments_load(humanoid, diff_drive):
    assert {'vla_humanoid', 'diff_drive'} <= set(bundled_embodiments())
    assert humanoid.action_dim == 11 and diff_drive.action_dim == 2
    assert humanoid.joint_names[:2] == ('head_pan_joint', 'head_tilt_joint')
    assert diff_drive.joint_names == ()


def test_decode_maps_bounds(humanoid):
    a = np.zeros(11)
    a[0], a[2], a[3] = 1.0, -1.0, 1.0
    cmd = humanoid.decode(a)
    assert cmd.twist[0] == pytest.approx(0.5) and cmd.twist[5] == pytest.approx(-1.0)
    assert cmd.twist[1] == pytest.approx(0.0) and cmd.twist[2] == 0.0          # linear.z: not in the embodiment
    assert cmd.joint_names[0] == 'head_pan_joint' and cmd.joint_positions[0] == pytest.approx(1.2)
    assert cmd.joint_names[4] == 'left_elbow_joint' and cmd.joint_positions[4] == pytest.approx(1.25)  # centre
    assert cmd.is_finite


def test_encode_decode_round_trip(humanoid):
    joints = {'head_pan_joint': 0.3, 'left_elbow_joint': 2.0, 'right_shoulder_roll_joint': -1.0}
    a = humanoid.encode((0.2, -0.1, 0.0, 0.0, 0.0, 0.5), joints)
    assert a.dtype == np.float32 and a.shape == (11,)
    cmd = humanoid.decode(a)
    assert cmd.twist[0] == pytest.approx(0.2, abs=1e-6) and cmd.twist[1] == pytest.approx(-0.1, abs=1e-6)
    assert cmd.twist[5] == pytest.approx(0.5, abs=1e-6)
    got = dict(zip(cmd.joint_names, cmd.joint_positions))
    for jn, v in joints.items():
        assert got[jn] == pytest.approx(v, abs=1e-6)
    # joints not given are encoded at the centre of their range
    assert got['head_tilt_joint'] == pytest.approx(0.1, abs=1e-6)


MEAN_STD = {'name': 'ms', 'normalization': 'mean_std', 'actions': [
    {'target': 'twist.linear.x', 'mean': 0.1, 'std': 0.2},
    {'target': 'joint/j1', 'low': -2, 'high': 2, 'mean': 0.5, 'std': 0.3}]}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=2, max_size=2), st.sampled_from(['bounds', 'mean_std']))
def test_normalize_unnormalize_inverse(values, norm):
    emb = Embodiment.from_dict({**MEAN_STD, 'normalization': norm})
    a = np.array(values)
    assert np.allclose(emb.normalize(emb.unnormalize(a)), a, atol=1e-9)
    cmd = emb.decode(a)
    back = emb.encode(cmd.twist, dict(zip(cmd.joint_names, cmd.joint_positions)))
    assert np.allclose(back, a, atol=1e-5)


def test_mean_std_normalisation():
    emb = Embodiment.from_dict(MEAN_STD)
    assert emb.unnormalize(np.array([1.0, -1.0])) == pytest.approx([0.3, 0.2])
    assert emb.encode((0.1, 0, 0, 0, 0, 0), {}) == pytest.approx([0.0, 0.0])   # missing joint -> its mean


def test_to_dict_from_dict_round_trip(humanoid):
    again = Embodiment.from_dict(humanoid.to_dict())
    assert again.to_dict() == humanoid.to_dict()


def test_wrong_dimension_is_value_error(humanoid):
    with pytest.raises(ValueError, match='11 action dims'):
        humanoid.unnormalize(np.zeros(3))
    with pytest.raises(ValueError, match='11 action dims'):
        humanoid.decode(np.zeros((2, 11)))
    with pytest.raises(ValueError, match='11 action dims'):
        humanoid.normalize(np.float64(0.2))        # a scalar (was an IndexError)


@pytest.mark.parametrize('data, match', [
    ([1, 2], 'mapping at the top level'),
    ({'name': 'x'}, "'actions' must be a list"),
    ({'actions': []}, 'no actions'),
    ({'actions': [{'low': 0}]}, "needs a 'target'"),
    ({'actions': [{'target': 'twist.linear.w'}]}, 'not a Twist field'),
    ({'actions': [{'target': 'elbow'}]}, 'must be twist.<field>, ee_twist.<field> or joint/<joint name>'),
    ({'actions': [{'target': 'joint/'}]}, 'must be twist.<field>, ee_twist.<field> or joint/<joint name>'),
    ({'actions': [{'target': 'joint/a', 'low': 'abc'}]}, 'must be numbers'),
    ({'actions': [{'target': 'joint/a', 'low': 1, 'high': 1}]}, 'low < high'),
    ({'actions': [{'target': 'joint/a', 'std': 0}]}, 'std > 0'),
    ({'actions': [{'target': 'joint/a', 'high': float('nan')}]}, 'finite'),
    ({'actions': [{'target': 'joint/a'}, {'target': 'joint/a'}]}, 'appears twice'),
    ({'normalization': 'minmax', 'actions': [{'target': 'joint/a'}]}, "normalization 'minmax' unknown"),
])
def test_malformed_dicts(data, match):
    with pytest.raises(EmbodimentError, match=match):
        Embodiment.from_dict(data, 'test.yaml')


def test_yaml_errors(tmp_path):
    with pytest.raises(EmbodimentError, match='not found; bundled ones: .*vla_humanoid'):
        load_embodiment(str(tmp_path / 'nope.yaml'))
    with pytest.raises(EmbodimentError, match='not found'):
        load_embodiment('no_such_robot')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('actions: [\n  {target: twist.linear.x\n')
    with pytest.raises(EmbodimentError, match='not valid YAML'):
        load_embodiment(str(bad))
    empty = tmp_path / 'empty.yaml'
    empty.write_text('')
    with pytest.raises(EmbodimentError, match='mapping'):
        load_embodiment(str(empty))
    ok = tmp_path / 'mine.yaml'
    ok.write_text('actions:\n  - {target: twist.angular.z, low: -2, high: 2}\n')
    emb = load_embodiment(str(ok))
    assert emb.name == 'mine' and emb.decode(np.array([0.5])).twist[5] == pytest.approx(1.0)


# --- end-effector twist targets --------------------------------------------------------------
def test_ee_twist_targets_decode_into_ee_twist():
    from vla_core.embodiment import load_embodiment
    e = load_embodiment('openvla_bridge_ee')
    assert e.has_ee_twist and e.ee_frame == 'tool0'
    a = e.decode(np.array([1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0]))
    assert a.ee_twist == pytest.approx((0.15, -0.20, 0.0, 0.0, 0.0, 1.2))
    assert a.twist == (0.0,) * 6
    assert a.joint_names == ('gripper_joint',) and a.joint_positions == pytest.approx((1.0,))
    back = e.encode((0.0,) * 6, {'gripper_joint': 1.0}, ee_twist=a.ee_twist)
    assert back == pytest.approx([1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0], abs=1e-6)


def test_ee_twist_needs_an_ee_frame():
    from vla_core.embodiment import Embodiment, EmbodimentError
    with pytest.raises(EmbodimentError, match='ee_frame'):
        Embodiment.from_dict({'actions': [{'target': 'ee_twist.linear.x'}]})


def test_embodiment_without_ee_has_no_ee_twist():
    from vla_core.embodiment import load_embodiment
    e = load_embodiment('vla_humanoid')
    assert not e.has_ee_twist and e.decode(np.zeros(e.action_dim)).ee_twist is None

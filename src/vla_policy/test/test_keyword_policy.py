"""KeywordPolicy (phrase table, refusal, done, any embodiment) and ZeroPolicy."""
from __future__ import annotations

import numpy as np
import pytest

from vla_core.embodiment import Embodiment
from vla_policy.errors import PolicyLoadError
from vla_policy.policies.keyword import KeywordPolicy, parse_instruction
from vla_policy.policies.zero import ZeroPolicy
from vla_policy.registry import make_policy

# instruction -> intents matched, in order
PHRASES = [
    ('walk forward', ['forward']), ('Go forward!', ['forward']), ('move ahead', ['forward']),
    ('go straight', ['forward']), ('come here', ['forward']), ('walk', ['forward']),
    ('go back', ['backward']), ('back up', ['backward']), ('move backwards', ['backward']), ('reverse', ['backward']),
    ('turn left', ['turn_left']), ('Turn to the right.', ['turn_right']), ('rotate left', ['turn_left']),
    ('turn around', ['turn_left']),
    ('strafe left', ['strafe_left']), ('sidestep right', ['strafe_right']), ('step to the left', ['strafe_left']),
    ('look left', ['look_left']), ('turn your head to the right', ['look_right']), ('look up', ['look_up']),
    ('look down', ['look_down']), ('look straight ahead', ['look_ahead']),
    ('raise your left arm', ['raise_arms']), ('raise your right hand', ['raise_arms']),
    ('raise both arms', ['raise_arms']), ('hands up', ['raise_arms']), ('lift your arms', ['raise_arms']),
    ('lower your arms', ['lower_arms']), ('put your hands down', ['lower_arms']),
    ('wave', ['wave']), ('say hello', ['wave']), ('wave with your left hand', ['wave']),
    ('turn left and walk forward', ['turn_left', 'forward']),
    ('look up, then raise your arms', ['look_up', 'raise_arms']),
    ('stop', ['stop']), ('STOP!!!', ['stop']), ('halt', ['stop']), ("don't move", ['stop']),
    ('walk forward and then stop', ['stop']),
]
REFUSED = ['make me a sandwich', '', '   ', 'left', "don't turn left", 'never walk forward', 'walk forward and fly',
           'x' * 10_000, '前に進んで', '🤖👋', 'turnleft']


@pytest.fixture
def kw(humanoid):
    return KeywordPolicy(humanoid)


def _idx(emb, name):
    return [d.name for d in emb.dims].index(name)


@pytest.mark.parametrize('instruction, intents', PHRASES)
def test_phrase_table(kw, obs_factory, instruction, intents):
    cmd = parse_instruction(instruction)
    assert cmd is not None and cmd.intents == intents
    out = kw.infer(obs_factory(instruction))
    assert out.confidence == 1.0 and out.actions.shape == (10, 11) and out.is_finite
    assert np.abs(out.actions).max() <= 1.0
    assert out.done == (intents == ['stop'])


@pytest.mark.parametrize('instruction', REFUSED)
def test_refusal(kw, obs_factory, instruction):
    assert kw.parse(instruction) is None
    out = kw.infer(obs_factory(instruction, joints={'head_pan_joint': 0.4}))
    assert out.confidence == 0.0 and not out.done
    assert np.all(out.actions[:, :3] == 0.0)                      # no base motion
    pan = kw.embodiment.decode(out.actions[0]).joint_positions[0]
    assert pan == pytest.approx(0.4, abs=1e-6)                    # joints held where they are


def test_directions_and_magnitudes(humanoid, kw, obs_factory):
    def act(text):
        return kw.infer(obs_factory(text)).actions[0]
    vx, vy, wz = (_idx(humanoid, n) for n in ('base_linear_x', 'base_linear_y', 'base_angular_z'))
    assert act('walk forward')[vx] == pytest.approx(0.5) and act('go back')[vx] == pytest.approx(-0.5)
    assert act('turn left')[wz] > 0 > act('turn right')[wz]       # REP 103: +z yaw = left
    assert act('strafe left')[vy] > 0 > act('strafe right')[vy]
    arc = act('turn left and walk forward')
    assert arc[vx] > 0 and arc[wz] > 0
    cmd = humanoid.decode(act('look left'))
    joints = dict(zip(cmd.joint_names, cmd.joint_positions))
    assert joints['head_pan_joint'] == pytest.approx(0.8, abs=1e-6)
    up = dict(zip(humanoid.joint_names, humanoid.decode(act('raise your left arm')).joint_positions))
    assert up['left_shoulder_pitch_joint'] == pytest.approx(-2.6, abs=1e-5)
    assert up['right_shoulder_pitch_joint'] == pytest.approx(0.0, abs=1e-6)  # other arm at nominal
    both = dict(zip(humanoid.joint_names, humanoid.decode(act('raise your arms')).joint_positions))
    assert both['left_shoulder_pitch_joint'] == both['right_shoulder_pitch_joint'] == pytest.approx(-2.6, abs=1e-5)
    assert both['right_shoulder_roll_joint'] < 0 < both['left_shoulder_roll_joint']       # both outward


def test_speed_and_confidence_options(humanoid, obs_factory):
    p = make_policy('keyword', humanoid, confidence=0.8, unknown_confidence=0.1, speed=1.0, chunk_size=1)
    out = p.infer(obs_factory('walk forward'))
    assert out.confidence == pytest.approx(0.8) and out.actions.shape == (1, 11)
    assert out.actions[0, 0] == pytest.approx(1.0)
    assert p.infer(obs_factory('make me a sandwich')).confidence == pytest.approx(0.1)
    with pytest.raises(PolicyLoadError, match="hold must be 'measured' or 'nominal'"):
        make_policy('keyword', humanoid, hold='whatever')
    with pytest.raises(PolicyLoadError, match="not a joint of embodiment 'vla_humanoid'"):
        make_policy('keyword', humanoid, nominal={'tail_joint': 0.1})


def test_pose_commands_report_done_when_reached(humanoid, kw, obs_factory):
    assert not kw.infer(obs_factory('look left', joints={'head_pan_joint': 0.0})).done
    assert kw.infer(obs_factory('look left', joints={'head_pan_joint': 0.79})).done
    assert not kw.infer(obs_factory('look left')).done                          # not measured: not done
    assert not kw.infer(obs_factory('walk forward', joints={'head_pan_joint': 0.0})).done


def test_hold_measured_or_nominal(humanoid, obs_factory):
    joints = {'left_elbow_joint': 2.0}
    for hold, expected in [('measured', 2.0), ('nominal', 0.0)]:
        out = KeywordPolicy(humanoid, hold=hold).infer(obs_factory('walk forward', joints=joints))
        got = dict(zip(humanoid.joint_names, humanoid.decode(out.actions[0]).joint_positions))
        assert got['left_elbow_joint'] == pytest.approx(expected, abs=1e-6)


def test_wave_moves_along_the_chunk_and_with_time(humanoid, kw, obs_factory):
    elbow = _idx(humanoid, 'right_elbow')
    a = kw.infer(obs_factory('wave', stamp=0.0)).actions
    assert np.ptp(a[:, elbow]) > 0.3                               # oscillates within one chunk (1 s at 1 Hz)
    b = kw.infer(obs_factory('wave', stamp=0.25)).actions
    assert not np.allclose(a[0], b[0])                             # phase follows the stamp
    assert np.allclose(a, kw.infer(obs_factory('wave', stamp=0.0)).actions)   # deterministic
    assert kw.infer(obs_factory('wave', stamp=float('nan'))).is_finite


def test_works_with_any_embodiment(diff_drive, obs_factory):
    p = KeywordPolicy(diff_drive)
    fwd = p.infer(obs_factory('walk forward and raise your arms'))        # arms ignored: no such joints
    assert fwd.confidence == 1.0 and fwd.actions[0] == pytest.approx([0.5, 0.0])
    assert p.infer(obs_factory('turn right')).actions[0, 1] == pytest.approx(-0.5)
    for nothing_to_do in ['raise your left arm', 'look up', 'strafe left', 'wave']:
        assert p.infer(obs_factory(nothing_to_do)).confidence == 0.0, nothing_to_do
    assert p.infer(obs_factory('stop')).done
    # joint names with or without the _joint suffix
    arm = Embodiment.from_dict({'name': 'arm', 'actions': [{'target': 'joint/head_pan', 'low': -1, 'high': 1}]})
    out = KeywordPolicy(arm, chunk_size=1).infer(obs_factory('look right'))
    assert out.actions[0, 0] == pytest.approx(-0.8)


def test_zero_policy(humanoid, diff_drive, obs_factory):
    z = make_policy('zero', humanoid, chunk_size=3)
    out = z.infer(obs_factory('walk forward', joints={'left_elbow_joint': 2.0}))
    assert out.actions.shape == (3, 11) and out.confidence == 1.0 and not out.done
    cmd = humanoid.decode(out.actions[0])
    assert cmd.twist == (0.0,) * 6
    nominal = dict(zip(cmd.joint_names, cmd.joint_positions))
    assert nominal['left_elbow_joint'] == pytest.approx(0.0, abs=1e-6)
    assert nominal['head_tilt_joint'] == pytest.approx(0.0, abs=1e-6)
    assert nominal['left_shoulder_roll_joint'] == pytest.approx(0.0, abs=1e-6)
    assert np.all(ZeroPolicy(diff_drive, confidence=0.0).infer(obs_factory('')).actions == 0.0)
    clipped = Embodiment.from_dict({'actions': [{'target': 'joint/knee', 'low': 0.2, 'high': 1.0}]})
    knee = clipped.decode(ZeroPolicy(clipped).infer(obs_factory()).actions[0]).joint_positions[0]
    assert knee == pytest.approx(0.2, abs=1e-6)                   # 0 clipped into [0.2, 1.0]

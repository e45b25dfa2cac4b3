"""Joint limits: URDF and YAML parsing, intersection, clamping."""
import math
from pathlib import Path

import pytest

from vla_safety.joint_limits import (JointLimit, JointLimitError, combine_limits, limits_from_dict,
                                     parse_urdf_limits)

HUMANOID_URDF = Path(__file__).resolve().parents[2] / 'vla_description' / 'urdf' / 'vla_humanoid.urdf'


def urdf(*joints: str) -> str:
    head = '<?xml version="1.0"?>\n<robot name="r">\n<link name="a"/><link name="b"/>\n'
    return head + '\n'.join(joints) + '\n</robot>'


def joint(name='j', jtype='revolute', limit='<limit lower="-1" upper="2" velocity="3" effort="1"/>', extra=''):
    return (f'<joint name="{name}" type="{jtype}"><parent link="a"/><child link="b"/>'
            f'{limit}{extra}</joint>')


# -- JointLimit --------------------------------------------------------------------------------------
def test_joint_limit_clamp_and_absurd():
    lim = JointLimit(-1.0, 2.0, 3.0)
    assert lim.clamp(-5.0) == -1.0 and lim.clamp(5.0) == 2.0 and lim.clamp(0.5) == 0.5
    # scale = max(|lower|, |upper|, range) = 3
    assert not lim.absurd(30.0, 10.0) and lim.absurd(30.01, 10.0) and lim.absurd(-31.0, 10.0)
    assert not JointLimit(-math.inf, math.inf, 1.0).absurd(1e12, 10.0)
    assert JointLimit(-math.inf, math.inf, 1.0).continuous and not lim.continuous


@pytest.mark.parametrize('args, match', [
    ((2.0, 1.0, 1.0), 'swap'),
    ((0.0, 1.0, 0.0), 'max_velocity'),
    ((0.0, 1.0, -1.0), 'max_velocity'),
    ((0.0, 1.0, math.inf), 'max_velocity'),
    ((math.nan, 1.0, 1.0), 'NaN'),
    ((True, 1.0, 1.0), 'number'),
    (('0', 1.0, 1.0), 'number'),
    ((math.inf, math.inf, 1.0), 'no position'),
])
def test_joint_limit_rejects(args, match):
    with pytest.raises(JointLimitError, match=match):
        JointLimit(*args)


# -- URDF --------------------------------------------------------------------------------------------
def test_urdf_limit_velocity_and_kinds():
    limits = parse_urdf_limits(urdf(
        joint('rev'),
        joint('pri', 'prismatic', '<limit lower="0" upper="0.05" velocity="0.1" effort="1"/>'),
        joint('cont', 'continuous', '<limit velocity="6" effort="1"/>'),
        joint('fix', 'fixed', ''),
        joint('float', 'floating', ''),
        joint('mim', 'revolute', extra='<mimic joint="rev" multiplier="1"/>'),
    ))
    assert set(limits) == {'rev', 'pri', 'cont'}
    assert limits['rev'] == JointLimit(-1.0, 2.0, 3.0)
    assert limits['pri'] == JointLimit(0.0, 0.05, 0.1)
    assert limits['cont'].continuous and limits['cont'].max_velocity == 6.0


def test_urdf_safety_controller_tightens_limits():
    limits = parse_urdf_limits(urdf(
        joint('both', extra='<safety_controller soft_lower_limit="-0.9" soft_upper_limit="1.5" k_velocity="1"/>'),
        joint('loose', extra='<safety_controller soft_lower_limit="-5" soft_upper_limit="5" k_velocity="1"/>'),
        joint('upper_only', extra='<safety_controller soft_upper_limit="1.0" k_velocity="1"/>'),
    ))
    assert (limits['both'].lower, limits['both'].upper) == (-0.9, 1.5)
    assert (limits['loose'].lower, limits['loose'].upper) == (-1.0, 2.0)     # soft limits never widen
    assert (limits['upper_only'].lower, limits['upper_only'].upper) == (-1.0, 1.0)


def test_urdf_missing_lower_upper_default_to_zero_per_spec():
    limits = parse_urdf_limits(urdf(joint(limit='<limit velocity="1" effort="1"/>')))
    assert limits['j'] == JointLimit(0.0, 0.0, 1.0)


def test_urdf_transmission_joints_are_not_kinematic_joints():
    text = urdf(joint('j'), '<transmission name="t"><joint name="j"><hardwareInterface>x</hardwareInterface>'
                            '</joint></transmission>')
    assert set(parse_urdf_limits(text)) == {'j'}


@pytest.mark.parametrize('text, match', [
    ('', 'empty'),
    ('   ', 'empty'),
    ('<robot name="r"><joint name="j" type="revolute">', 'not valid XML'),
    ('<robot name="r"><joint></robot>', 'not valid XML'),
    ('<sdf version="1.6"/>', 'root element is <sdf>'),
    (urdf(joint(limit='')), "joint 'j' \\(revolute\\) has no <limit>"),
    (urdf(joint(limit='<limit lower="0" upper="1" effort="1"/>')), 'velocity="..."'),
    (urdf(joint(limit='<limit lower="zero" upper="1" velocity="1"/>')), 'lower="zero"> is not a number'),
    (urdf(joint(limit='<limit lower="0" upper="1" velocity="0"/>')), "joint 'j'.*max_velocity"),
    (urdf(joint(limit='<limit lower="1" upper="0" velocity="1"/>')), "joint 'j'.*swap"),
    (urdf(joint(limit='<limit lower="0" upper="1" velocity="nan"/>')), 'NaN'),
    (urdf(joint(extra='<safety_controller soft_lower_limit="1.5" soft_upper_limit="1.8" k_velocity="1"/>'),
          ).replace('upper="2"', 'upper="1"'), 'after applying <safety_controller>'),
    (urdf(joint('j'), joint('j')), 'defined twice'),
])
def test_malformed_urdf_gives_a_clear_error(text, match):
    with pytest.raises(JointLimitError, match=match):
        parse_urdf_limits(text)


def test_xacro_hint_in_xml_error():
    with pytest.raises(JointLimitError, match='xacro'):
        parse_urdf_limits('<robot><xacro:macro name="x"></robot>')


def test_the_suite_humanoid_urdf():
    if not HUMANOID_URDF.is_file():
        pytest.skip(f'{HUMANOID_URDF} not in this checkout')
    limits = parse_urdf_limits(HUMANOID_URDF.read_text())
    assert limits['head_pan_joint'] == JointLimit(-1.15, 1.15, 3.0)              # soft limits applied
    assert limits['left_elbow_joint'] == JointLimit(0.05, 2.45, 4.0)
    assert limits['right_shoulder_roll_joint'] == JointLimit(-2.45, 0.25, 4.0)
    assert 'laser_joint' not in limits and 'base_footprint_joint' not in limits   # fixed joints
    for name in ('head_tilt_joint', 'left_shoulder_pitch_joint', 'right_elbow_joint'):
        assert name in limits


# -- YAML ----------------------------------------------------------------------------------------------
def test_limits_from_dict():
    limits = limits_from_dict({'a': {'lower': -1, 'upper': 1, 'max_velocity': 2},
                               'wheel': {'lower': -math.inf, 'upper': math.inf, 'max_velocity': 10.0}})
    assert limits['a'] == JointLimit(-1.0, 1.0, 2.0) and isinstance(limits['a'].lower, float)
    assert limits['wheel'].continuous


@pytest.mark.parametrize('data, match', [
    ({'a': {'lower': -1, 'upper': 1}}, "missing \\['max_velocity'\\]"),
    ({'a': {'lower': -1, 'upper': 1, 'max_velocity': 1, 'velocity': 1}}, "unknown \\['velocity'\\]"),
    ({'a': [-1, 1, 2]}, 'joint_limits.a must be a mapping'),
    ({'a': {'lower': 1, 'upper': -1, 'max_velocity': 1}}, 'joint_limits.a: lower'),
    ([1, 2], 'must be a mapping'),
])
def test_limits_from_dict_errors(data, match):
    with pytest.raises(JointLimitError, match=match):
        limits_from_dict(data)


def test_combine_limits_takes_the_tightest():
    urdf_limits = {'a': JointLimit(-2.0, 2.0, 3.0), 'b': JointLimit(0.0, 1.0, 1.0)}
    yaml_limits = {'a': JointLimit(-1.0, 3.0, 5.0), 'c': JointLimit(-1.0, 1.0, 1.0)}
    out = combine_limits(urdf_limits, yaml_limits)
    assert out == {'a': JointLimit(-1.0, 2.0, 3.0), 'b': JointLimit(0.0, 1.0, 1.0), 'c': JointLimit(-1.0, 1.0, 1.0)}
    with pytest.raises(JointLimitError, match='do not overlap'):
        combine_limits({'a': JointLimit(0.0, 1.0, 1.0)}, {'a': JointLimit(2.0, 3.0, 1.0)})

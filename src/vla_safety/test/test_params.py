"""SafetyParams: defaults, validation with actionable errors, dict round trips, the YAML draft."""
import dataclasses
import math
from pathlib import Path

import pytest
import yaml

from vla_safety.joint_limits import JointLimit
from vla_safety.params import SafetyParams, SafetyParamsError, parameter_specs

CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'safety_node.yaml'
URDF = ('<robot name="r"><joint name="arm" type="revolute"><limit lower="-2" upper="2" velocity="3"/>'
        '<safety_controller soft_lower_limit="-1.9" soft_upper_limit="1.9" k_velocity="1"/></joint></robot>')


def test_defaults_for_a_small_humanoid():
    p = SafetyParams()
    assert (p.confidence_threshold, p.trigger_count, p.release_count, p.command_timeout) == (0.5, 1, 3, 0.3)
    assert (p.max_linear_x, p.max_linear_y, p.max_angular_z) == (0.5, 0.3, 1.0)
    assert (p.max_linear_accel, p.max_linear_decel, p.max_angular_accel, p.max_angular_decel) == (1.0, 2.0, 2.0, 4.0)
    assert (p.footprint, p.footprint_radius, p.stop_margin, p.slowdown_margin) == ((), 0.3, 0.1, 0.4)
    assert (p.slowdown_ratio, p.time_to_collision, p.source_timeout) == (0.5, 1.5, 0.5)
    assert p.footprint_shape.radius == 0.3 and p.footprint_shape.polygon is None
    assert dict(p.joint_limits) == {} and not p.allow_unknown_joints


def test_params_are_frozen():
    p = SafetyParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_linear_x = 2.0
    with pytest.raises(TypeError):
        p.joint_limits['x'] = JointLimit(0, 1, 1)


@pytest.mark.parametrize('kwargs, match', [
    ({'max_linear_x': -0.1}, r'max_linear_x=-0.1 is outside \[0.0, 10.0\]'),
    ({'max_linear_decel': 0.0}, 'max_linear_decel=0.0 is outside'),
    ({'release_count': 0}, r'release_count=0 is outside \[1, 1000\]'),
    ({'trigger_count': 1.5}, 'trigger_count must be a whole number'),
    ({'confidence_threshold': 1.5}, 'confidence_threshold=1.5 is outside'),
    ({'command_timeout': math.nan}, 'command_timeout must be finite'),
    ({'max_angular_z': True}, 'max_angular_z must be a number'),
    ({'max_angular_z': '1.0'}, 'max_angular_z must be a number'),
    ({'allow_unknown_joints': 1}, 'allow_unknown_joints must be true or false'),
    ({'footprint_radius': 0.0}, 'footprint_radius=0.0 is outside'),
    ({'footprint': [0.1, 0.2, 0.3]}, r'3 numbers; give x and y of each vertex'),
    ({'footprint': [0, 0, 1, 0]}, 'at least 3 vertices'),
    ({'footprint': [0, 0, 1, 0, 2, 0]}, 'no area'),
    ({'footprint': [0, 0, 1, 1, 1, 0, 0, 1]}, 'edges 0 and 2 cross'),
    ({'footprint': [0, 0, 1, math.inf, 1, 0]}, 'finite'),
    ({'footprint': ['a', 1, 2, 3, 4, 5]}, 'numbers only'),
    ({'stop_margin': 0.5, 'slowdown_margin': 0.2}, 'raise slowdown_margin'),
    ({'slowdown_ratio': 1.1}, 'slowdown_ratio=1.1 is outside'),
    ({'min_points': 0}, 'min_points=0 is outside'),
    ({'source_timeout': -1.0}, 'source_timeout=-1.0 is outside'),
    ({'source_timeouts': {'scan': 0.0}}, r'source_timeouts.scan must be a number of seconds > 0'),
    ({'joint_limits': {'a': {'lower': 1, 'upper': 0, 'max_velocity': 1}}}, 'joint_limits.a: lower'),
    ({'out_of_range_factor': 0.5}, 'out_of_range_factor=0.5 is outside'),
])
def test_validation_says_what_to_fix(kwargs, match):
    with pytest.raises(SafetyParamsError, match=match):
        SafetyParams(**kwargs)


def test_all_problems_are_listed_at_once():
    with pytest.raises(SafetyParamsError) as exc:
        SafetyParams(max_linear_x=-1.0, release_count=0, footprint=[1.0])
    text = str(exc.value)
    assert 'max_linear_x' in text and 'release_count' in text and 'footprint' in text


def test_footprint_forms():
    flat = SafetyParams(footprint=[0.2, 0.1, -0.2, 0.1, -0.2, -0.1, 0.2, -0.1])
    pairs = SafetyParams(footprint=[(0.2, 0.1), (-0.2, 0.1), (-0.2, -0.1), (0.2, -0.1)])
    assert flat.footprint == pairs.footprint == ((0.2, 0.1), (-0.2, 0.1), (-0.2, -0.1), (0.2, -0.1))
    assert flat.footprint_shape.polygon is not None and flat.footprint_shape.radius is None
    assert flat == pairs
    assert SafetyParams(footprint=None).footprint == ()


def test_ints_are_accepted_for_floats_and_integral_floats_for_ints():
    p = SafetyParams(max_linear_x=1, release_count=2.0)
    assert isinstance(p.max_linear_x, float) and isinstance(p.release_count, int)


def test_from_dict_flat_ros_parameters():
    p = SafetyParams.from_dict({
        'max_linear_x': 0.4, 'footprint': [0.2, 0.1, -0.2, 0.1, -0.2, -0.1, 0.2, -0.1],
        'joint_limits.head_pan_joint.lower': -1.0, 'joint_limits.head_pan_joint.upper': 1.0,
        'joint_limits.head_pan_joint.max_velocity': 2.0, 'source_timeouts.scan': 0.25})
    assert p.max_linear_x == 0.4 and len(p.footprint) == 4
    assert p.joint_limits['head_pan_joint'] == JointLimit(-1.0, 1.0, 2.0)
    assert p.timeout_of('scan') == 0.25 and p.timeout_of('depth') == 0.5


def test_from_dict_nested_like_a_yaml_file():
    p = SafetyParams.from_dict({'joint_limits': {'a.b': {'lower': -1, 'upper': 1, 'max_velocity': 1}},
                                'source_timeouts': {'scan': 0.2}})
    assert p.joint_limits['a.b'].upper == 1.0 and p.source_timeouts['scan'] == 0.2


def test_from_dict_unknown_keys():
    with pytest.raises(SafetyParamsError, match=r"unknown safety parameter\(s\) \['max_speed'\]; known:"):
        SafetyParams.from_dict({'max_speed': 1.0})
    p = SafetyParams.from_dict({'max_speed': 1.0, 'scan_topic': 'scan'}, strict=False)
    assert p == SafetyParams()


def test_from_dict_bad_joint_limits():
    with pytest.raises(SafetyParamsError, match="missing \\['max_velocity'\\]"):
        SafetyParams.from_dict({'joint_limits.a.lower': 0.0, 'joint_limits.a.upper': 1.0})
    with pytest.raises(SafetyParamsError, match='not valid XML'):
        SafetyParams.from_dict({}, urdf='<robot')


def test_from_dict_with_urdf_intersects_limits():
    p = SafetyParams.from_dict({}, urdf=URDF)
    assert p.joint_limits['arm'] == JointLimit(-1.9, 1.9, 3.0)
    p = SafetyParams.from_dict({'joint_limits': {'arm': {'lower': -1.0, 'upper': 3.0, 'max_velocity': 5.0}}}, urdf=URDF)
    assert p.joint_limits['arm'] == JointLimit(-1.0, 1.9, 3.0)


def test_to_dict_round_trip():
    p = SafetyParams(footprint=[(0.2, 0.1), (-0.2, 0.1), (-0.2, -0.1), (0.2, -0.1)], max_linear_y=0.0,
                     joint_limits={'a': JointLimit(-1, 1, 2)}, source_timeouts={'scan': 0.2}, allow_unknown_joints=True)
    d = p.to_dict()
    assert d['footprint'] == [0.2, 0.1, -0.2, 0.1, -0.2, -0.1, 0.2, -0.1]
    assert d['joint_limits.a.max_velocity'] == 2.0 and d['source_timeouts.scan'] == 0.2
    assert all(not isinstance(v, (dict, tuple)) for v in d.values())   # all ROS parameter types
    assert SafetyParams.from_dict(d) == p


def test_replace_revalidates():
    p = SafetyParams()
    assert dataclasses.replace(p, max_linear_x=0.2).max_linear_x == 0.2
    with pytest.raises(SafetyParamsError):
        dataclasses.replace(p, max_linear_x=-0.2)


def test_parameter_specs_match_fields_and_ranges():
    specs = parameter_specs()
    names = [s['name'] for s in specs]
    maps = ('joint_limits', 'source_timeouts')
    field_names = [f.name for f in dataclasses.fields(SafetyParams) if f.name not in maps]
    assert names == field_names
    for s in specs:
        assert set(s) == {'name', 'default', 'description', 'min', 'max'} and s['description']
        if isinstance(s['default'], (int, float)) and not isinstance(s['default'], bool):
            assert s['min'] <= s['default'] <= s['max'], s['name']


# -- the params file ------------------------------------------------------------------------------
def test_config_yaml_lists_every_gate_parameter_with_its_default_and_a_comment():
    text = CONFIG.read_text()
    data = yaml.safe_load(text)
    assert list(data) == ['vla_safety'], 'keyed by the node name the bringup gives the node'
    ros = data['vla_safety']['ros__parameters']
    # the file also holds the node's own parameters (topics, rates): strict=False
    assert SafetyParams.from_dict(ros, strict=False) == SafetyParams()
    lines = text.splitlines()
    for spec in parameter_specs():
        if spec['name'] == 'footprint':   # commented out: an empty list has no ROS type
            example = next(line for line in lines if line.strip().startswith('# footprint: ['))
            assert len(SafetyParams.from_dict(yaml.safe_load(example.strip()[2:])).footprint) >= 3
            continue
        assert spec['name'] in ros, f"{spec['name']} missing from {CONFIG.name}"
        i = next(i for i, line in enumerate(lines) if line.strip().startswith(spec['name'] + ':'))
        assert lines[i - 1].strip().startswith('#'), f"{spec['name']} has no comment line above it"

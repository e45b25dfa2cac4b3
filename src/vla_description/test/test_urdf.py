"""The humanoid URDF: it parses, its frames follow REP 103/105, its limits and inertias are sane,
and the joint signs match the contract of vla_core/config/embodiments/vla_humanoid.yaml."""
import math

import numpy as np
import pytest

from vla_description import available_robots, read_urdf, urdf_path
from vla_description.urdf_info import UrdfError, parse_joints, parse_urdf

# The commanded joints and their limits: the embodiment contract (vla_humanoid.yaml).
CONTRACT = {
    'head_pan_joint': (-1.2, 1.2),
    'head_tilt_joint': (-0.6, 0.8),
    'left_shoulder_pitch_joint': (-3.0, 1.0),
    'left_shoulder_roll_joint': (-0.3, 2.5),
    'left_elbow_joint': (0.0, 2.5),
    'right_shoulder_pitch_joint': (-3.0, 1.0),
    'right_shoulder_roll_joint': (-2.5, 0.3),
    'right_elbow_joint': (0.0, 2.5),
}
LEGS = [f'{s}_{j}' for s in ('left', 'right') for j in ('hip_pitch_joint', 'knee_joint', 'ankle_pitch_joint')]


@pytest.fixture(scope='module')
def robot():
    return parse_urdf(read_urdf())


def pos(robot, link, q=None):
    return robot.link_pose(link, q)[:3, 3]


def test_urdf_is_found_and_bundled():
    assert urdf_path().is_file()
    assert 'vla_humanoid' in available_robots()
    with pytest.raises(FileNotFoundError, match='bundled: .*vla_humanoid'):
        urdf_path('no_such_robot')


def test_tree_root_and_rep105_frames(robot):
    assert robot.name == 'vla_humanoid'
    assert robot.root == 'base_footprint'
    for frame in ('base_footprint', 'base_link', 'head_camera_optical_frame', 'laser', 'head_camera_link'):
        assert frame in robot.links, frame
    # base_footprint is on the ground right under base_link (REP 105)
    bl = robot.link_pose('base_link')
    assert np.allclose(bl[:3, :3], np.eye(3)) and bl[0, 3] == 0 and bl[1, 3] == 0 and bl[2, 3] > 0.3


def test_movable_joints_are_the_contract_plus_legs(robot):
    assert sorted(robot.movable_joints) == sorted(list(CONTRACT) + LEGS)
    for name, (lo, hi) in CONTRACT.items():
        j = robot.joints[name]
        assert j.type == 'revolute'
        assert (j.lower, j.upper) == (lo, hi), name


def test_limits_and_safety_controllers_are_sane(robot):
    for name in robot.movable_joints:
        j = robot.joints[name]
        assert j.lower < j.upper, name
        assert 0 < j.effort < 500 and 0 < j.velocity < 20, name
        assert j.soft_lower is not None, f'{name} has no <safety_controller>'
        assert j.lower <= j.soft_lower < j.soft_upper <= j.upper, name
        assert j.k_position > 0 and j.k_velocity > 0, name
        assert j.damping >= 0, name
        assert math.isclose(np.linalg.norm(j.axis), 1.0)


def _primitive_inertia(geom, m):
    if geom.kind == 'box':
        x, y, z = geom.size
        return np.diag([m / 12 * (y * y + z * z), m / 12 * (x * x + z * z), m / 12 * (x * x + y * y)])
    if geom.kind == 'cylinder':
        r, h = geom.size
        a = m / 12 * (3 * r * r + h * h)
        return np.diag([a, a, m * r * r / 2])
    (r,) = geom.size
    return np.eye(3) * 0.4 * m * r * r


def test_masses_and_inertias_are_physical(robot):
    assert 30.0 < robot.total_mass < 60.0
    for link in robot.links.values():
        if link.inertial is None:
            assert not link.collisions, f'{link.name} collides but has no mass'
            continue
        I = link.inertial.inertia
        ev = np.linalg.eigvalsh(I)
        assert link.inertial.mass > 0 and np.all(ev > 0), link.name
        a, b, c = np.sort(ev)
        assert a + b >= c * (1 - 1e-9), f'{link.name}: inertia violates the triangle inequality'
        # every inertia is its (single) primitive's, about the primitive's centre
        (geom,) = link.collisions
        assert np.allclose(link.inertial.origin, geom.origin), link.name
        assert np.allclose(I, _primitive_inertia(geom, link.inertial.mass), rtol=2e-3), link.name
        # visual and collision geometry agree
        assert [(v.kind, v.size) for v in link.visuals] == [(geom.kind, geom.size)], link.name


def test_robot_hovers_just_above_the_ground(robot):
    """The base moves by planar velocity: nothing touches the ground, the soles are within 1 cm of it."""
    lowest = math.inf
    for link in robot.links.values():
        for g in link.collisions:
            T = robot.link_pose(link.name) @ g.origin
            if g.kind == 'box':
                half = np.array(g.size) / 2
                corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half
                z = (T[:3, :3] @ corners.T)[2] + T[2, 3]
                lowest = min(lowest, z.min())
            else:
                lowest = min(lowest, T[2, 3] - (g.size[1] / 2 if g.kind == 'cylinder' else g.size[0]))
    assert 0.0 < lowest < 0.01


def test_camera_optical_frame_follows_ros_convention(robot):
    R = robot.link_pose('head_camera_optical_frame')[:3, :3]
    assert np.allclose(R[:, 2], [1, 0, 0], atol=1e-9)    # z forward
    assert np.allclose(R[:, 0], [0, -1, 0], atol=1e-9)   # x right
    assert np.allclose(R[:, 1], [0, 0, -1], atol=1e-9)   # y down
    assert 1.0 < pos(robot, 'head_camera_optical_frame')[2] < 1.4


def test_laser_is_level_at_the_waist(robot):
    T = robot.link_pose('laser')
    assert np.allclose(T[:3, :3], np.eye(3))
    assert 0.4 < T[2, 3] < 0.8 and T[0, 3] > 0


def test_joint_signs_match_the_embodiment(robot):
    def cam_dir(q):
        return robot.link_pose('head_camera_optical_frame', q)[:3, 2]
    assert cam_dir({'head_pan_joint': 0.5})[1] > 0.3          # + pan = look left
    assert cam_dir({'head_tilt_joint': 0.5})[2] < -0.3        # + tilt = look down
    for side, out in (('left', 1.0), ('right', -1.0)):
        hand0 = pos(robot, f'{side}_hand_link')
        fwd = pos(robot, f'{side}_hand_link', {f'{side}_shoulder_pitch_joint': -math.pi / 2})
        assert fwd[0] > hand0[0] + 0.4                        # - pitch = arm forward
        up = pos(robot, f'{side}_hand_link', {f'{side}_shoulder_pitch_joint': -2.8})
        head_top = pos(robot, 'head')[2] + 0.15
        assert up[2] > head_top                               # -2.8 = overhead
        wide = pos(robot, f'{side}_hand_link', {f'{side}_shoulder_roll_joint': out * 1.0})
        assert out * (wide[1] - hand0[1]) > 0.3               # outward roll
        bent = pos(robot, f'{side}_hand_link', {f'{side}_elbow_joint': 1.5})
        assert bent[0] > hand0[0] + 0.15                      # + elbow = flex, forearm forward


def test_malformed_urdf_is_rejected_with_a_reason():
    with pytest.raises(UrdfError, match='exactly one root'):
        parse_urdf('<robot name="r"><link name="a"/><link name="b"/></robot>')
    with pytest.raises(UrdfError, match="link 'c' is not defined"):
        parse_urdf('<robot name="r"><link name="a"/><joint name="j" type="fixed">'
                   '<parent link="a"/><child link="c"/></joint></robot>')
    with pytest.raises(UrdfError, match='needs <limit'):
        parse_urdf('<robot name="r"><link name="a"/><link name="b"/><joint name="j" type="revolute">'
                   '<parent link="a"/><child link="b"/></joint></robot>')


def test_joint_fields_every_user_reads():
    text = ('<robot name="r"><link name="a"/><link name="b"/><link name="c"/>'
            '<joint name="w" type="continuous"><parent link="a"/><child link="b"/>'
            '<limit lower="-1" upper="1" velocity="6" effort="2"/></joint>'
            '<joint name="m" type="revolute"><parent link="b"/><child link="c"/><axis xyz="0 0 2"/>'
            '<limit lower="-1" upper="1" velocity="3"/><mimic joint="w"/>'
            '<safety_controller soft_upper_limit="0.5" k_velocity="1"/></joint>'
            '<transmission name="t"><joint name="w"/></transmission><gazebo/></robot>')
    robot = parse_urdf(text)
    w, m = robot.joints['w'], robot.joints['m']
    assert (w.lower, w.upper, w.velocity, w.effort) == (-math.inf, math.inf, 6.0, 2.0)   # continuous: no bounds
    assert (m.lower, m.upper, m.soft_lower, m.soft_upper) == (-1.0, 1.0, -1.0, 0.5)    # soft: default = hard
    assert m.mimic == 'w' and w.mimic is None and m.effort == math.inf and list(m.axis) == [0.0, 0.0, 1.0]
    assert robot.extensions == ('transmission', 'gazebo')
    assert list(parse_joints(text)) == ['w', 'm'] and parse_joints(text)['m'].child == 'c'


def test_parse_joints_checks_each_joint_but_not_the_tree():
    text = '<robot name="r"><joint name="j" type="revolute"><limit velocity="1"/></joint></robot>'
    assert parse_joints(text)['j'].upper == 0.0                  # lower/upper default to 0 (URDF spec)
    with pytest.raises(UrdfError, match='needs <parent link'):
        parse_urdf(text)


@pytest.mark.parametrize('text, match', [
    ('', 'empty'),
    ('<robot><xacro:macro name="x"></robot>', 'not well-formed.*run xacro first'),
    ('<sdf/>', "root element is <sdf>, expected <robot>"),
    ('<robot><joint name="j" type="hinge"/></robot>', 'type="hinge" is not a URDF joint type; use one of'),
    ('<robot><joint type="fixed"/></robot>', 'a <joint> has no name'),
    ('<robot><joint name="j" type="fixed"/><joint name="j" type="fixed"/></robot>', "'j' \\(fixed\\) is defined twice"),
    ('<robot><joint name="j" type="continuous"><limit velocity="fast"/></joint></robot>',
     '<limit velocity="fast"> is not a number'),
    ('<robot><joint name="j" type="revolute"><limit upper="nan" velocity="1"/></joint></robot>', 'is NaN'),
    ('<robot><joint name="j" type="revolute"><axis xyz="0 0 0"/><limit velocity="1"/></joint></robot>', 'zero axis'),
    ('<robot><joint name="j" type="fixed"><mimic/></joint></robot>', '<mimic> needs joint='),
])
def test_joint_errors_say_where_and_what_to_fix(text, match):
    with pytest.raises(UrdfError, match=match):
        parse_joints(text)


def test_link_errors_say_where():
    with pytest.raises(UrdfError, match="link 'a' is defined twice"):
        parse_urdf('<robot><link name="a"/><link name="a"/></robot>')
    with pytest.raises(UrdfError, match='<mass> needs a value='):
        parse_urdf('<robot><link name="a"><inertial><mass/><inertia/></inertial></link></robot>')

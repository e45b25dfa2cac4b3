"""The MuJoCo model built from the URDF: structure, contracts, actuation and sensors."""
import math

import mujoco
import numpy as np
import pytest

from vla_description import read_urdf
from vla_description.urdf_info import UrdfError, parse_urdf
from vla_core.embodiment import load_embodiment
from vla_sim.model_builder import ModelConfig, build_model
from vla_sim.sim import COMMANDED_JOINTS
from vla_sim.world import World, WorldObject

URDF = parse_urdf(read_urdf())


def test_model_compiles_with_every_urdf_joint_actuated():
    m, ix = build_model()
    assert set(ix.joint_names) == set(URDF.movable_joints)
    for i, name in enumerate(ix.joint_names):
        j = URDF.joints[name]
        assert tuple(ix.joint_range[i]) == (j.lower, j.upper)
        a = ix.joint_ctrl[i]
        assert tuple(m.actuator_ctrlrange[a]) == (j.lower, j.upper)
        assert m.actuator_forcerange[a][1] == pytest.approx(j.effort)
        assert ix.joint_max_velocity[i] == j.velocity
    # masses come from the URDF
    assert m.body_subtreemass[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, 'base_footprint')] == \
        pytest.approx(URDF.total_mass)


def test_embodiment_contract_matches_the_model():
    """vla_humanoid.yaml's bounds are the URDF joint limits and the base's twist limits."""
    m, ix = build_model()
    emb = load_embodiment('vla_humanoid')
    assert set(emb.joint_names) == set(COMMANDED_JOINTS)
    twist = dict(zip(('twist.linear.x', 'twist.linear.y', 'twist.angular.z'), ix.base_max_twist))
    for d in emb.dims:
        if d.target.startswith('joint/'):
            j = URDF.joints[d.target[len('joint/'):]]
            assert (d.low, d.high) == (j.lower, j.upper), d.name
        else:
            assert (d.low, d.high) == (-twist[d.target], twist[d.target]), d.name


def test_base_twist_is_in_the_base_frame(sim):
    sim.reset(world=World(None, (0.0, 0.0, math.pi / 2), ()))
    sim.set_base_twist(0.4, 0.0, 0.0)           # forward while facing +y
    sim.step(1.0)
    x, y, yaw = sim.base_pose()
    assert abs(x) < 0.02 and y == pytest.approx(0.4 * 1.0, abs=0.03) and yaw == pytest.approx(math.pi / 2, abs=0.01)
    assert sim.base_twist() == pytest.approx([0.4, 0.0, 0.0], abs=0.01)
    sim.set_base_twist(0.0, 0.3, -1.0)
    sim.step(0.5)
    assert sim.base_twist() == pytest.approx([0.0, 0.3, -1.0], abs=0.02)
    assert sim.set_base_twist(9.0, -9.0, float('nan')) == (0.5, -0.3, 0.0)   # clamped; NaN -> 0


def test_joint_targets_are_tracked_clamped_and_rate_limited(sim):
    sim.reset(world=World(None, (0.0, 0.0, 0.0), ()))
    ignored = sim.set_joint_targets({'left_shoulder_pitch_joint': -2.8, 'right_elbow_joint': 9.0,
                                     'left_knee_joint': 1.0, 'no_such_joint': 0.0, 'head_pan_joint': float('nan')})
    assert set(ignored) == {'left_knee_joint', 'no_such_joint', 'head_pan_joint'}
    sim.step(0.25)                              # 4 rad/s limit: at most 1 rad so far
    assert sim.joint_positions()['left_shoulder_pitch_joint'] > -1.05
    sim.step(1.5)
    q = sim.joint_positions()
    assert q['left_shoulder_pitch_joint'] == pytest.approx(-2.8, abs=0.02)
    assert q['right_elbow_joint'] == pytest.approx(2.5, abs=0.02)          # clamped to the limit
    assert abs(q['left_knee_joint']) < 0.01                                # legs are held
    assert q['head_tilt_joint'] == pytest.approx(0.3, abs=0.01)           # untouched joints keep rest pose
    # the arm is overhead and the base did not move from the reaction
    assert sim.state().hands['left'][2] > sim.state().head_top[2]
    assert np.linalg.norm(sim.base_pose()[:2]) < 0.02


def test_camera_sits_on_the_optical_frame(sim):
    """MuJoCo's camera pose equals the URDF's head_camera_optical_frame (ROS optical convention)."""
    q = {'head_pan_joint': 0.4, 'head_tilt_joint': -0.3}
    sim.reset(world=World(None, (1.0, -2.0, 0.7), ()), joint_positions=q)
    pos, R = sim.camera_pose()
    T = URDF.link_pose('head_camera_optical_frame', q)
    c, s = math.cos(0.7), math.sin(0.7)
    base = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    assert pos == pytest.approx(base @ T[:3, 3] + [1.0, -2.0, 0.0], abs=1e-6)
    assert R == pytest.approx(base @ T[:3, :3], abs=1e-6)


def _scene_with(obj, start=(0.0, 0.0, 0.0)):
    return World(None, start, (obj,))


def test_image_projection_matches_camera_info(sim):
    """A red ball renders where the published intrinsics project its centre; left is left."""
    ball = WorldObject('red', 'ball', (3.0, 0.8), rgba=(1.0, 0.0, 0.0, 1.0))
    sim.reset(world=_scene_with(ball), joint_positions={'head_tilt_joint': 0.2})
    w, h = 320, 240
    img = sim.render(w, h)
    assert img.shape == (h, w, 3) and img.dtype == np.uint8
    red = (img[..., 0] > 150) & (img[..., 1] < 60) & (img[..., 2] < 60)
    assert red.sum() > 100
    v, u = np.nonzero(red)
    pos, R = sim.camera_pose()
    p = R.T @ (ball.position - pos)
    u0, v0 = sim.camera_intrinsics(w, h).project(p)
    assert u.mean() == pytest.approx(u0, abs=3.0) and v.mean() == pytest.approx(v0, abs=3.0)
    assert u0 < w / 2                        # object on the robot's left is on the image's left
    depth = sim.render_depth(w, h)
    assert depth.dtype == np.float32 and depth.shape == (h, w)
    assert depth[int(round(v0)), int(round(u0))] == pytest.approx(p[2] - 0.3, abs=0.05)


def test_small_policy_images_render(sim):
    sim.reset(3)
    img = sim.render(96, 96)
    assert img.shape == (96, 96, 3) and img.std() > 5
    with pytest.raises(ValueError, match='offscreen'):
        sim.render(2000, 2000)


def test_lidar_sees_objects_and_walls_but_not_the_robot(sim):
    ball = WorldObject('blue', 'ball', (2.0, 0.0))
    sim.reset(world=_scene_with(ball))
    cfg = sim.lidar.config
    r = sim.scan(noisy=False)
    assert r.shape == (cfg.n_beams,) and r.dtype == np.float32
    a = cfg.angles
    ahead, left, behind = np.argmin(abs(a)), np.argmin(abs(a - math.pi / 2)), 0
    laser_x, laser_z = 0.11, 0.56
    chord = math.sqrt(0.3 ** 2 - (laser_z - 0.3) ** 2)
    assert r[ahead] == pytest.approx(2.0 - laser_x - chord, abs=0.01)
    assert r[left] == pytest.approx(5.0, abs=0.01)           # wall; the left arm is masked out
    assert r[behind] == pytest.approx(5.0 + laser_x, abs=0.01)
    assert np.all(np.isfinite(r)) and r.min() > cfg.range_min   # closed arena, nothing of the robot
    assert cfg.angle_max == pytest.approx(math.pi - 2 * math.pi / 360)


def test_robot_collides_with_objects_not_with_floor_or_itself(sim):
    box = WorldObject('green', 'box', (1.2, 0.0))
    sim.reset(world=_scene_with(box))
    assert sim.contacts() == frozenset()
    sim.set_joint_targets({'left_shoulder_roll_joint': -0.3, 'right_shoulder_roll_joint': 0.3})  # arms into the torso
    sim.set_base_twist(0.5, 0.0, 0.0)
    sim.step(3.0)
    assert sim.contacts() == {'green_box'}
    assert sim.base_pose()[0] < 1.2 - 0.25 - 0.05              # stopped by the box
    assert sim.data.qpos[sim.index.base_qpos[0]] > 0.5


def test_an_object_placed_during_a_run_is_seen_touched_and_removed(sim):
    sim.reset(world=World(None, (0.0, 0.0, 0.0), ()))
    ahead = int(np.argmin(abs(sim.lidar.config.angles)))
    assert sim.scan(noisy=False)[ahead] == pytest.approx(5.0 - 0.11, abs=0.01)    # the wall
    t = sim.time
    box = WorldObject('yellow', 'box', (1.5, 0.0))
    world = sim.place_object(box)
    assert sim.time == t and world.get('yellow_box') == box and sim.world is world
    assert sim.scan(noisy=False)[ahead] == pytest.approx(1.5 - 0.25 - 0.11, abs=0.01)
    moved = WorldObject('yellow', 'box', (0.3, 0.0))       # moved onto the robot
    sim.place_object(moved)
    assert sim.world.objects == (moved,)                   # moved, not added twice
    sim.step(0.05)
    assert sim.contacts() == {'yellow_box'}
    sim.remove_object('yellow_box')
    sim.step(0.05)
    assert sim.contacts() == frozenset() and sim.world.objects == ()
    x = sim.base_pose()[0]                                  # the box pushed the robot back a little
    assert sim.scan(noisy=False)[ahead] == pytest.approx(5.0 - 0.11 - x, abs=0.01)
    with pytest.raises(KeyError, match='purple_box'):
        sim.place_object(WorldObject('purple', 'box', (1.0, 0.0)))


def test_model_config_is_validated():
    with pytest.raises(ValueError, match='timestep'):
        ModelConfig(timestep=0.5)
    with pytest.raises(ValueError, match='no kp'):
        ModelConfig(kp={'head_': 1.0}).gain('left_elbow_joint')


def test_a_malformed_urdf_is_refused_by_the_shared_reader():
    """vla_description's reader sees the URDF before MuJoCo's importer: its error says what to fix."""
    with pytest.raises(UrdfError, match="joint 'j' \\(revolute\\) has no <limit>"):
        build_model('<robot name="r"><link name="a"/><link name="b"/><joint name="j" type="revolute">'
                    '<parent link="a"/><child link="b"/></joint></robot>')

"""The Gazebo overlay on the humanoid URDF (vla_bringup.gazebo_description): valid XML, the URDF
kept verbatim, one position controller per commanded joint, sensors that match vla_sim's."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from vla_bringup.gazebo_description import (MODEL_NAME, ROBOT_VISIBILITY_BIT, GazeboConfig, GazeboDescriptionError,
                                            GzTopics, commanded_joints, gazebo_urdf, laser_pose_in_base)
from vla_description import read_urdf
from vla_description.urdf_info import parse_urdf

JOINTS = commanded_joints('vla_humanoid')
LEGS = {f'{s}_{j}' for s in ('left', 'right') for j in ('hip_pitch_joint', 'knee_joint', 'ankle_pitch_joint')}
SIM_NODE_YAML = Path(__file__).resolve().parents[2] / 'vla_sim' / 'config' / 'sim_node.yaml'


@pytest.fixture(scope='module')
def urdf() -> str:
    return read_urdf()


@pytest.fixture(scope='module')
def overlay(urdf) -> str:
    return gazebo_urdf(urdf, JOINTS)


@pytest.fixture(scope='module')
def root(overlay) -> ET.Element:
    return ET.fromstring(overlay)


def plugins(root: ET.Element, name: str) -> list[ET.Element]:
    return [p for g in root.findall('gazebo') if g.get('reference') is None
            for p in g.findall('plugin') if p.get('name') == f'gz::sim::systems::{name}']


def sensor(root: ET.Element, kind: str) -> tuple[str, ET.Element]:
    (found,) = [(g.get('reference'), s) for g in root.findall('gazebo') for s in g.findall('sensor')
                if s.get('type') == kind]
    return found


def test_the_embodiment_commands_head_and_arms():
    assert JOINTS == ('head_pan_joint', 'head_tilt_joint',
                      'left_shoulder_pitch_joint', 'left_shoulder_roll_joint', 'left_elbow_joint',
                      'right_shoulder_pitch_joint', 'right_shoulder_roll_joint', 'right_elbow_joint')


def test_overlay_is_valid_xml_and_keeps_the_urdf(urdf, overlay, root):
    assert root.tag == 'robot'
    end = urdf.rfind('</robot>')
    assert overlay.startswith(urdf[:end].rstrip())          # comments and layout of the URDF kept
    assert overlay.rstrip().endswith('</robot>')
    assert '<gazebo' not in urdf                            # the shared URDF stays Gazebo-free
    plain, gz = parse_urdf(urdf), parse_urdf(overlay)       # same tree for robot_state_publisher
    assert set(gz.joints) == set(plain.joints) and set(gz.links) == set(plain.links)


def test_one_position_controller_per_commanded_joint_on_its_own_topic(root):
    ctrl = plugins(root, 'JointPositionController')
    by_joint: dict[str, list[ET.Element]] = {}
    for p in ctrl:
        by_joint.setdefault(p.findtext('joint_name'), []).append(p)
    assert all(len(v) == 1 for v in by_joint.values()), 'a joint has two controllers'
    assert set(JOINTS) <= set(by_joint)
    topics = GzTopics(MODEL_NAME)
    for j in JOINTS:
        p = by_joint[j][0]
        assert p.get('filename') == 'gz-sim-joint-position-controller-system'
        assert p.findtext('topic') == topics.joint_command(j) == f'/model/vla_humanoid/joint/{j}/cmd_pos'
        assert p.findtext('use_velocity_commands') == 'true'
    topic_list = [p.findtext('topic') for p in ctrl]
    assert len(topic_list) == len(set(topic_list))
    # the rest (the legs) are held at 0
    assert set(by_joint) - set(JOINTS) == LEGS
    assert all(by_joint[j][0].findtext('initial_position') == '0' for j in LEGS)


def test_controllers_move_at_most_at_the_urdf_velocity_limit(urdf, root):
    robot = parse_urdf(urdf)
    for p in plugins(root, 'JointPositionController'):
        vmax = robot.joints[p.findtext('joint_name')].velocity
        assert float(p.findtext('cmd_max')) == vmax and float(p.findtext('cmd_min')) == -vmax


def test_base_velocity_joint_states_and_odometry_systems(root):
    topics = GzTopics()
    (vc,) = plugins(root, 'VelocityControl')
    assert vc.get('filename') == 'gz-sim-velocity-control-system' and vc.findtext('topic') == topics.cmd_vel
    (jsp,) = plugins(root, 'JointStatePublisher')
    assert jsp.findtext('topic') == topics.joint_states and jsp.find('joint_name') is None   # every joint
    (odom,) = plugins(root, 'OdometryPublisher')
    assert (odom.findtext('odom_frame'), odom.findtext('robot_base_frame')) == ('odom', 'base_footprint')
    assert (odom.findtext('odom_topic'), odom.findtext('tf_topic')) == (topics.odometry, topics.tf)
    assert odom.findtext('dimensions') == '2'


def test_robot_is_weightless_and_hidden_from_its_lidar(urdf, root):
    for link in parse_urdf(urdf).links:
        (ext,) = [g for g in root.findall('gazebo')
                  if g.get('reference') == link and g.find('turnGravityOff') is not None]
        assert ext.findtext('turnGravityOff') == 'true', link
        assert int(ext.findtext('visual/visibility_flags')) == ROBOT_VISIBILITY_BIT, link
    _, lidar = sensor(root, 'gpu_lidar')
    mask = int(lidar.findtext('lidar/visibility_mask'))
    assert mask & ROBOT_VISIBILITY_BIT == 0 and mask | ROBOT_VISIBILITY_BIT == 0xFFFFFFFF


def test_camera_matches_vla_sim(urdf, root):
    link, cam = sensor(root, 'camera')
    assert link == 'head_camera_link'
    assert cam.findtext('topic') == GzTopics().image
    assert cam.findtext('gz_frame_id') == 'head_camera_optical_frame'      # images in the ROS optical frame
    robot = parse_urdf(urdf)
    offset = robot.joints['head_camera_optical_joint'].origin[:3, 3]
    assert [float(v) for v in cam.findtext('pose').split()] == pytest.approx([*offset, 0, 0, 0])
    assert cam.findtext('camera/image/format') == 'R8G8B8'                 # rgb8
    w, h = int(cam.findtext('camera/image/width')), int(cam.findtext('camera/image/height'))
    hfov = float(cam.findtext('camera/horizontal_fov'))
    vfov = 2 * math.atan(math.tan(hfov / 2) * h / w)
    assert math.degrees(vfov) == pytest.approx(70.0, abs=1e-6)             # vla_sim ModelConfig.camera_fovy_deg
    sim = yaml.safe_load(SIM_NODE_YAML.read_text())['sim_node']['ros__parameters'] if SIM_NODE_YAML.is_file() \
        else {'camera_width': 320, 'camera_height': 240, 'camera_rate': 15.0}
    assert (w, h) == (sim['camera_width'], sim['camera_height']) == (320, 240)
    assert float(cam.findtext('update_rate')) == sim['camera_rate']


def test_lidar_matches_vla_sim(root):
    link, lidar = sensor(root, 'gpu_lidar')
    assert link == 'laser' and lidar.findtext('gz_frame_id') == 'laser'
    assert lidar.findtext('topic') == GzTopics().scan
    sim = yaml.safe_load(SIM_NODE_YAML.read_text())['sim_node']['ros__parameters'] if SIM_NODE_YAML.is_file() \
        else {'scan_rate': 10.0, 'scan_beams': 360, 'scan_range_max': 10.0, 'scan_noise_std': 0.01}
    n = int(lidar.findtext('lidar/scan/horizontal/samples'))
    lo = float(lidar.findtext('lidar/scan/horizontal/min_angle'))
    hi = float(lidar.findtext('lidar/scan/horizontal/max_angle'))
    assert n == sim['scan_beams']
    assert lo == pytest.approx(-math.pi) and (hi - lo) / (n - 1) == pytest.approx(2 * math.pi / n)   # vla_sim's beams
    assert float(lidar.findtext('lidar/range/max')) == sim['scan_range_max']
    assert float(lidar.findtext('lidar/range/min')) == pytest.approx(0.1)
    assert float(lidar.findtext('lidar/noise/stddev')) == sim['scan_noise_std']
    assert float(lidar.findtext('update_rate')) == sim['scan_rate']
    assert lidar.findtext('lidar/scan/vertical/samples') == '1'


def test_config_derives_fov_and_beams():
    c = GazeboConfig()
    assert math.degrees(c.horizontal_fov) == pytest.approx(86.07, abs=0.01)   # 70 deg vertical at 4:3
    assert c.scan_angles == (pytest.approx(-math.pi), pytest.approx(math.pi - math.pi / 180))
    with pytest.raises(GazeboDescriptionError, match='camera_fovy_deg'):
        GazeboConfig(camera_fovy_deg=0.0)
    with pytest.raises(GazeboDescriptionError, match='scan_range_min'):
        GazeboConfig(scan_range_min=20.0)


def test_laser_pose_in_base_is_vla_safetys_scan_pose(urdf):
    assert laser_pose_in_base(urdf) == pytest.approx([0.11, 0.0, 0.0])


def test_gate_reads_the_same_limits_from_the_overlay(urdf, overlay):
    limits = pytest.importorskip('vla_safety.joint_limits')
    assert limits.parse_urdf_limits(overlay) == limits.parse_urdf_limits(urdf)


def test_options(urdf):
    config = GazeboConfig(weightless=False, hold_other_joints=False, model_name='other')
    root = ET.fromstring(gazebo_urdf(urdf, JOINTS, config))
    assert root.find('gazebo/turnGravityOff') is None
    ctrl = plugins(root, 'JointPositionController')
    assert [p.findtext('joint_name') for p in ctrl] == list(JOINTS)
    assert ctrl[0].findtext('topic') == '/model/other/joint/head_pan_joint/cmd_pos'


@pytest.mark.parametrize('joints, match', [
    (('head_pan_joint', 'no_such_joint'), r"\['no_such_joint'\] are not movable joints"),
    (('head_camera_joint',), r"\['head_camera_joint'\] are not movable joints"),      # fixed
    (('head_pan_joint', 'head_pan_joint'), 'repeat'),
    ((), 'no commanded joints'),
])
def test_bad_joints_are_refused_with_a_reason(urdf, joints, match):
    with pytest.raises(GazeboDescriptionError, match=match):
        gazebo_urdf(urdf, joints)


def test_bad_urdfs_are_refused_with_a_reason(urdf, overlay):
    with pytest.raises(GazeboDescriptionError, match='already has <gazebo>'):
        gazebo_urdf(overlay, JOINTS)
    with pytest.raises(GazeboDescriptionError, match="camera_link 'eye' is not a link"):
        gazebo_urdf(urdf, JOINTS, GazeboConfig(camera_link='eye'))
    with pytest.raises(GazeboDescriptionError, match='must be a fixed child'):
        gazebo_urdf(urdf, JOINTS, GazeboConfig(camera_link='head', camera_frame='head_camera_optical_frame'))
    with pytest.raises(GazeboDescriptionError, match='not well-formed'):
        gazebo_urdf('<robot>', JOINTS)

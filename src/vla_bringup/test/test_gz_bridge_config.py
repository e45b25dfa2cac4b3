"""config/gz_bridge.yaml: it parses as ros_gz_bridge expects, bridges what the Gazebo overlay
publishes and subscribes, covers every topic the suite needs, and stands in for vla_sim's sim_node."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

from vla_bringup.gazebo_description import GzTopics, commanded_joints
from vla_bringup.stack import SUITE_ARGUMENTS
from vla_common.joint_topics import JOINT_COMMAND_TOPIC_PATTERN, topic_for

BRIDGE_YAML = Path(__file__).resolve().parents[1] / 'config' / 'gz_bridge.yaml'
DIRECTIONS = {'GZ_TO_ROS', 'ROS_TO_GZ', 'BIDIRECTIONAL'}
KEYS = {'topic_name', 'ros_topic_name', 'gz_topic_name', 'ros_type_name', 'gz_type_name', 'direction',
        'lazy', 'publisher_queue', 'subscriber_queue'}
#: ros_gz_bridge's conversions (its README's table) for the types used here
TYPE_PAIRS = {
    'rosgraph_msgs/msg/Clock': 'gz.msgs.Clock',
    'sensor_msgs/msg/Image': 'gz.msgs.Image',
    'sensor_msgs/msg/CameraInfo': 'gz.msgs.CameraInfo',
    'sensor_msgs/msg/LaserScan': 'gz.msgs.LaserScan',
    'sensor_msgs/msg/JointState': 'gz.msgs.Model',
    'nav_msgs/msg/Odometry': 'gz.msgs.Odometry',
    'tf2_msgs/msg/TFMessage': 'gz.msgs.Pose_V',
    'geometry_msgs/msg/Twist': 'gz.msgs.Twist',
    'std_msgs/msg/Float64': 'gz.msgs.Double',
}
TOPICS = GzTopics()
RELAY_PATTERN = JOINT_COMMAND_TOPIC_PATTERN     # joint_command_relay's default topic_pattern


@pytest.fixture(scope='module')
def entries() -> list[dict]:
    data = yaml.safe_load(BRIDGE_YAML.read_text())
    assert isinstance(data, list) and data, 'ros_gz_bridge wants a YAML list of maps'
    return data


def by_direction(entries, direction) -> dict[str, dict]:
    return {e['ros_topic_name']: e for e in entries if e['direction'] == direction}


def test_entries_are_well_formed(entries):
    for e in entries:
        assert set(e) <= KEYS, f'unknown keys {set(e) - KEYS}'
        assert e['direction'] in DIRECTIONS
        assert e['gz_type_name'] == TYPE_PAIRS[e['ros_type_name']], e
        assert e['gz_topic_name'].startswith('/'), 'gz topics are absolute'
    ros = [e['ros_topic_name'] for e in entries]
    gz = [e['gz_topic_name'] for e in entries]
    assert len(ros) == len(set(ros)) and len(gz) == len(set(gz))


def test_sensors_come_from_the_overlays_topics(entries):
    out = by_direction(entries, 'GZ_TO_ROS')
    expected = {'/clock': ('/clock', 'rosgraph_msgs/msg/Clock'),
                'camera/image_raw': (TOPICS.image, 'sensor_msgs/msg/Image'),
                'camera/camera_info': (TOPICS.camera_info, 'sensor_msgs/msg/CameraInfo'),
                'scan': (TOPICS.scan, 'sensor_msgs/msg/LaserScan'),
                'joint_states': (TOPICS.joint_states, 'sensor_msgs/msg/JointState'),
                'odom': (TOPICS.odometry, 'nav_msgs/msg/Odometry'),
                '/tf': (TOPICS.tf, 'tf2_msgs/msg/TFMessage')}
    assert {k: (e['gz_topic_name'], e['ros_type_name']) for k, e in out.items()} == expected


def test_commands_go_to_the_overlays_topics_one_per_commanded_joint(entries):
    into = by_direction(entries, 'ROS_TO_GZ')
    assert into.pop('cmd_vel')['gz_topic_name'] == TOPICS.cmd_vel
    joints = commanded_joints('vla_humanoid')
    assert {k: e['gz_topic_name'] for k, e in into.items()} == \
        {topic_for(RELAY_PATTERN, j): TOPICS.joint_command(j) for j in joints}
    assert all(e['ros_type_name'] == 'std_msgs/msg/Float64' for e in into.values())
    assert len(into) == len(joints) == 8


def test_covers_every_topic_the_suite_needs(entries):
    default = {k: d for k, (d, _) in SUITE_ARGUMENTS.items()}
    out, into = by_direction(entries, 'GZ_TO_ROS'), by_direction(entries, 'ROS_TO_GZ')
    for arg in ('camera_topic', 'scan_topic', 'joint_states_topic', 'odom_topic'):
        assert default[arg] in out, arg
    assert '/clock' in out                       # use_sim_time
    assert default['cmd_vel_topic'] in into      # vla_safety's base output, through base_command_timeout
    # vla_safety's joint output goes through the relay, which reads joint_commands
    assert default['joint_commands_topic'] == 'joint_commands'


def _sim_node_topics() -> tuple[set[str], set[str]]:
    spec = importlib.util.find_spec('vla_sim')
    if spec is None or not spec.submodule_search_locations:
        pytest.skip('vla_sim is not installed')
    path = Path(list(spec.submodule_search_locations)[0]) / 'sim_node.py'
    if not path.is_file():
        pytest.skip(f'{path} not found')
    pubs, subs = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            if node.func.attr == 'create_publisher':
                pubs.add(node.args[1].value)
            elif node.func.attr == 'create_subscription':
                subs.add(node.args[1].value)
    assert pubs and subs, f'no topics found in {path}'
    return pubs, subs


def test_the_bridge_stands_in_for_vla_sims_sim_node(entries):
    """The suite sees the same ROS topics from Gazebo as from vla_sim's MuJoCo node."""
    pubs, subs = _sim_node_topics()
    out, into = by_direction(entries, 'GZ_TO_ROS'), by_direction(entries, 'ROS_TO_GZ')
    # MuJoCo-only extras: ground-truth pose (Gazebo: odom) and the optional depth camera
    sim_only = {'ground_truth_pose', 'camera/depth/image_raw', 'camera/depth/camera_info'}
    assert pubs - sim_only <= set(out), pubs - sim_only - set(out)
    # sim_node takes joint_commands itself; in Gazebo joint_command_relay takes it
    assert subs - {'joint_commands'} <= set(into)
    assert 'joint_commands' in subs

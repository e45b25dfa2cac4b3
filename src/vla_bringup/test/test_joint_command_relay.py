"""joint_command_relay: the pure split of a JointState into per-joint targets, and the node over DDS."""
from __future__ import annotations

import math
import os
import random
import time

import pytest

from vla_common.joint_topics import topic_for
from vla_bringup.joint_command_relay import Split, split_joint_command

JOINTS = ('head_pan_joint', 'left_elbow_joint')


def test_split_relays_the_named_joints():
    s = split_joint_command(['left_elbow_joint', 'head_pan_joint'], [1.2, -0.5], JOINTS)
    assert s == Split({'left_elbow_joint': 1.2, 'head_pan_joint': -0.5})


def test_split_reports_unknown_and_non_finite():
    s = split_joint_command(['head_pan_joint', 'left_knee_joint', 'left_elbow_joint'],
                            [math.nan, 0.3, math.inf], JOINTS)
    assert s.targets == {} and s.unknown == ('left_knee_joint',)
    assert s.rejected == ('head_pan_joint', 'left_elbow_joint') and s.error is None


def test_split_last_value_wins_and_a_later_bad_value_drops_the_joint():
    assert split_joint_command(['head_pan_joint'] * 2, [0.1, 0.2], JOINTS).targets == {'head_pan_joint': 0.2}
    s = split_joint_command(['head_pan_joint'] * 2, [0.1, math.nan], JOINTS)
    assert s.targets == {} and s.rejected == ('head_pan_joint',)


def test_split_drops_a_message_whose_lengths_differ():
    s = split_joint_command(['head_pan_joint', 'left_elbow_joint'], [0.1], JOINTS)
    assert s.targets == {} and 'name has 2 entries but position has 1' in s.error


def test_split_of_nothing_is_nothing():
    assert split_joint_command([], [], JOINTS) == Split({})


def test_topic_for():
    assert topic_for('joint/{joint}/cmd_pos', 'head_pan_joint') == 'joint/head_pan_joint/cmd_pos'
    with pytest.raises(ValueError, match=r"must contain '\{joint\}'"):
        topic_for('joint/cmd_pos', 'head_pan_joint')


def test_node_splits_joint_commands_over_dds():
    """The relay in this process, a probe publishing JointState and reading the Float64 topics."""
    rclpy = pytest.importorskip('rclpy')
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64

    from vla_bringup.joint_command_relay import JointCommandRelay
    from vla_common.qos import RELIABLE_QOS

    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    ctx = Context()
    rclpy.init(context=ctx, domain_id=random.randint(1, 200))
    try:
        relay = JointCommandRelay(context=ctx, parameter_overrides=[
            Parameter('joint_names', Parameter.Type.STRING_ARRAY, list(JOINTS))])
        probe = Node('probe', context=ctx)
        got: dict[str, list[float]] = {j: [] for j in JOINTS}
        for j in JOINTS:
            probe.create_subscription(Float64, f'joint/{j}/cmd_pos', lambda m, j=j: got[j].append(m.data), RELIABLE_QOS)
        pub = probe.create_publisher(JointState, 'joint_commands', RELIABLE_QOS)
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(relay)
        ex.add_node(probe)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not all(got.values()):
            pub.publish(JointState(name=['head_pan_joint', 'left_elbow_joint', 'left_knee_joint'],
                                   position=[0.4, 1.1, 0.2]))
            ex.spin_once(timeout_sec=0.05)
        assert got['head_pan_joint'] and got['left_elbow_joint'], 'no Float64 arrived'
        assert set(got['head_pan_joint']) == {0.4} and set(got['left_elbow_joint']) == {1.1}
        assert relay.joints == JOINTS and relay.relayed > 0
        ex.shutdown()
        relay.destroy_node()
        probe.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_node_takes_the_embodiments_joints_by_default():
    rclpy = pytest.importorskip('rclpy')
    from rclpy.context import Context

    from vla_bringup.gazebo_description import commanded_joints
    from vla_bringup.joint_command_relay import JointCommandRelay

    ctx = Context()
    rclpy.init(context=ctx, domain_id=random.randint(1, 200))
    try:
        relay = JointCommandRelay(context=ctx)
        assert relay.joints == commanded_joints('vla_humanoid')
        assert sorted(t for t, _ in relay.get_publisher_names_and_types_by_node('joint_command_relay', '/')
                      if t.startswith('/joint/')) == sorted(f'/joint/{j}/cmd_pos' for j in relay.joints)
        relay.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)

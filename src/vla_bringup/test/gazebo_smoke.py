"""Smoke check of gazebo_humanoid.launch.py on a running Gazebo: gated commands reach the robot.

    ros2 launch vla_bringup gazebo_humanoid.launch.py headless:=true policy:=keyword &
    python3 src/vla_bringup/test/gazebo_smoke.py            # exit 0 = every check passed

Not collected by pytest (it needs Gazebo); CI's `gazebo` job (.github/workflows/ros-native.yml)
runs it in docker/Dockerfile.gazebo. Checks, in order, with wall-clock timeouts:
  1. the bridge is up: /clock advances; camera/image_raw, scan, joint_states and odom arrive;
     a node other than this one subscribes cmd_vel (the bridge);
  2. "walk forward" on vla/command: vla_safety publishes a nonzero cmd_vel (linear.x > 0.05) and
     the robot's odometry moves >= --min-distance;
  3. "raise your left arm": left_shoulder_pitch_joint goes below -1.5 rad (joint_commands ->
     joint_command_relay -> bridge -> JointPositionController);
then "stop". Prints one line per check and a summary. With --pose-topic ground_truth_pose the
same checks run against vla_sim's sim_node (the MuJoCo stand-in for Gazebo + ros_gz_bridge).
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import rclpy
from geometry_msgs.msg import Twist
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState, LaserScan
from std_msgs.msg import String

from vla_common.qos import COMMAND_QOS, IMAGE_QOS, RELIABLE_QOS, wait_for_subscribers

ARM_JOINT = 'left_shoulder_pitch_joint'


class Watcher(Node):
    def __init__(self, pose_topic: str) -> None:
        super().__init__('gazebo_smoke')
        self.seen = {k: 0 for k in ('clock', 'image', 'scan', 'joint_states', 'pose', 'cmd_vel')}
        self.clock = None
        self.first_clock = None
        self.max_vx = 0.0
        self.pose = None
        self.joints: dict[str, float] = {}
        self.create_subscription(Clock, '/clock', self._on_clock, qos_profile_sensor_data)
        self.create_subscription(Image, 'camera/image_raw', lambda m: self._count('image'), IMAGE_QOS)
        self.create_subscription(LaserScan, 'scan', lambda m: self._count('scan'), qos_profile_sensor_data)
        self.create_subscription(JointState, 'joint_states', self._on_joints, qos_profile_sensor_data)
        if pose_topic == 'odom':                       # Gazebo (OdometryPublisher via the bridge)
            from nav_msgs.msg import Odometry
            self.create_subscription(Odometry, pose_topic, lambda m: self._on_pose(m.pose.pose),
                                     qos_profile_sensor_data)
        else:                                          # vla_sim's sim_node: ground_truth_pose
            self.create_subscription(PoseStamped, pose_topic, lambda m: self._on_pose(m.pose), qos_profile_sensor_data)
        self.create_subscription(Twist, 'cmd_vel', self._on_cmd_vel, RELIABLE_QOS)
        self.command_pub = self.create_publisher(String, 'vla/command', COMMAND_QOS)

    def _count(self, key: str) -> None:
        self.seen[key] += 1

    def _on_clock(self, msg: Clock) -> None:
        self._count('clock')
        t = msg.clock.sec + msg.clock.nanosec * 1e-9
        self.first_clock = t if self.first_clock is None else self.first_clock
        self.clock = t

    def _on_joints(self, msg: JointState) -> None:
        self._count('joint_states')
        self.joints.update(zip(msg.name, msg.position))

    def _on_pose(self, pose) -> None:
        self._count('pose')
        self.pose = (pose.position.x, pose.position.y)

    def _on_cmd_vel(self, msg: Twist) -> None:
        self._count('cmd_vel')
        if math.isfinite(msg.linear.x):
            self.max_vx = max(self.max_vx, msg.linear.x)

    def cmd_vel_consumers(self) -> list[str]:
        return [i.node_name for i in self.get_subscriptions_info_by_topic('/cmd_vel') if i.node_name != self.get_name()]

    def say(self, text: str) -> None:
        # vla/command is volatile: a command sent before vla_inference's subscription matched is lost
        if not wait_for_subscribers(self.command_pub, 30.0):
            raise RuntimeError('vla/command has no subscriber (vla_inference not running?)')
        self.command_pub.publish(String(data=text))


def wait(node: Node, until, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
        if until():
            return True
    return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--startup-timeout', type=float, default=180.0, help='s (wall) for Gazebo + bridge to come up')
    ap.add_argument('--timeout', type=float, default=60.0, help='s (wall) for each command check')
    ap.add_argument('--min-distance', type=float, default=0.3, help='m the base must move on "walk forward"')
    ap.add_argument('--pose-topic', default='odom', help="odom (nav_msgs/Odometry, Gazebo) or a PoseStamped topic "
                    "(vla_sim's ground_truth_pose: the same check against the MuJoCo stand-in)")
    args = ap.parse_args(argv)

    rclpy.init()
    node = Watcher(args.pose_topic)
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str) -> bool:
        results.append((name, ok, detail))
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}", flush=True)
        return ok

    try:
        up = wait(node, lambda: all(node.seen[k] for k in ('image', 'scan', 'joint_states', 'pose'))
                  and node.clock is not None and node.clock > node.first_clock and node.cmd_vel_consumers(),
                  args.startup_timeout)
        ok = check('bridge up', up, f'messages {node.seen}, sim time {node.clock}, '
                                    f'cmd_vel subscribers {node.cmd_vel_consumers()}')
        if ok:
            wait(node, lambda: False, 2.0)           # let the suite see a few frames
            start, t0 = node.pose, node.clock
            node.say('walk forward')
            moved = wait(node, lambda: node.max_vx > 0.05 and math.dist(node.pose, start) >= args.min_distance,
                         args.timeout)
            check('gated cmd_vel moves the base', moved,
                  f'max cmd_vel.linear.x {node.max_vx:.3f} m/s, moved {math.dist(node.pose, start):.2f} m '
                  f'from {tuple(round(v, 2) for v in start)} in {node.clock - t0:.1f} s sim time')
            node.say('raise your left arm')
            raised = wait(node, lambda: node.joints.get(ARM_JOINT, 0.0) < -1.5, args.timeout)
            check('gated joint targets move the arm', raised, f'{ARM_JOINT} = {node.joints.get(ARM_JOINT)} rad')
            node.say('stop')
            wait(node, lambda: False, 1.0)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    passed = sum(ok for _, ok, _ in results)
    print(f'{passed} passed, {len(results) - passed} failed', flush=True)
    return 0 if results and passed == len(results) and len(results) == 3 else 1


if __name__ == '__main__':
    sys.exit(main())

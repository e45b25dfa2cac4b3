"""Test harness: the suite's real nodes as processes, and an in-process probe node over DDS.

Each test module gets its own ROS_DOMAIN_ID so modules cannot hear each other. The probe
publishes synthetic camera frames, scans and joint states, and records what the nodes publish.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import time
from collections import deque

import numpy as np
import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient
from rclpy.context import Context
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState, LaserScan
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from vla_bringup.stack import middleware_env
from vla_common.qos import COMMAND_QOS, IMAGE_QOS, RELIABLE_QOS, SENSOR_QOS, wait_for_subscribers
from vla_common.image_conversion import encode_image
from vla_interfaces.action import ExecuteInstruction
from vla_interfaces.msg import SafetyStatus, VlaAction


#: set VLA_TEST_VERBOSE=1 to see the nodes' output
QUIET = os.environ.get('VLA_TEST_VERBOSE', '') == ''


def fresh_domain_id() -> int:
    return random.randint(1, 200)


class Probe:
    """An rclpy node in the test process: the camera, lidar and robot the stack talks to.

    ``cmd_vel_type`` / ``joint_commands_type``: the message types vla_safety publishes there
    (its base_output / joint_output). ``record``: more topics to record, {topic: type}, each in
    ``self.recorded[topic]``.
    """

    def __init__(self, domain_id: int, image_size=(120, 160), cmd_vel_type=Twist, joint_commands_type=JointState,
                 record: dict | None = None) -> None:
        os.environ['ROS_DOMAIN_ID'] = str(domain_id)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        for k, v in middleware_env().items():
            os.environ.setdefault(k, v)
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node('test_probe', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        n = self.node
        self.image_pub = n.create_publisher(Image, 'camera/image_raw', IMAGE_QOS)
        self.scan_pub = n.create_publisher(LaserScan, 'scan', SENSOR_QOS)
        self.joint_pub = n.create_publisher(JointState, 'joint_states', SENSOR_QOS)
        self.command_pub = n.create_publisher(String, 'vla/command', COMMAND_QOS)
        self.estop_pub = n.create_publisher(Bool, 'vla/estop', RELIABLE_QOS)
        self.action_pub = n.create_publisher(VlaAction, 'vla/action', RELIABLE_QOS)
        self.odom_pub = n.create_publisher(Odometry, 'odom', RELIABLE_QOS)     # as a base driver publishes it
        self.lock = threading.Lock()
        self.cmd_vel: deque = deque(maxlen=2000)       # (monotonic time, Twist)
        self.joint_cmds: deque = deque(maxlen=2000)
        self.status: deque = deque(maxlen=2000)
        self.actions: deque = deque(maxlen=2000)
        n.create_subscription(cmd_vel_type, 'cmd_vel', lambda m: self._rec(self.cmd_vel, m), RELIABLE_QOS)
        n.create_subscription(joint_commands_type, 'joint_commands', lambda m: self._rec(self.joint_cmds, m),
                              RELIABLE_QOS)
        self.recorded: dict[str, deque] = {}
        for topic, msg_type in (record or {}).items():
            buf = self.recorded[topic] = deque(maxlen=2000)
            n.create_subscription(msg_type, topic, lambda m, b=buf: self._rec(b, m), RELIABLE_QOS)
        n.create_subscription(SafetyStatus, 'vla/safety_status', lambda m: self._rec(self.status, m), RELIABLE_QOS)
        n.create_subscription(VlaAction, 'vla/action', lambda m: self._rec(self.actions, m), RELIABLE_QOS)
        self.execute = ActionClient(n, ExecuteInstruction, 'vla/execute')
        self.reset_estop = n.create_client(Trigger, 'vla/reset_estop')
        self.stop_srv = n.create_client(Trigger, 'vla/stop')
        h, w = image_size
        rng = np.random.default_rng(0)
        self.image = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
        self.camera_on = True
        self.scan_ranges: float | list | None = math.inf   # obstacle-free; None = lidar silent
        self.joints = {'head_pan_joint': 0.0, 'head_tilt_joint': 0.0}
        self.base_pose: tuple[float, float, float] | None = (0.0, 0.0, 0.0)   # x, y, yaw on odom; None = silent
        self.odom_age = 0.0                     # s: odom stamped this long before it is sent (a late driver)
        self.base_moves = True                  # the base carries out cmd_vel (False: blocked, it stays put)
        self._odom_time: float | None = None
        n.create_timer(1 / 30, self._publish_camera)
        n.create_timer(1 / 20, self._publish_scan)
        n.create_timer(1 / 50, self._publish_joints)
        n.create_timer(1 / 20, self._publish_odometry)
        self._spin = threading.Thread(target=self._spin_forever, daemon=True)
        self._running = True
        self._spin.start()

    def _spin_forever(self) -> None:
        while self._running and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def _rec(self, buf: deque, msg) -> None:
        with self.lock:
            buf.append((time.monotonic(), msg))

    def _publish_camera(self) -> None:
        if not self.camera_on:
            return
        h, w, enc, be, step, data = encode_image(self.image, 'rgb8')
        msg = Image(height=h, width=w, encoding=enc, is_bigendian=be, step=step, data=data)
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id = 'head_camera_optical_frame'
        self.image_pub.publish(msg)

    def _publish_scan(self) -> None:
        if self.scan_ranges is None:   # the lidar is silent
            return
        msg = LaserScan()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id = 'laser'
        msg.angle_min, msg.angle_max = -math.pi, math.pi
        n = 360
        msg.angle_increment = 2 * math.pi / n
        msg.range_min, msg.range_max = 0.05, 10.0
        r = self.scan_ranges
        msg.ranges = [float(v) for v in r] if isinstance(r, (list, tuple)) else [float(r)] * n
        self.scan_pub.publish(msg)

    def _publish_joints(self) -> None:
        msg = JointState()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.name = list(self.joints)
        msg.position = [float(v) for v in self.joints.values()]
        self.joint_pub.publish(msg)

    def _publish_odometry(self) -> None:
        now = time.monotonic()
        dt, self._odom_time = (0.0 if self._odom_time is None else now - self._odom_time), now
        if self.base_pose is not None and self.base_moves:       # a base driver: it moves as commanded
            with self.lock:
                latest = self.cmd_vel[-1] if self.cmd_vel else None
            t = getattr(latest[1], 'twist', latest[1]) if latest is not None else None   # Twist or TwistStamped
            if t is not None and hasattr(t, 'linear') and now - latest[0] < 0.5:   # the base's command timeout
                x, y, yaw = self.base_pose
                self.base_pose = (x + (t.linear.x * math.cos(yaw) - t.linear.y * math.sin(yaw)) * dt,
                                  y + (t.linear.x * math.sin(yaw) + t.linear.y * math.cos(yaw)) * dt,
                                  yaw + t.angular.z * dt)
        pose = self.base_pose
        if pose is None:
            return
        msg = Odometry()
        msg.header.stamp = (self.node.get_clock().now() - Duration(seconds=self.odom_age)).to_msg()
        msg.header.frame_id, msg.child_frame_id = 'odom', 'base_footprint'
        x, y, yaw = pose
        msg.pose.pose.position.x, msg.pose.pose.position.y = float(x), float(y)
        msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        self.odom_pub.publish(msg)

    def obstacle_ahead(self, distance: float, width_deg: int = 20) -> None:
        """A wall segment straight ahead (+x) at ``distance`` m from the laser."""
        ranges = [math.inf] * 360
        for i in range(180 - width_deg // 2, 180 + width_deg // 2 + 1):  # index 180 = angle 0
            ranges[i] = distance
        self.scan_ranges = ranges

    def command(self, text: str) -> None:
        # vla_safety moves the robot only on instructions received after it started: a command
        # sent while the stack is still coming up would (rightly) be held. Wait for both nodes.
        assert self.wait_for(lambda: self.latest(self.status) is not None, 60.0), 'vla_safety never published'
        assert wait_for_subscribers(self.command_pub, 60.0), 'vla/command has no subscriber'
        self.command_pub.publish(String(data=text))

    def since(self, buf: deque, t0: float) -> list:
        with self.lock:
            return [(t, m) for t, m in buf if t >= t0]

    def wait_for(self, predicate, timeout: float, period: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(period)
        return False

    def latest(self, buf: deque):
        with self.lock:
            return buf[-1][1] if buf else None

    def call(self, client, request, timeout: float = 5.0):
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f'service {client.srv_name} not available')
        fut = client.call_async(request)
        if not self.wait_for(fut.done, timeout):
            raise TimeoutError(f'service {client.srv_name} did not answer')
        return fut.result()

    def close(self) -> None:
        self._running = False
        self._spin.join(2.0)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def twist_is_zero(t: Twist) -> bool:
    return all(v == 0.0 for v in (t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z))


@contextlib.contextmanager
def running_suite(args: dict, safety: dict | None = None, record: dict | None = None):
    """The suite's nodes (vla_launch's Suite) and a Probe on a fresh domain, both up: yields (suite, probe).
    ``record``: more topics the probe keeps ({topic: message type}, Probe.recorded)."""
    from vla_bringup.launcher import Suite
    domain = fresh_domain_id()
    suite = Suite(args, safety=safety, domain_id=domain, quiet=QUIET)
    probe = Probe(domain, record=record)
    try:
        suite.start()
        # nodes are up once the safety node publishes
        assert probe.wait_for(lambda: probe.latest(probe.status) is not None, 60), 'safety node never published'
        assert probe.wait_for(lambda: probe.latest(probe.actions) is not None, 60), 'inference node never published'
        yield suite, probe
    finally:
        probe.close()
        suite.stop()

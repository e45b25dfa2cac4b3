"""vla_benchmark's in-process ROS node (:class:`Observer`) and the helpers its runs share (vla_tools.benchmark)."""
from __future__ import annotations

import math
import os
import random
import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState, LaserScan
from std_msgs.msg import Header, String

from vla_common.qos import COMMAND_QOS, RELIABLE_QOS, SENSOR_QOS, wait_for_subscribers
from vla_interfaces.msg import SafetyStatus, VlaAction


class Observer:
    """In-process node: records vla/action, SafetyStatus and the inference node's diagnostics,
    publishes an obstacle-free scan and joint states so the safety node has fresh sensors."""

    def __init__(self, domain_id: int) -> None:
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain_id)
        self.node = n = Node('vla_benchmark', context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(n)
        self.action_times: list[float] = []
        # (received, frame stamp) of each gated command and of each floor sample, ROS seconds
        self._latency_samples: list[tuple[float, float]] = []
        self._floor_samples: list[tuple[float, float]] = []
        self._end = math.inf
        self.diag: dict[str, str] = {}
        self._last_seq = 0
        self.recording = False
        n.create_subscription(VlaAction, 'vla/action', self._on_action, RELIABLE_QOS)
        n.create_subscription(SafetyStatus, 'vla/safety_status', self._on_status, RELIABLE_QOS)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        n.create_subscription(Header, 'vla_benchmark/floor', self._on_floor, RELIABLE_QOS)
        self.cmd = n.create_publisher(String, 'vla/command', COMMAND_QOS)
        scan_pub = n.create_publisher(LaserScan, 'scan', SENSOR_QOS)
        joint_pub = n.create_publisher(JointState, 'joint_states', SENSOR_QOS)
        odom_pub = n.create_publisher(Odometry, 'odom', RELIABLE_QOS)    # a base standing still

        def scan():
            m = LaserScan(angle_min=-math.pi, angle_max=math.pi, angle_increment=2 * math.pi / 720,
                          range_min=0.05, range_max=10.0, ranges=[math.inf] * 720)
            m.header.stamp = n.get_clock().now().to_msg()
            m.header.frame_id = 'laser'
            scan_pub.publish(m)

        def joints():
            m = JointState(name=['head_pan_joint'], position=[0.0])
            m.header.stamp = n.get_clock().now().to_msg()
            joint_pub.publish(m)
            o = Odometry()
            o.header.stamp, o.header.frame_id, o.child_frame_id = m.header.stamp, 'odom', 'base_footprint'
            o.pose.pose.orientation.w = 1.0
            odom_pub.publish(o)
        n.create_timer(0.05, scan)
        n.create_timer(0.02, joints)
        self._run = True
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while self._run:
            self.ex.spin_once(timeout_sec=0.05)

    def _on_action(self, msg):
        if self.recording:
            self.action_times.append(time.monotonic())

    def _on_status(self, msg):
        if self.recording and msg.proposal_sequence and msg.proposal_sequence != self._last_seq:
            self._last_seq = msg.proposal_sequence
            ps = msg.proposal_stamp.sec + msg.proposal_stamp.nanosec * 1e-9
            hs = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            if ps > 0:
                self._latency_samples.append((hs, ps))

    def _on_floor(self, msg):
        if self.recording:
            now = self.node.get_clock().now().nanoseconds * 1e-9
            self._floor_samples.append((now, msg.stamp.sec + msg.stamp.nanosec * 1e-9))

    def end_with_camera(self, period: float) -> None:
        """Keep only the samples taken while the camera still sent frames: up to one frame period
        after its last frame (the newest frame stamp seen). Later ticks can only repeat that frame,
        their latency growing by 0.1 s a tick: the end of the stream, not the pipeline."""
        stamps = [f for _, f in self._latency_samples + self._floor_samples]
        self._end = max(stamps) + period if stamps else math.inf

    @property
    def latencies(self) -> list[float]:
        """Image stamp -> gated command, s."""
        return [r - f for r, f in self._latency_samples if r <= self._end]

    @property
    def floor(self) -> list[float]:
        """Image stamp -> the floor relay's tick, s."""
        return [r - f for r, f in self._floor_samples if r <= self._end]

    def _on_diag(self, msg):
        for st in msg.status:
            if st.name.startswith('vla_inference'):
                self.diag = {kv.key: kv.value for kv in st.values}

    def command(self, text: str):
        if not wait_for_subscribers(self.cmd, 10.0):
            raise RuntimeError('vla/command has no subscriber (is vla_inference running?)')
        self.cmd.publish(String(data=text))

    def close(self):
        self._run = False
        self._thread.join(2)
        self.ex.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


def wait_until(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def bench_domain() -> int:
    """A private ROS domain for each run (VLA_BENCH_DOMAIN pins it, e.g. to watch with ros2 topic)."""
    return int(os.environ.get('VLA_BENCH_DOMAIN') or random.randint(100, 200))

"""sim_node over real DDS, in process: topics, rates, message contents, commands.

The node spins on its own SingleThreadedExecutor in a background thread (as in its main());
a probe node on a SingleThreadedExecutor in the test thread subscribes and counts.
"""
import math
import os
import random
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy')

from geometry_msgs.msg import PoseStamped, Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState, LaserScan  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from vla_common.qos import IMAGE_QOS, RELIABLE_QOS, SENSOR_QOS  # noqa: E402
from vla_sim.sim import COMMANDED_JOINTS  # noqa: E402
from vla_sim.sim_node import SimNode  # noqa: E402

RATES = {'image': 15.0, 'info': 15.0, 'scan': 10.0, 'joints': 50.0, 'odom': 50.0, 'clock': 100.0}


class Harness:
    def __init__(self) -> None:
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        self.context = Context()
        rclpy.init(context=self.context, domain_id=int(os.environ.get("ROS_DOMAIN_ID") or random.randint(101, 230)))
        self.node = SimNode(context=self.context)
        self.node_executor = SingleThreadedExecutor(context=self.context)
        self.node_executor.add_node(self.node)
        self.thread = threading.Thread(target=self.node_executor.spin, daemon=True)
        self.thread.start()
        self.probe = Node('sim_node_test_probe', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.probe)
        self.msgs = {k: [] for k in ('image', 'info', 'scan', 'joints', 'clock', 'pose', 'odom')}
        sub = self.probe.create_subscription
        sub(Image, 'camera/image_raw', self._rec('image'), IMAGE_QOS)
        sub(CameraInfo, 'camera/camera_info', self._rec('info'), SENSOR_QOS)
        sub(LaserScan, 'scan', self._rec('scan'), SENSOR_QOS)
        sub(JointState, 'joint_states', self._rec('joints'), SENSOR_QOS)
        sub(Clock, '/clock', self._rec('clock'), SENSOR_QOS)
        sub(PoseStamped, 'ground_truth_pose', self._rec('pose'), RELIABLE_QOS)
        sub(Odometry, 'odom', self._rec('odom'), SENSOR_QOS)
        self.cmd_vel = self.probe.create_publisher(Twist, 'cmd_vel', RELIABLE_QOS)
        self.joint_cmd = self.probe.create_publisher(JointState, 'joint_commands', RELIABLE_QOS)
        self.reset = self.probe.create_client(Trigger, 'sim_node/reset')

    def _rec(self, key):
        def f(msg):
            self.msgs[key].append((time.monotonic(), msg))
        return f

    def spin(self, seconds: float, every=None) -> None:
        end = time.monotonic() + seconds
        next_call = 0.0
        while time.monotonic() < end:
            if every is not None and time.monotonic() >= next_call:
                every()
                next_call = time.monotonic() + 0.1
            self.executor.spin_once(timeout_sec=0.01)

    def clear(self) -> None:
        for v in self.msgs.values():
            v.clear()

    def close(self) -> None:
        self.node_executor.shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()
        self.probe.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture(scope='module')
def h():
    harness = Harness()
    harness.spin(1.0)            # discovery and warm-up
    yield harness
    harness.close()


def _stamp(msg) -> float:
    s = msg.clock if isinstance(msg, Clock) else msg.header.stamp
    return s.sec + s.nanosec * 1e-9


def test_publishes_at_configured_rates_in_real_time(h):
    h.clear()
    h.spin(3.0)
    for key, rate in RATES.items():
        msgs = h.msgs[key]
        assert len(msgs) >= 2, f'no {key} messages'
        stamps = [_stamp(m) for _, m in msgs]
        assert all(b > a for a, b in zip(stamps, stamps[1:])), f'{key} stamps not increasing'
        sim_rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        wall_rate = (len(msgs) - 1) / (msgs[-1][0] - msgs[0][0])
        tol = 0.25 if key == 'clock' else 0.15       # /clock follows the wall-clock timer, the rest sim time
        assert sim_rate == pytest.approx(rate, rel=tol), f'{key}: {sim_rate:.1f} Hz of sim time'
        assert wall_rate == pytest.approx(rate, rel=0.25), f'{key}: {wall_rate:.1f} Hz of wall time'
    clock = h.msgs['clock']
    sim_elapsed = _stamp(clock[-1][1]) - _stamp(clock[0][1])
    assert sim_elapsed / (clock[-1][0] - clock[0][0]) == pytest.approx(1.0, rel=0.1)    # real time


def test_images_and_camera_info(h):
    h.clear()
    h.spin(0.5)
    (_, img), (_, info) = h.msgs['image'][-1], h.msgs['info'][-1]
    assert (img.encoding, img.width, img.height, img.step) == ('rgb8', 320, 240, 960)
    assert len(img.data) == 240 * 960 and img.is_bigendian == 0
    assert img.header.frame_id == info.header.frame_id == 'head_camera_optical_frame'
    info_stamps = {_stamp(m) for _, m in h.msgs['info']}
    image_stamps = [_stamp(m) for _, m in h.msgs['image'][:-1]]      # the newest one's info may be in flight
    assert sum(t in info_stamps for t in image_stamps) >= 0.8 * len(image_stamps)   # one info per image
    assert (info.width, info.height) == (320, 240)
    fx, cx, fy, cy = info.k[0], info.k[2], info.k[4], info.k[5]
    assert fx == pytest.approx(fy) and cx == pytest.approx(159.5) and cy == pytest.approx(119.5)
    assert 2 * math.degrees(math.atan(120 / fy)) == pytest.approx(70.0)          # vertical FOV
    assert list(info.p) == [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert len(set(bytes(img.data))) > 10                                         # not blank


def test_scan_and_joint_states(h):
    h.clear()
    h.spin(0.5)
    _, scan = h.msgs['scan'][-1]
    assert scan.header.frame_id == 'laser' and len(scan.ranges) == 360
    assert scan.angle_min == pytest.approx(-math.pi) and scan.angle_increment == pytest.approx(math.pi / 180)
    assert scan.angle_min + 359 * scan.angle_increment == pytest.approx(scan.angle_max)
    finite = [r for r in scan.ranges if math.isfinite(r)]
    assert len(finite) == 360 and min(finite) > scan.range_min and max(finite) < 9.0    # closed arena
    _, js = h.msgs['joints'][-1]
    assert set(COMMANDED_JOINTS) <= set(js.name)
    assert len(js.position) == len(js.velocity) == len(js.effort) == len(js.name)
    assert h.msgs['pose'] and h.msgs['pose'][-1][1].header.frame_id == 'odom'


def test_commands_move_the_robot_and_stale_cmd_vel_stops_it(h):
    def pose():
        p = h.msgs['pose'][-1][1].pose
        return p.position.x, p.position.y, 2 * math.atan2(p.orientation.z, p.orientation.w)

    h.spin(0.2)
    x0, y0, yaw0 = pose()
    cmd = JointState(name=['left_shoulder_pitch_joint', 'head_pan_joint'], position=[-1.0, 0.5])
    twist = Twist()
    twist.linear.x = 0.3

    def publish():
        h.cmd_vel.publish(twist)
        h.joint_cmd.publish(cmd)
    h.spin(1.5, every=publish)
    x1, y1, _ = pose()
    moved = math.hypot(x1 - x0, y1 - y0)
    assert 0.25 < moved < 0.6
    # odometry as a base driver publishes it: odom -> base_footprint, the velocity in the base frame
    odom = h.msgs['odom'][-1][1]
    assert (odom.header.frame_id, odom.child_frame_id) == ('odom', 'base_footprint')
    assert odom.twist.twist.linear.x == pytest.approx(0.3, abs=0.05)
    assert abs(odom.twist.twist.linear.y) < 0.02 and abs(odom.twist.twist.angular.z) < 0.05
    same = [m for _, m in h.msgs['pose'] if m.header.stamp == odom.header.stamp]
    assert same and same[0].pose == odom.pose.pose, 'odom carries the ground-truth pose of its instant'
    assert math.atan2(y1 - y0, x1 - x0) == pytest.approx(yaw0, abs=0.1)           # forward = heading
    _, js = h.msgs['joints'][-1]
    q = dict(zip(js.name, js.position))
    assert q['left_shoulder_pitch_joint'] == pytest.approx(-1.0, abs=0.05)
    assert q['head_pan_joint'] == pytest.approx(0.5, abs=0.05)
    # no more cmd_vel: the base stops cmd_vel_timeout (0.3 s) later. Judged by the poses' stamps
    # (simulated time), not by when the probe got round to them: it shares the process with the
    # node, and under load its newest pose can be a second old.
    def stamp(m):
        return m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec
    end = stamp(h.msgs['pose'][-1][1])          # at most the simulated time of the last command
    deadline = time.monotonic() + 15.0
    while stamp(h.msgs['pose'][-1][1]) < end + 2.5 and time.monotonic() < deadline:
        h.spin(0.1)
    late = [m.pose.position for _, m in h.msgs['pose'] if stamp(m) >= end + 2.0]
    assert len(late) >= 2, 'no poses 2.5 s of simulated time after the last command'
    assert math.hypot(late[-1].x - late[0].x, late[-1].y - late[0].y) < 0.01       # stopped after the timeout
    assert abs(h.msgs['odom'][-1][1].twist.twist.linear.x) < 0.01                      # and odometry says so


def test_reset_service_restores_the_world(h):
    assert h.reset.wait_for_service(timeout_sec=5.0)
    future = h.reset.call_async(Trigger.Request())
    end = time.monotonic() + 5
    while not future.done() and time.monotonic() < end:
        h.executor.spin_once(timeout_sec=0.05)
    assert future.result().success and 'seed 0' in future.result().message
    h.clear()
    h.spin(0.5)
    _, js = h.msgs['joints'][-1]
    assert dict(zip(js.name, js.position))['left_shoulder_pitch_joint'] == pytest.approx(0.0, abs=0.02)
    stamps = [_stamp(m) for _, m in h.msgs['clock']]       # the first may be one sent before the reset
    assert stamps and min(stamps) < 1.0 and stamps[-1] < 1.5, stamps               # time restarted


def test_a_muted_sensor_goes_silent_while_the_rest_goes_on(h):
    h.node.mute('scan')
    try:
        h.spin(0.3)              # messages already in flight
        h.clear()
        h.spin(1.0)
        assert h.msgs['scan'] == [], 'the muted lidar still published'
        assert len(h.msgs['image']) >= 5 and len(h.msgs['clock']) >= 20
    finally:
        h.node.mute('scan', False)
    h.clear()
    h.spin(0.6)
    assert len(h.msgs['scan']) >= 3, 'the lidar did not come back'
    with pytest.raises(ValueError, match='camera, scan'):
        h.node.mute('joint_states')


def test_reset_world_keeps_ros_time_running(h):
    """A world change for an evaluation episode: the simulator restarts at 0 and the new arena is
    in place, but /clock and the stamps go on (nodes on sim time never see time run backwards)."""
    from vla_sim.world import sample_world
    h.spin(0.5)
    before = _stamp(h.msgs['clock'][-1][1])
    assert before > 0.3
    world = sample_world(12345)
    h.node.reset_world(world)
    with h.node.state_lock:
        assert h.node.sim.world is world
        assert h.node.sim.time < 0.3          # the simulator's own time restarted
    h.clear()
    h.spin(0.5)
    clocks = [_stamp(m) for _, m in h.msgs['clock']]
    assert clocks and min(clocks) >= before, f'/clock ran backwards: {before:.2f} -> {min(clocks):.2f}'
    assert all(b >= a for a, b in zip(clocks, clocks[1:]))
    poses = [m.pose.position for _, m in h.msgs['pose']]
    x, y, _ = world.robot_start
    assert math.hypot(poses[-1].x - x, poses[-1].y - y) < 0.05     # the new world's start pose


def test_state_delay_holds_back_joint_states_and_odometry(h):
    """state_delay (settable live): joint_states and odom arrive that many simulated seconds after
    their stamp, as from a slow driver; the camera and /clock are not held back."""
    from rclpy.parameter import Parameter
    h.node.set_parameters([Parameter('state_delay', value=0.3)])
    try:
        h.spin(0.6)
        h.clear()
        h.spin(1.0)
        for key in ('joints', 'odom'):
            lags = []
            for t_rx, msg in h.msgs[key]:
                clock = [_stamp(c) for t, c in h.msgs['clock'] if t <= t_rx]
                if clock:
                    lags.append(clock[-1] - _stamp(msg))
            assert len(lags) > 20 and 0.25 < sorted(lags)[len(lags) // 2] < 0.4, (key, lags[:5])
    finally:
        h.node.set_parameters([Parameter('state_delay', value=0.0)])
    h.spin(0.5)
    h.clear()
    h.spin(0.5)
    t_rx, msg = h.msgs['joints'][-1]
    clock = [_stamp(c) for t, c in h.msgs['clock'] if t <= t_rx][-1]
    assert clock - _stamp(msg) < 0.1, 'back to on time'
